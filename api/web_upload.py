"""The upload page: files (and the city, country and year they share) sent to POST /documents as a
background job, whose progress the page follows through GET /jobs/{id} (api/static/upload.js).

The page is a form and a script and holds no state: the write key, when the server needs one, is
typed into the page and sent as X-API-Key by the script, never stored."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from nordsearch.api.web_errors import request_ui_language, standalone_page

UPLOAD_LABELS = {
    "en": {
        "title": "Add documents", "files": "Files (PDF, HTML, DOCX, TXT, Markdown)",
        "shared": "Applied to every file (optional)", "key": "Write key", "submit": "Upload and index",
        "disabled": "This server does not accept uploads (it has read keys but no write key).",
        "sending": "Sending…", "queued": "Waiting to start…", "running": "Indexing…",
        "done": "Done", "failed": "Failed", "interrupted": "Interrupted", "progress": "files done",
        "indexed": "indexed", "unchanged": "unchanged", "failures": "failed", "passages": "passages",
        "to_search": "Search them", "noscript": "This page needs JavaScript; POST /documents does the same.",
    },
    "fi": {
        "title": "Lisää asiakirjoja", "files": "Tiedostot (PDF, HTML, DOCX, TXT, Markdown)",
        "shared": "Koskee kaikkia tiedostoja (valinnainen)", "key": "Kirjoitusavain",
        "submit": "Lähetä ja indeksoi",
        "disabled": "Tämä palvelin ei ota vastaan tiedostoja (sillä on lukuavaimet mutta ei kirjoitusavainta).",
        "sending": "Lähetetään…", "queued": "Odottaa vuoroaan…", "running": "Indeksoidaan…",
        "done": "Valmis", "failed": "Epäonnistui", "interrupted": "Keskeytyi", "progress": "tiedostoa käsitelty",
        "indexed": "indeksoitu", "unchanged": "ennallaan", "failures": "epäonnistui", "passages": "kappaletta",
        "to_search": "Hae niistä", "noscript": "Sivu tarvitsee JavaScriptin; POST /documents tekee saman.",
    },
    "sv": {
        "title": "Lägg till dokument", "files": "Filer (PDF, HTML, DOCX, TXT, Markdown)",
        "shared": "Gäller alla filer (valfritt)", "key": "Skrivnyckel", "submit": "Ladda upp och indexera",
        "disabled": "Den här servern tar inte emot filer (den har läsnycklar men ingen skrivnyckel).",
        "sending": "Skickar…", "queued": "Väntar på att starta…", "running": "Indexerar…",
        "done": "Klart", "failed": "Misslyckades", "interrupted": "Avbrutet", "progress": "filer klara",
        "indexed": "indexerade", "unchanged": "oförändrade", "failures": "misslyckades", "passages": "avsnitt",
        "to_search": "Sök i dem", "noscript": "Sidan behöver JavaScript; POST /documents gör samma sak.",
    },
    "nb": {
        "title": "Legg til dokumenter", "files": "Filer (PDF, HTML, DOCX, TXT, Markdown)",
        "shared": "Gjelder alle filene (valgfritt)", "key": "Skrivenøkkel", "submit": "Last opp og indekser",
        "disabled": "Denne serveren tar ikke imot filer (den har lesenøkler, men ingen skrivenøkkel).",
        "sending": "Sender…", "queued": "Venter på å starte…", "running": "Indekserer…",
        "done": "Ferdig", "failed": "Mislyktes", "interrupted": "Avbrutt", "progress": "filer ferdige",
        "indexed": "indeksert", "unchanged": "uendret", "failures": "mislyktes", "passages": "avsnitt",
        "to_search": "Søk i dem", "noscript": "Siden trenger JavaScript; POST /documents gjør det samme.",
    },
    "da": {
        "title": "Tilføj dokumenter", "files": "Filer (PDF, HTML, DOCX, TXT, Markdown)",
        "shared": "Gælder alle filerne (valgfrit)", "key": "Skrivenøgle", "submit": "Upload og indeksér",
        "disabled": "Denne server modtager ikke filer (den har læsenøgler, men ingen skrivenøgle).",
        "sending": "Sender…", "queued": "Venter på at starte…", "running": "Indekserer…",
        "done": "Færdig", "failed": "Mislykkedes", "interrupted": "Afbrudt", "progress": "filer færdige",
        "indexed": "indekseret", "unchanged": "uændret", "failures": "mislykkedes", "passages": "afsnit",
        "to_search": "Søg i dem", "noscript": "Siden kræver JavaScript; POST /documents gør det samme.",
    },
}  # fmt: skip


def upload_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/upload", response_class=HTMLResponse)
    def upload_page(request: Request) -> HTMLResponse:
        from nordsearch.ingest.extract import supported_suffixes

        ring = request.app.state.keyring
        return standalone_page(
            request, "upload.html", 200, u=UPLOAD_LABELS[request_ui_language(request)],
            needs_key=bool(ring.write), disabled=bool(ring.read) and not ring.write,
            accept=",".join(supported_suffixes()),
        )  # fmt: skip

    return router

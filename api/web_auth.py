"""The web page when reads need a key: a small form that stores the key in an HttpOnly cookie
(``nordsearch_key``), which ``api.auth.require_read_web`` accepts like an X-API-Key header."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from nordsearch.api.auth import KEY_COOKIE
from nordsearch.api.web_errors import request_ui_language, standalone_page

KEY_LABELS = {
    "en": {
        "title": "API key needed",
        "label": "API key",
        "submit": "Continue",
        "hint": "This server needs a key to search. Ask its administrator for one.",
    },
    "fi": {
        "title": "API-avain tarvitaan",
        "label": "API-avain",
        "submit": "Jatka",
        "hint": "Tämä palvelin vaatii avaimen hakuun. Pyydä avain ylläpitäjältä.",
    },
    "sv": {
        "title": "API-nyckel behövs",
        "label": "API-nyckel",
        "submit": "Fortsätt",
        "hint": "Den här servern kräver en nyckel för att söka. Be administratören om en.",
    },
    "nb": {
        "title": "API-nøkkel trengs",
        "label": "API-nøkkel",
        "submit": "Fortsett",
        "hint": "Denne serveren krever en nøkkel for å søke. Be administratoren om en.",
    },
    "da": {
        "title": "API-nøgle påkrævet",
        "label": "API-nøgle",
        "submit": "Fortsæt",
        "hint": "Denne server kræver en nøgle for at søge. Bed administratoren om en.",
    },
}
COOKIE_DAYS = 30


def key_page(request: Request, status: int, detail: str) -> HTMLResponse:
    ui = request_ui_language(request)
    query = f"?{request.url.query}" if request.url.query else ""
    headers = {"WWW-Authenticate": 'Bearer realm="nordsearch"'} if status == 401 else None
    return standalone_page(
        request,
        "key.html",
        status,
        headers,
        k=KEY_LABELS[ui],
        detail=detail,
        next_url=f"{request.url.path}{query}",
    )


def key_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.post("/key")
    async def set_key(request: Request) -> RedirectResponse:
        form = await request.form()
        key = str(form.get("key") or "").strip()
        next_url = str(form.get("next") or "/")
        if not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
            next_url = "/"  # only back to this site
        response = RedirectResponse(next_url, status_code=303)
        if key:
            response.set_cookie(
                KEY_COOKIE,
                key,
                max_age=COOKIE_DAYS * 86400,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        else:
            response.delete_cookie(KEY_COOKIE)
        return response

    return router

"""Labels of the web page in Finnish, Swedish, Norwegian (bokmål), Danish and English, chosen from
the browser's language."""

from __future__ import annotations

UI_LANGUAGES = ("fi", "sv", "nb", "da", "en")
# Browser language tags that mean a UI language under another code: Norwegian, Nynorsk -> bokmål
UI_ALIASES = {"no": "nb", "nn": "nb"}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "nordsearch — Nordic planning practices",
        "tagline": "Search planning documents in Finnish, Swedish, Norwegian, Danish and English.",
        "placeholder": "Ask a question in any language…",
        "search": "Search",
        "language": "Language",
        "all_languages": "All languages",
        "theme": "Theme",
        "all_themes": "All themes",
        "results_for": "Results for",
        "no_results": "No results.",
        "page": "p.",
        "similar": "Similar cases",
        "open": "Open document",
        "passages": "passages",
        "pages": "pages",
        "themes": "Themes",
        "source": "Source",
        "back": "Back to search",
        "in_document": "In the document",
        "similar_to": "Similar cases to",
        "match_help": "Closer than this share of document pairs in the same two languages",
        "documents": "documents",
        "best_answer": "Best answer",
        "previous": "Previous",
        "next": "Next",
        "error": "Something went wrong",
        "not_found": "Page not found",
        "unavailable": "The search is not available right now",
        "to_search": "Go to the search page",
    },
    "fi": {
        "title": "nordsearch — pohjoismaiset suunnittelukäytännöt",
        "tagline": "Hae suunnitteluasiakirjoista suomeksi, ruotsiksi, norjaksi, tanskaksi ja englanniksi.",
        "placeholder": "Kysy millä kielellä tahansa…",
        "search": "Hae",
        "language": "Kieli",
        "all_languages": "Kaikki kielet",
        "theme": "Teema",
        "all_themes": "Kaikki teemat",
        "results_for": "Tulokset haulle",
        "no_results": "Ei tuloksia.",
        "page": "s.",
        "similar": "Samankaltaiset tapaukset",
        "open": "Avaa asiakirja",
        "passages": "kappaletta",
        "pages": "sivua",
        "themes": "Teemat",
        "source": "Lähde",
        "back": "Takaisin hakuun",
        "in_document": "Asiakirjassa",
        "similar_to": "Samankaltaiset tapaukset:",
        "match_help": "Lähempänä kuin tämä osuus saman kieliparin asiakirjapareista",
        "documents": "asiakirjaa",
        "best_answer": "Paras vastaus",
        "previous": "Edellinen",
        "next": "Seuraava",
        "error": "Jokin meni vikaan",
        "not_found": "Sivua ei löydy",
        "unavailable": "Haku ei ole juuri nyt käytettävissä",
        "to_search": "Siirry hakusivulle",
    },
    "sv": {
        "title": "nordsearch — nordisk planeringspraxis",
        "tagline": "Sök i planeringsdokument på finska, svenska, norska, danska och engelska.",
        "placeholder": "Ställ en fråga på valfritt språk…",
        "search": "Sök",
        "language": "Språk",
        "all_languages": "Alla språk",
        "theme": "Tema",
        "all_themes": "Alla teman",
        "results_for": "Resultat för",
        "no_results": "Inga resultat.",
        "page": "s.",
        "similar": "Liknande fall",
        "open": "Öppna dokument",
        "passages": "avsnitt",
        "pages": "sidor",
        "themes": "Teman",
        "source": "Källa",
        "back": "Tillbaka till sökningen",
        "in_document": "I dokumentet",
        "similar_to": "Liknande fall som",
        "match_help": "Närmare än denna andel av dokumentpar på samma två språk",
        "documents": "dokument",
        "best_answer": "Bästa svar",
        "previous": "Föregående",
        "next": "Nästa",
        "error": "Något gick fel",
        "not_found": "Sidan finns inte",
        "unavailable": "Sökningen är inte tillgänglig just nu",
        "to_search": "Gå till söksidan",
    },
    "nb": {
        "title": "nordsearch — nordisk planleggingspraksis",
        "tagline": "Søk i plandokumenter på finsk, svensk, norsk, dansk og engelsk.",
        "placeholder": "Still et spørsmål på hvilket som helst språk…",
        "search": "Søk",
        "language": "Språk",
        "all_languages": "Alle språk",
        "theme": "Tema",
        "all_themes": "Alle temaer",
        "results_for": "Resultater for",
        "no_results": "Ingen resultater.",
        "page": "s.",
        "similar": "Lignende saker",
        "open": "Åpne dokumentet",
        "passages": "avsnitt",
        "pages": "sider",
        "themes": "Temaer",
        "source": "Kilde",
        "back": "Tilbake til søket",
        "in_document": "I dokumentet",
        "similar_to": "Lignende saker som",
        "match_help": "Nærmere enn denne andelen av dokumentpar på de samme to språkene",
        "documents": "dokumenter",
        "best_answer": "Beste svar",
        "previous": "Forrige",
        "next": "Neste",
        "error": "Noe gikk galt",
        "not_found": "Siden finnes ikke",
        "unavailable": "Søket er ikke tilgjengelig akkurat nå",
        "to_search": "Gå til søkesiden",
    },
    "da": {
        "title": "nordsearch — nordisk planlægningspraksis",
        "tagline": "Søg i plandokumenter på finsk, svensk, norsk, dansk og engelsk.",
        "placeholder": "Stil et spørgsmål på et hvilket som helst sprog…",
        "search": "Søg",
        "language": "Sprog",
        "all_languages": "Alle sprog",
        "theme": "Tema",
        "all_themes": "Alle temaer",
        "results_for": "Resultater for",
        "no_results": "Ingen resultater.",
        "page": "s.",
        "similar": "Lignende sager",
        "open": "Åbn dokumentet",
        "passages": "afsnit",
        "pages": "sider",
        "themes": "Temaer",
        "source": "Kilde",
        "back": "Tilbage til søgningen",
        "in_document": "I dokumentet",
        "similar_to": "Lignende sager som",
        "match_help": "Tættere end denne andel af dokumentpar på de samme to sprog",
        "documents": "dokumenter",
        "best_answer": "Bedste svar",
        "previous": "Forrige",
        "next": "Næste",
        "error": "Noget gik galt",
        "not_found": "Siden findes ikke",
        "unavailable": "Søgningen er ikke tilgængelig lige nu",
        "to_search": "Gå til søgesiden",
    },
}

LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "en": {"fi": "Finnish", "sv": "Swedish", "nb": "Norwegian", "da": "Danish", "en": "English"},
    "fi": {"fi": "suomi", "sv": "ruotsi", "nb": "norja", "da": "tanska", "en": "englanti"},
    "sv": {"fi": "finska", "sv": "svenska", "nb": "norska", "da": "danska", "en": "engelska"},
    "nb": {"fi": "finsk", "sv": "svensk", "nb": "norsk", "da": "dansk", "en": "engelsk"},
    "da": {"fi": "finsk", "sv": "svensk", "nb": "norsk", "da": "dansk", "en": "engelsk"},
}


def pick_ui_language(explicit: str | None, accept_language: str | None) -> str:
    """?ui= wins, then the browser's Accept-Language (by its q order), then English."""
    if explicit in UI_LANGUAGES:
        return explicit
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        code = tag.split("-")[0].lower()
        ranked.append((-weight, i, UI_ALIASES.get(code, code)))
    for _, _, code in sorted(ranked):
        if code in UI_LANGUAGES:
            return code
    return "en"

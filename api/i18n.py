"""Labels of the web page in Finnish, Swedish and English, chosen from the browser's language."""

from __future__ import annotations

UI_LANGUAGES = ("fi", "sv", "en")

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
    },
}

LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "en": {"fi": "Finnish", "sv": "Swedish", "nb": "Norwegian", "da": "Danish", "en": "English"},
    "fi": {"fi": "suomi", "sv": "ruotsi", "nb": "norja", "da": "tanska", "en": "englanti"},
    "sv": {"fi": "finska", "sv": "svenska", "nb": "norska", "da": "danska", "en": "engelska"},
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
        ranked.append((-weight, i, tag.split("-")[0].lower()))
    for _, _, code in sorted(ranked):
        if code in UI_LANGUAGES:
            return code
    return "en"

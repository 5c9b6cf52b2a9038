"""The web page: server-rendered HTML (Jinja2), results grouped by document, labels in fi/sv/nb/da/en."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from nordsearch.api.i18n import LABELS, LANGUAGE_NAMES, UI_LANGUAGES
from nordsearch.api.web_errors import request_ui_language, templates
from nordsearch.search.query import PLACE_GROUPS


@lru_cache(maxsize=1)
def _taxonomy():
    from nordsearch.ingest.taxonomy import load_taxonomy

    return load_taxonomy()


def _theme_labels(ui: str) -> dict[str, str]:
    tax = _taxonomy()
    return {theme_id: tax.label(theme_id, ui) for theme_id in tax.ids}


def highlight(text: str, query: str) -> str:
    """HTML-escaped text with the words that share a stem-ish prefix with a query word marked."""
    terms = {w.lower()[:5] for w in re.findall(r"\w{3,}", query)}
    out = []
    for token in re.split(r"(\w+)", text):
        esc = html.escape(token)
        out.append(f"<mark>{esc}</mark>" if len(token) >= 3 and token.lower()[:5] in terms else esc)
    return "".join(out)


def snippet_html(hit: dict[str, Any]) -> str:
    """The search's snippet as HTML: matched terms in <mark>, the best sentence in <span class="best">.
    Spans come from the search (same analysis as BM25), so the page never guesses what matched."""
    text = hit["snippet"]
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    best = hit.get("best_sentence_span")
    if best:
        opens.setdefault(best[0], []).append('<span class="best">')
        closes.setdefault(best[1], []).append("</span>")
    for start, end in hit.get("highlights") or []:
        if best and start < best[1] < end:  # never let a mark straddle the best-sentence boundary
            end = best[1]
        opens.setdefault(start, []).append("<mark>")
        closes.setdefault(end, []).insert(0, "</mark>")
    out, last = [], 0
    for pos in sorted(set(opens) | set(closes)):
        out.append(html.escape(text[last:pos]))
        out.extend(closes.get(pos, []))
        out.extend(opens.get(pos, []))
        last = pos
    out.append(html.escape(text[last:]))
    return "".join(out)


def group_hits(hits: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Hits (best first) -> documents in the order of their best hit, each with its hits (a
    document-level hit, group=document/country/city, brings its best passages)."""
    groups: dict[str, dict[str, Any]] = {}
    for top in hits:
        g = groups.setdefault(
            top["document_id"],
            {
                "document_id": top["document_id"],
                "title": top["title"],
                "language": top["language"],
                "place": top.get("group_value") or "",
                "themes": [],
                "hits": [],
            },
        )
        for hit in top.get("passages") or [top]:
            hit = dict(hit)
            hit["snippet_html"] = hit.get("snippet_html") or (
                snippet_html(hit) if hit.get("snippet") else highlight(_shorten(hit["text"]), query)
            )
            g["hits"].append(hit)
            for th in hit.get("themes") or []:
                if th not in g["themes"]:
                    g["themes"].append(th)
    return list(groups.values())


def add_document_facts(index, groups: list[dict[str, Any]]) -> None:
    """Each card's city, country and year, and the document's own web address from its sidecar
    (only an http(s) one becomes a link: the metadata is whatever the file's owner wrote)."""
    for g in groups:
        doc = index.document(g["document_id"])
        meta = (doc.metadata or {}) if doc is not None else {}
        g["facts"] = [
            str(meta[k]).strip() for k in ("city", "country", "year") if str(meta.get(k) or "").strip()
        ]
        url = str(meta.get("url") or "").strip()
        g["url"] = url if re.match(r"https?://", url, re.IGNORECASE) else ""


def by_place(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Document cards of a group=country/city search -> its places in order, each with its cards."""
    places: list[dict[str, Any]] = []
    for g in groups:
        if not places or places[-1]["value"] != g["place"]:
            places.append({"value": g["place"], "documents": []})
        places[-1]["documents"].append(g)
    return places


def _shorten(text: str, limit: int = 420) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


WEB_MAX_K = 50  # results per page the web page shows at most
# what the page's form itself has inputs for
FORM_FIELDS = ("q", "lang", "theme", "city", "country", "year_from", "year_to", "group")
# facet -> the parameters a value sets (a year is a range of one year)
FACET_PARAMS = {
    "language": ("lang",),
    "country": ("country",),
    "theme": ("theme",),
    "year": ("year_from", "year_to"),
}
FACET_VALUES = 12  # values shown per facet, the most common
COMPARE_K = 3  # documents per place in the comparison layout unless the URL asks for k


def _form(request: Request) -> dict[str, Any]:
    """The page's query string as SearchParams fields: lists for the repeatable ones, empty values
    (a select left at "all") dropped, unknown parameters (``ui``) left out, and k and offset
    clamped to what the page shows rather than refused, as a hand-edited URL deserves."""
    from nordsearch.api.request import LIST_FIELDS, SearchParams

    qp = request.query_params
    out: dict[str, Any] = {}
    for name in SearchParams.model_fields:
        values = [v for v in qp.getlist(name) if v.strip()]
        if not values:
            continue
        out[name] = values if name in LIST_FIELDS else values[-1]
    for name, low, high in (("k", 1, WEB_MAX_K), ("offset", 0, None)):
        if name in out and out[name].strip().lstrip("-").isdigit():
            value = max(low, int(out[name]))
            out[name] = str(min(value, high) if high else value)
    return out


def _codes(values: list[str] | None, *, languages: bool = False) -> list[str]:
    """A repeatable parameter's values with comma-separated ones split (``lang=fi,sv``) and, for
    languages, aliases as their product code (``no`` -> ``nb``): what the form's boxes tick."""
    from nordsearch.ingest.records import normalize_language

    out = []
    for value in values or []:
        for part in value.split(","):
            code = part.strip().lower()
            code = (normalize_language(code) or code) if languages else code
            if code and code not in out:
                out.append(code)
    return out


def _pairs(raw: dict[str, Any], skip: set[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in raw.items():
        if name not in skip:
            pairs += [(name, v) for v in value] if isinstance(value, list) else [(name, value)]
    return pairs


def _query_pairs(raw: dict[str, Any], offset: int) -> list[tuple[str, str]]:
    """The search's query string (every filter kept) at another offset."""
    return [*_pairs(raw, {"offset"}), ("offset", str(offset))]


def _hidden(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Parameters the form has no input for (documents, mode, group, k),
    kept as hidden inputs so a new question searches within them too."""
    return _pairs(raw, {"offset", *FORM_FIELDS})


# The home page's example questions, one per language; each finds answers in other languages too.
EXAMPLES = (
    ("fi", "miten kaupungit ovat lisänneet pyöräilyä talvella?"),
    ("sv", "hur hanterar städer skyfall och dagvatten?"),
    ("nb", "hvordan kan byer fortette rundt stasjoner?"),
    ("da", "hvordan kan man genbruge byggematerialer?"),
    ("en", "what do state and city partnership agreements fund?"),
)


def _collection(holder) -> dict[str, Any] | None:
    """The home page's figures: documents per language, country and theme (None before the index
    is loaded: the page still offers the search)."""
    from nordsearch.api.service import stats_json

    if holder.index is None:
        return None
    data = stats_json(holder.index)
    return {
        key: data.get(key) or {}
        for key in ("documents_by_language", "documents_by_country", "documents_by_theme")
    } | {"documents": data["documents"], "passages": data["passages"]}


def web_router(holder) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def context(request: Request) -> dict[str, Any]:
        ui = request_ui_language(request)

        def switch_url(code: str) -> str:
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "ui"]
            return f"{request.url.path}?{urlencode([*params, ('ui', code)])}"

        labels = _theme_labels(ui)
        # the search a document or similar page was reached from (its query string), for the way
        # back; only ever appended to "/?", so it cannot point anywhere but this page
        back = request.query_params.get("back", "")
        return {
            "ui": ui,
            "back": back,
            "back_url": "/?" + back if back else f"/?ui={ui}",
            "t": LABELS[ui],
            "ui_languages": UI_LANGUAGES,
            "switch_url": switch_url,
            "language_names": LANGUAGE_NAMES[ui],
            "theme_labels": labels,
            "themes": [{"id": k, "label": v} for k, v in labels.items()],
        }

    def render(name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
        return HTMLResponse(templates().get_template(name).render(**ctx), status_code=status)

    @router.get("/", response_class=HTMLResponse)
    async def page(request: Request):
        from nordsearch.api.search_threads import in_search_thread

        return await in_search_thread(request.app, search_page, request)

    def search_page(request: Request) -> HTMLResponse:
        from pydantic import ValidationError

        from nordsearch.api.request import SearchParams, to_search_request
        from nordsearch.api.service import search_json

        ctx = context(request)
        raw = _form(request)
        q = str(raw.get("q", ""))
        ctx.update(
            q=q,
            lang=_codes(raw.get("lang"), languages=True),
            theme=_codes(raw.get("theme")),
            hidden=_hidden(raw),
        )
        ctx.update(
            city=raw.get("city") or [""], country=raw.get("country") or [""],
            year_from=raw.get("year_from", ""), year_to=raw.get("year_to", ""),
        )  # fmt: skip
        ctx.update(
            groups=[],
            places=[],
            facets={},
            has_more=False,
            error=None,
            offset=0,
            k=10,
            group=raw.get("group", ""),
        )
        if raw.get("group") in PLACE_GROUPS:
            raw.setdefault("k", str(COMPARE_K))

        def page_url(new_offset: int) -> str:
            return "/?" + urlencode([*_query_pairs(raw, max(0, new_offset)), ("ui", ctx["ui"])])

        ctx["page_url"] = page_url

        def facet_url(facet: str, value: str) -> str:
            """This search narrowed to one facet value: the value replaces the facet's own filter
            (several languages or themes are "any of"; adding one would widen). A link: a GET."""
            names = FACET_PARAMS[facet]
            keep = [p for p in _query_pairs(raw, 0) if p[0] not in names]
            return "/?" + urlencode([*keep, *((n, value) for n in names), ("ui", ctx["ui"])])

        ctx["facet_url"] = facet_url
        ctx["back"] = urlencode([*_pairs(raw, set()), ("ui", ctx["ui"])])  # this page, as it was asked
        if not q.strip():
            ctx["collection"] = _collection(holder)
            ctx["examples"] = EXAMPLES
            return render("search.html", ctx)
        try:
            params = SearchParams.model_validate(raw)
            ctx.update(offset=params.offset, k=params.k)
            data = search_json(holder.get(), to_search_request(params))
            ctx["groups"] = group_hits(data["results"], q)
            ctx["facets"] = {f: dict(list(v.items())[:FACET_VALUES]) for f, v in data["facets"].items() if v}
            add_document_facts(holder.get(), ctx["groups"])
            if params.group in PLACE_GROUPS:
                ctx["places"] = by_place(ctx["groups"])
            ctx["has_more"] = bool(data.get("has_more"))
            ctx["total"], ctx["shown"] = data.get("total", 0), len(data["results"])
            ctx["unit"] = "passages" if params.group == "passage" else "documents"
        except ValidationError as exc:
            ctx["error"] = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        except (ValueError, HTTPException) as exc:
            ctx["error"] = getattr(exc, "detail", None) or str(exc)
        return render("search.html", ctx)

    @router.get("/view/{document_id}", response_class=HTMLResponse)
    def view(request: Request, document_id: str):
        from nordsearch.api.service import as_dict, document_json, document_or_404

        ctx = context(request)
        idx = holder.get()
        ctx["doc"] = document_json(doc := document_or_404(idx, document_id))
        ctx["passages"] = [as_dict(p) for p in idx.passages(doc.document_id)]
        return render("document.html", ctx)

    @router.get("/similar/{document_id}", response_class=HTMLResponse)
    def similar(request: Request, document_id: str):
        from nordsearch.api.service import document_json, document_or_404, similar_documents_json

        ctx = context(request)
        idx = holder.get()
        ctx["doc"] = document_json(doc := document_or_404(idx, document_id))
        ctx["items"] = similar_documents_json(idx, doc.document_id, k=10)["results"]
        return render("similar.html", ctx)

    return router

"""The web page: server-rendered HTML (Jinja2), results grouped by document, labels in fi/sv/en."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from nordsearch.api.i18n import LABELS, LANGUAGE_NAMES, UI_LANGUAGES, pick_ui_language

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


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
    """Hits (best first) -> documents in the order of their best hit, each with its hits."""
    groups: dict[str, dict[str, Any]] = {}
    for hit in hits:
        g = groups.setdefault(
            hit["document_id"],
            {
                "document_id": hit["document_id"],
                "title": hit["title"],
                "language": hit["language"],
                "themes": [],
                "hits": [],
            },
        )
        hit = dict(hit)
        hit["snippet_html"] = hit.get("snippet_html") or (
            snippet_html(hit) if hit.get("snippet") else highlight(_shorten(hit["text"]), query)
        )
        g["hits"].append(hit)
        for th in hit.get("themes") or []:
            if th not in g["themes"]:
                g["themes"].append(th)
    return list(groups.values())


def _shorten(text: str, limit: int = 420) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def web_router(holder) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def context(request: Request) -> dict[str, Any]:
        ui = pick_ui_language(
            request.query_params.get("ui") or request.cookies.get("nordsearch_ui"),
            request.headers.get("accept-language"),
        )

        def switch_url(code: str) -> str:
            params = dict(request.query_params)
            params["ui"] = code
            return f"{request.url.path}?{urlencode(params)}"

        labels = _theme_labels(ui)
        return {
            "ui": ui,
            "t": LABELS[ui],
            "ui_languages": UI_LANGUAGES,
            "switch_url": switch_url,
            "language_names": LANGUAGE_NAMES[ui],
            "theme_labels": labels,
            "themes": [{"id": k, "label": v} for k, v in labels.items()],
        }

    def render(name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
        return HTMLResponse(_env().get_template(name).render(**ctx), status_code=status)

    @router.get("/", response_class=HTMLResponse)
    def page(request: Request, q: str = "", lang: str = "", theme: str = "", offset: int = 0, k: int = 10):
        from nordsearch.api.service import search_json

        ctx = context(request)
        k = max(1, min(k, 50))
        offset = max(0, offset)
        ctx.update(q=q, lang=lang, theme=theme, offset=offset, k=k, groups=[], has_more=False, error=None)

        def page_url(new_offset: int) -> str:
            return "/?" + urlencode(
                {"q": q, "lang": lang, "theme": theme, "ui": ctx["ui"], "offset": max(0, new_offset), "k": k}
            )

        ctx["page_url"] = page_url
        if q.strip():
            try:
                data = search_json(
                    holder.get(),
                    q,
                    k=k,
                    offset=offset,
                    languages=[lang] if lang else None,
                    themes=[theme] if theme else None,
                )
                ctx["groups"] = group_hits(data["results"], q)
                ctx["has_more"] = data.get("total", 0) > offset + k
            except (ValueError, HTTPException) as exc:
                ctx["error"] = getattr(exc, "detail", None) or str(exc)
        return render("search.html", ctx)

    @router.get("/view/{document_id}", response_class=HTMLResponse)
    def view(request: Request, document_id: str):
        from nordsearch.api.service import as_dict, document_json, document_or_404

        ctx = context(request)
        idx = holder.get()
        ctx["doc"] = document_json(document_or_404(idx, document_id))
        ctx["passages"] = [as_dict(p) for p in idx.passages(document_id)]
        return render("document.html", ctx)

    @router.get("/similar/{document_id}", response_class=HTMLResponse)
    def similar(request: Request, document_id: str):
        from nordsearch.api.service import document_json, document_or_404, similar_documents_json

        ctx = context(request)
        idx = holder.get()
        ctx["doc"] = document_json(document_or_404(idx, document_id))
        ctx["items"] = similar_documents_json(idx, document_id, k=10)["results"]
        return render("similar.html", ctx)

    return router

"""The one shape of a search request, shared by its four faces: GET /search (query parameters,
a list as repeated parameters), POST /search (a JSON body), `nordsearch search` (options) and the
web page (its form and query string). Each face builds a ``SearchParams``, so the names, the
limits and the validation errors are the same everywhere, and ``to_search_request`` is the one
place that maps them onto the search core's ``SearchRequest``.

Language, theme and document parameters also take comma-separated values ("fi,sv"), as GET
parameters are often written; city and country are free-text metadata values (a comparative
report's country is "FI, SE, NO, DK"), so several of them are given by repeating the parameter.
"""

from __future__ import annotations

from typing import Annotated, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from nordsearch.api.schemas import LANGUAGE_LIST, Int, Lang, Year, one_or_more
from nordsearch.ingest.taxonomy import theme_ids
from nordsearch.search.query import MAX_K, MAX_QUERY_CHARS, Group, Mode, SearchRequest

MAX_OFFSET = 10_000


# Theme ids of the taxonomy (ingest/themes.yaml): an unknown one would filter everything out.
ThemeIds = one_or_more(theme_ids(), noun="theme", valid=f"one of {', '.join(theme_ids())}", max_length=400)
# A metadata value or a document id: never empty (an empty filter value is a mistake, not "all").
Value = Annotated[str, StringConstraints(min_length=1, max_length=400)]


class SearchParams(BaseModel):
    """A search: the question, paging, mode, filters and grouping."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "q": "miten kaupungit ovat lisänneet pyöräilyä talvella?",
                    "k": 5,
                    "lang": ["sv", "fi"],
                    "group": "document",
                },
            ]
        },
    )

    q: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, description="Question or keywords, in any language."
    )
    k: Int = Field(
        default=10, ge=1, le=MAX_K, description="How many results (documents with group=document)."
    )
    offset: Int = Field(default=0, ge=0, le=MAX_OFFSET, description="Skip this many results (paging).")
    mode: Mode = Field(default="hybrid", description="hybrid (default), dense or lexical.")
    lang: list[Lang] | None = Field(
        default=None, max_length=10, description=f"Passage languages ({LANGUAGE_LIST}), e.g. fi,sv."
    )
    theme: list[ThemeIds] | None = Field(default=None, max_length=50, description="Theme ids (GET /themes).")
    city: list[Value] | None = Field(default=None, max_length=50, description="Document metadata city.")
    country: list[Value] | None = Field(default=None, max_length=50, description="Document metadata country.")
    year_from: Year | None = Field(default=None, description="Document metadata year, inclusive.")
    year_to: Year | None = Field(default=None, description="Document metadata year, inclusive.")
    document_id: list[Value] | None = Field(default=None, max_length=100, description="Only these documents.")
    group: Group = Field(
        default="passage",
        description="document: one result per document with its best passages; country or city: the best"
        " k documents of each country (city), side by side, each hit's place in group_value.",
    )


class SearchQueryParams(SearchParams):
    """GET /search: the same fields as query parameters. Unknown parameters are ignored, as they
    always were on GET (a cache-buster or a web page's ``ui`` must not fail a search)."""

    model_config = ConfigDict(extra="ignore")


def _is_list(annotation: object) -> bool:
    return get_origin(annotation) is list or any(_is_list(a) for a in get_args(annotation))


# the fields that take several values (repeated query parameters, repeated CLI options)
LIST_FIELDS: tuple[str, ...] = tuple(
    n for n, f in SearchParams.model_fields.items() if _is_list(f.annotation)
)


def split_csv(value: str | list[str] | None) -> list[str] | None:
    """'fi,sv' or ['fi', 'sv'] or ['fi,sv'] -> ['fi', 'sv']; empty -> None."""
    if not value:
        return None
    items = [value] if isinstance(value, str) else list(value)
    out = [part.strip() for item in items for part in item.split(",") if part.strip()]
    return out or None


def to_search_request(params: SearchParams) -> SearchRequest:
    """The search core's request for ``params``. Raises ValueError for what only the core judges
    (a query of nothing but spaces)."""
    return SearchRequest(
        q=params.q,
        k=params.k,
        offset=params.offset,
        mode=params.mode,
        languages=split_csv(params.lang),
        themes=split_csv(params.theme),
        cities=params.city or None,  # free-text metadata values ("FI, SE, NO, DK"): never split
        countries=params.country or None,
        year_from=params.year_from,
        year_to=params.year_to,
        document_ids=split_csv(params.document_id),
        group=params.group,
    )

"""Comparing practice across places: group="country" or "city" puts the best documents of each
country (city) side by side, so a Finnish planner sees at once what Swedish, Norwegian and Danish
regions did.

A place's documents come from a search restricted to that place, never from what survived of a
global top list: the Danish documents are there even when every Finnish one outranks them (the
query's own language pulls). Which places appear is decided by one document-level search first
(the places of its best PLACE_SCOUT documents, in the order of their best document), so a city
group costs a search per shown city, not per city in the index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from nordsearch.search.query import PLACE_GROUPS, SearchRequest, SearchResponse

if TYPE_CHECKING:
    from nordsearch.search.query import SearchHit
    from nordsearch.search.store import Store

MAX_PLACES = 10  # groups shown side by side
PLACE_SCOUT = 50  # documents whose places are considered


def place_of(store: Store, document_id: str, field: str) -> str:
    """The document's metadata value for ``field`` ("country"/"city"), trimmed ("" for none)."""
    doc = store.get_document(document_id)
    value = (doc.metadata or {}).get(field) if doc is not None else None
    return str(value).strip() if value not in (None, "") else ""


def search_by_place(
    search: Callable[[SearchRequest], SearchResponse], store: Store, request: SearchRequest
) -> SearchResponse:
    """``request`` (group "country" or "city") answered as up to MAX_PLACES groups of up to k
    documents each (k and offset count documents within a place), best place first. Every hit is
    a document's best passage with its best passages under ``passages``, as with group="document",
    and carries its place in ``group_value``; ``total`` counts the documents of the shown places
    that match the filters; documents without the metadata field are in no group."""
    field = PLACE_GROUPS[request.group]
    scout = search(dataclasses.replace(request, group="document", k=PLACE_SCOUT, offset=0, snippets=False))
    places: dict[str, str] = {}  # lower-cased -> as first written
    for hit in scout.results:
        value = place_of(store, hit.document_id, field)
        if value and value.lower() not in places and len(places) < MAX_PLACES:
            places[value.lower()] = value
    groups: list[tuple[str, SearchResponse]] = []
    for value in places.values():
        restricted = dataclasses.replace(
            request, group="document", **{_FILTER[field]: [value]}
        )  # the request's own filters stay: the place only narrows them
        found = search(restricted)
        if found.results:
            groups.append((value, found))
    groups.sort(key=lambda g: -g[1].results[0].score)  # stable: ties keep the scout's order
    hits: list[SearchHit] = []
    for value, found in groups:
        for hit in found.results:
            hit.group_value = value
            hits.append(hit)
    return SearchResponse(
        query=request.q, mode=request.mode, total=sum(found.total for _, found in groups), results=hits,
        group=request.group, has_more=any(found.has_more for _, found in groups), facets=scout.facets,
    )  # fmt: skip


_FILTER = {"country": "countries", "city": "cities"}

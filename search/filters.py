"""Filters as SQL over the store. The same WHERE clause selects the allowed vector ids *before*
the dense search and restricts the FTS5 query, so a strict filter still yields its k best.

Clauses refer to the aliases ``p`` (passages) and ``d`` (documents).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nordsearch.ingest.records import normalize_language


def _clean(values: list[str] | None) -> list[str]:
    return [v.strip() for v in values or [] if v and v.strip()]


def _languages(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        lang = normalize_language(v)
        if lang is None:
            raise ValueError(f"unsupported language: {v!r}")
        if lang not in out:
            out.append(lang)
    return out


def _in(column: str, values: list[str], *, nocase: bool = False) -> tuple[str, list[Any]]:
    marks = ",".join("?" * len(values))
    if nocase:
        # casefold() is registered on every store connection: SQLite's lower() only folds ASCII,
        # so lower('Älvstad') would never equal 'älvstad'
        return f"casefold({column}) IN ({marks})", [v.casefold() for v in values]
    return f"{column} IN ({marks})", list(values)


def _metadata_clauses(
    cities: list[str], countries: list[str], year_from: int | None, year_to: int | None
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    # Sidecar values are free text; compare case-insensitively ("Helsinki" == "helsinki").
    if cities:
        c, p = _in("json_extract(d.metadata, '$.city')", cities, nocase=True)
        clauses.append(c)
        params += p
    if countries:
        c, p = _in("json_extract(d.metadata, '$.country')", countries, nocase=True)
        clauses.append(c)
        params += p
    year = "CAST(json_extract(d.metadata, '$.year') AS INTEGER)"
    if year_from is not None:
        clauses.append(f"{year} >= ?")
        params.append(int(year_from))
    if year_to is not None:
        clauses.append(f"{year} <= ?")
        params.append(int(year_to))
    return clauses, params


@dataclass(slots=True)
class PassageFilter:
    """Restricts which passages a search may return. Empty lists / None mean "no restriction"."""

    languages: list[str] = field(default_factory=list)  # passage language
    themes: list[str] = field(default_factory=list)  # passage has any of these theme ids
    document_ids: list[str] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)  # document metadata "city"
    countries: list[str] = field(default_factory=list)  # document metadata "country"
    year_from: int | None = None  # document metadata "year", inclusive
    year_to: int | None = None

    def __post_init__(self) -> None:
        self.languages = _languages(self.languages)
        self.themes = _clean(self.themes)
        self.document_ids = _clean(self.document_ids)
        self.cities = _clean(self.cities)
        self.countries = _clean(self.countries)

    @property
    def is_empty(self) -> bool:
        return (
            not (self.languages or self.themes or self.document_ids or self.cities or self.countries)
            and self.year_from is None
            and self.year_to is None
        )

    def id_queries(self) -> list[tuple[str, list[Any]]]:
        """One (SQL, params) per restriction, each selecting the vector ids it admits from an index
        alone (never the passages table's rows, which hold text and vectors: at 1M passages a
        filter reading them took a second); the filter admits their intersection. [] when
        nothing is filtered."""
        queries: list[tuple[str, list[Any]]] = []
        if self.languages:
            c, p = _in("language", self.languages)
            queries.append((f"SELECT rowid FROM passages WHERE {c}", p))
        if self.document_ids:
            c, p = _in("document_id", self.document_ids)
            queries.append((f"SELECT rowid FROM passages WHERE {c}", p))
        if self.themes:
            c, p = _in("theme", self.themes)
            queries.append((f"SELECT passage FROM passage_themes WHERE {c}", p))
        meta, meta_params = _metadata_clauses(self.cities, self.countries, self.year_from, self.year_to)
        if meta:
            queries.append((
                "SELECT p.rowid FROM documents d JOIN passages p ON p.document_id = d.document_id"
                f" WHERE {' AND '.join(meta)}",
                meta_params,
            ))  # fmt: skip
        return queries


@dataclass(slots=True)
class DocumentFilter:
    """Restricts a document listing. Clauses refer to alias ``d`` only."""

    languages: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)  # document has any of these theme ids
    cities: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    year_from: int | None = None
    year_to: int | None = None
    sources: list[str] = field(default_factory=list)  # exact source paths
    source_prefix: str | None = None

    def __post_init__(self) -> None:
        self.languages = _languages(self.languages)
        self.sources = _clean(self.sources)
        self.formats = [f.lower() for f in _clean(self.formats)]
        self.themes = _clean(self.themes)
        self.cities = _clean(self.cities)
        self.countries = _clean(self.countries)

    def to_sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.languages:
            c, p = _in("d.language", self.languages)
            clauses.append(c)
            params += p
        if self.formats:
            c, p = _in("d.format", self.formats)
            clauses.append(c)
            params += p
        if self.themes:
            marks = ",".join("?" * len(self.themes))
            clauses.append(f"EXISTS (SELECT 1 FROM json_each(d.themes) WHERE json_each.value IN ({marks}))")
            params += self.themes
        if self.sources:
            c, p = _in("d.source", self.sources)
            clauses.append(c)
            params += p
        if self.source_prefix:
            # substr comparison instead of LIKE: paths contain "_" and "%" which LIKE treats as wildcards
            clauses.append("substr(d.source, 1, ?) = ?")
            params += [len(self.source_prefix), self.source_prefix]
        meta, meta_params = _metadata_clauses(self.cities, self.countries, self.year_from, self.year_to)
        clauses += meta
        params += meta_params
        return (" AND ".join(clauses) if clauses else "1"), params

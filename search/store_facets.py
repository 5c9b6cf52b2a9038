"""Which documents a set of passages touches, and facet counts over them: documents per language,
country, year and theme among the documents holding the passages a search pages through, so a
filter shows how many documents each value would keep.

Both are read once per store generation (the documents table and one GROUP BY over the passages'
document index) and answered with numpy, never by reading the passages themselves: under a broad
filter at 1M passages that would be 600k rows per search.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.store_database import StoreDatabase

FACETS = ("language", "country", "year", "theme")  # the facets of a search response, in order


@dataclass(frozen=True, slots=True)
class DocumentSpans:
    """The passages' rowids as runs of one document each, sorted: a document's passages are
    written in one transaction by the one writer, so each document is one run (one row of a
    GROUP BY over the passages_document index: 45 ms at 100k passages, read once per generation
    and at start-up by SearchIndex.warm)."""

    starts: np.ndarray  # first rowid of each run, ascending
    ends: np.ndarray  # last rowid of each run
    document: np.ndarray  # the document (an ordinal into ``ids``) of each run
    ids: tuple[str, ...]  # document id of each ordinal

    @property
    def documents(self) -> int:
        return len(self.ids)

    @classmethod
    def read(cls, db: StoreDatabase) -> DocumentSpans:
        import numpy as np

        rows = db.query(
            "SELECT min(rowid), max(rowid), count(*), document_id FROM passages GROUP BY document_id"
        )
        if all(last - first + 1 == n for first, last, n, _ in rows):
            spans = np.array([r[:2] for r in rows], dtype=np.int64).reshape(-1, 2)
            order = np.argsort(spans[:, 0])
            ids = tuple(str(rows[i][3]) for i in order)
            return cls(spans[order, 0], spans[order, 1], np.arange(len(rows)), ids)
        # a document whose passages are not one run (not written by this version): walk them all
        starts, ends, document, ordinal = [], [], [], {}
        for rowid, doc in db.query("SELECT rowid, document_id FROM passages ORDER BY rowid"):
            number = ordinal.setdefault(doc, len(ordinal))
            if document and document[-1] == number:
                ends[-1] = rowid
            else:
                starts.append(rowid)
                ends.append(rowid)
                document.append(number)
        starts, ends, document = (np.array(xs, dtype=np.int64) for xs in (starts, ends, document))
        return cls(starts, ends, document, tuple(ordinal))

    def hit(self, ids: np.ndarray | None) -> np.ndarray:
        """A bool per document: does it hold a passage among ``ids`` (sorted; None: any)?"""
        import numpy as np

        if ids is None:
            return np.ones(self.documents, dtype=bool)
        # a run is hit when some id lies between its ends: two binary searches per run (a few
        # thousand) rather than one per id (600k under a broad filter at 1M passages)
        runs = np.searchsorted(ids, self.ends, side="right") > np.searchsorted(ids, self.starts)
        out = np.zeros(self.documents, dtype=bool)
        out[self.document[runs]] = True
        return out

    def count(self, ids: np.ndarray) -> int:
        """Documents with a passage among ``ids`` (sorted)."""
        return int(self.hit(ids).sum())


@dataclass(frozen=True, slots=True)
class DocumentFacets:
    """For each facet value, the ordinals (in a DocumentSpans' order) of the documents that have it."""

    members: dict[str, dict[str, np.ndarray]]  # facet -> value -> document ordinals

    @classmethod
    def read(cls, db: StoreDatabase, spans: DocumentSpans) -> DocumentFacets:
        import numpy as np

        ordinal = {doc: i for i, doc in enumerate(spans.ids)}
        lists: dict[str, dict[str, list[int]]] = {f: {} for f in FACETS}
        rows = db.query(
            "SELECT document_id, language, json_extract(metadata, '$.country'),"
            " json_extract(metadata, '$.year'), themes FROM documents"
        )
        for doc, language, country, year, themes in rows:
            i = ordinal.get(doc)
            if i is None:  # a document without passages is in no search
                continue
            values = {
                "language": [language],
                "country": [str(country).strip()] if country not in (None, "") else [],
                "year": [str(year).strip()] if year not in (None, "") else [],
                "theme": json.loads(themes or "[]"),
            }
            for facet, vs in values.items():
                for v in vs:
                    if v:
                        lists[facet].setdefault(v, []).append(i)
        return cls({f: {v: np.array(ix, dtype=np.int64) for v, ix in vs.items()} for f, vs in lists.items()})

    def counts(self, hit: np.ndarray) -> dict[str, dict[str, int]]:
        """Documents per value among those ``hit`` marks, most first (ties by value), zeros left out."""
        out: dict[str, dict[str, int]] = {}
        for facet, values in self.members.items():
            counted = [(v, int(hit[ix].sum())) for v, ix in values.items()]
            out[facet] = {v: n for v, n in sorted(counted, key=lambda c: (-c[1], c[0])) if n}
        return out

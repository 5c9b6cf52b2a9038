"""The store's write path (search.store): a document stored whole with its passages, vectors and
derived data, documents deleted, sources pruned.

Every change to documents runs in one transaction that bumps ``meta.generation``
(search.store_database): after a crash the database holds every committed document whole and
never half of one, and every cache derived from the store (FAISS, the lexical index, the reads'
kept answers) can tell it is stale.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nordsearch.ingest.records import IngestedFile, normalize_language
from nordsearch.search import lexical
from nordsearch.search.duplicates import signature
from nordsearch.search.errors import IndexMismatchError
from nordsearch.search.store_reads import DOC_COLUMNS

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.store_database import StoreDatabase
    from nordsearch.search.store_hubs import HubStore


@dataclass(slots=True)
class UpsertResult:
    document_id: str
    added_ids: list[int]  # vector ids of the new passages, in passage order
    removed_ids: list[int]  # vector ids of every passage that was replaced
    generation_before: int
    generation: int


def stored_language(passage_language: str, document_language: str) -> str:
    """The language a passage is stored (and centred) with: its own, else its document's."""
    return normalize_language(passage_language) or normalize_language(document_language) or document_language


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DocumentWrites:
    """Writes to the documents, passages and files tables (theme rows follow by trigger)."""

    def __init__(self, db: StoreDatabase, hubs: HubStore) -> None:
        self._db = db
        self._hubs = hubs

    def upsert_document(
        self, ingested: IngestedFile, vectors: np.ndarray, *, mtime: float | None = None,
        sentence_vectors: Sequence[np.ndarray | None] | None = None, hubs: np.ndarray | None = None,
        terms: Sequence[str] | None = None,
    ) -> UpsertResult:  # fmt: skip
        """Store a document with its passages and vectors, replacing any previous version of the
        same document_id or the same source path, in one transaction.

        ``sentence_vectors`` (per passage, one row per ``passage.sentences`` span) and ``hubs``
        (per passage, search.hubness) are optional derived data stored beside each passage;
        ``terms`` the passages' analysed lexical terms (search.lexical.analyze_passage), computed
        here when not given (the indexer computes them before the transaction)."""
        import numpy as np

        from nordsearch.search.quantize import pack

        doc = ingested.document
        passages = ingested.passages
        model = self._db.model()
        if model is None:
            raise IndexMismatchError("the index has no model recorded yet; call set_model() first")
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.shape != (len(passages), model[1]):
            raise ValueError(f"expected vectors of shape ({len(passages)}, {model[1]}), got {vecs.shape}")
        if not np.isfinite(vecs).all():
            raise ValueError("vectors contain NaN or infinity")
        if terms is not None and len(terms) != len(passages):
            raise ValueError(f"expected lexical terms for {len(passages)} passages, got {len(terms)}")
        for p in passages:
            if p.document_id != doc.document_id:
                raise ValueError(f"passage {p.passage_id} belongs to {p.document_id}, not {doc.document_id}")
        indexed_at = _now()
        with self._db.transaction() as c:
            old_docs = [r[0] for r in c.execute(
                "SELECT document_id FROM documents WHERE document_id = ? OR source = ?", (doc.document_id, doc.source)
            )]  # fmt: skip
            removed = self._passage_ids_of(old_docs)
            c.execute(
                "DELETE FROM documents WHERE document_id = ? OR source = ?", (doc.document_id, doc.source)
            )
            c.execute(
                f"INSERT INTO documents({DOC_COLUMNS.replace('d.', '')}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (doc.document_id, doc.source, doc.title, normalize_language(doc.language) or doc.language, doc.format, doc.pages, doc.size_bytes,
                 doc.content_hash, indexed_at, json.dumps(doc.metadata, ensure_ascii=False, default=str),
                 json.dumps(doc.themes), len(passages)),
            )  # fmt: skip
            added: list[int] = []
            for n, (p, vec) in enumerate(zip(passages, vecs, strict=True)):
                lang = stored_language(p.language, doc.language)
                sv = sentence_vectors[n] if sentence_vectors is not None else None
                blob = pack(sv) if sv is not None and len(sv) == len(p.sentences) and len(sv) else None
                hub = float(hubs[n]) if hubs is not None else None
                cur = c.execute(
                    "INSERT INTO passages(passage_id, document_id, ordinal, text, language, char_start, char_end,"
                    " page_start, page_end, section, themes, lexical, vector, sentences, sentence_vectors, hub,"
                    " signature, page_breaks) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (p.passage_id, doc.document_id, p.ordinal, p.text, lang, p.char_start, p.char_end,
                     p.page_start, p.page_end, p.section, json.dumps(p.themes),
                     terms[n] if terms is not None else lexical.analyze_passage(p.text, lang), vec.tobytes(),
                     json.dumps([list(span) for span in p.sentences]), blob, hub, signature(p.text),
                     json.dumps([list(b) for b in p.page_breaks])),
                )  # fmt: skip
                added.append(int(cur.lastrowid or 0))
            c.execute(
                "INSERT OR REPLACE INTO files(source, content_hash, mtime, size, indexed_at) VALUES (?,?,?,?,?)",
                (doc.source, doc.content_hash, mtime, doc.size_bytes, indexed_at),
            )
            if hubs is not None:
                self._hubs.lower_min(hubs)
            before, after = self._db.bump_generation(len(added) + len(removed))
        doc.indexed_at = indexed_at
        doc.passage_count = len(passages)
        return UpsertResult(doc.document_id, added, removed, before, after)

    def _passage_ids_of(self, document_ids: Sequence[str]) -> list[int]:
        if not document_ids:
            return []
        marks = ",".join("?" * len(document_ids))
        rows = self._db.conn.execute(
            f"SELECT rowid FROM passages WHERE document_id IN ({marks})", list(document_ids)
        )
        return [r[0] for r in rows]

    def _delete_where(self, where: str, params: Sequence[Any]) -> tuple[list[tuple[str, str]], list[int]]:
        """Delete matching documents (+ their file rows) in one transaction:
        ([(document_id, source)], removed vector ids)."""
        with self._db.transaction() as c:
            rows = c.execute(f"SELECT document_id, source FROM documents d WHERE {where}", params).fetchall()
            if not rows:
                return [], []
            doc_ids = [r[0] for r in rows]
            removed = self._passage_ids_of(doc_ids)
            marks = ",".join("?" * len(doc_ids))
            c.execute(f"DELETE FROM documents WHERE document_id IN ({marks})", doc_ids)
            c.executemany("DELETE FROM files WHERE source = ?", [(r[1],) for r in rows])
            self._db.bump_generation(len(removed))
        return [(r[0], r[1]) for r in rows], removed

    def touch_file(self, source: str, mtime: float | None, size: int | None) -> None:
        """Record a new stat for a file whose bytes are the ones indexed (touched, copied, checked
        out again), so the next run skips it without reading it. No document changes."""
        with self._db.transaction() as c:
            c.execute(
                "UPDATE files SET mtime = ?, size = ?, indexed_at = ? WHERE source = ?",
                (mtime, size, _now(), source),
            )

    def delete_document(self, document_id: str) -> list[int]:
        """Delete one document (its passages and theme rows cascade). Returns the removed vector ids."""
        return self.delete_where_document(document_id)[1]

    def delete_source(self, source: str) -> list[int]:
        """Delete the document(s) indexed from ``source``. Returns the removed vector ids."""
        return self.delete_where_source(source)[1]

    def delete_where_document(self, document_id: str) -> tuple[list[tuple[str, str]], list[int]]:
        return self._delete_where("d.document_id = ?", [document_id])

    def delete_where_source(self, source: str) -> tuple[list[tuple[str, str]], list[int]]:
        return self._delete_where("d.source = ?", [source])

    def prune_sources(self, keep: set[str]) -> tuple[list[tuple[str, str]], list[int]]:
        """Delete every document (and file row) whose source is not in ``keep``:
        ([(document_id, source)], removed vector ids)."""
        with self._db.lock:
            gone = [s for (s,) in self._db.query("SELECT source FROM documents") if s not in keep]
            stale_files = [s for (s,) in self._db.query("SELECT source FROM files") if s not in keep]
            if not gone and not stale_files:
                return [], []
            docs: list[tuple[str, str]] = []
            removed: list[int] = []
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                marks = ",".join("?" * len(chunk))
                chunk_docs, chunk_removed = self._delete_where(f"d.source IN ({marks})", chunk)
                docs += chunk_docs
                removed += chunk_removed
            if stale_files:
                with self._db.transaction() as c:
                    c.executemany("DELETE FROM files WHERE source = ?", [(s,) for s in stale_files])
        return docs, removed

"""SQLite metadata store: documents, passages (with their vectors), lexical terms, file states.

The store is the source of truth; the FAISS file is a cache derived from it. Every write runs in
one transaction and bumps ``meta.generation``, so after a crash the database holds every
committed document whole and never half of one, and a vector index saved at another generation
is known to be stale.

``Store`` is the one API the rest of nordsearch uses; it is composed of small parts, each owning
one group of tables and all sharing one database (connections, transactions, meta):

    search.store_database  connections, the write transaction, meta and the generation counter
    search.store_schema    the tables, migrations from older schema versions, re-analysis
    search.store_writes    upsert_document, deletes, prune_sources
    search.store_reads     documents and passages by id, listings, counts, filter answers, stats
    search.store_vectors   the passages' vector blobs
    search.store_hubs      the hub reference and the passages' hub scores
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nordsearch.search.store_database import StoreDatabase
from nordsearch.search.store_hubs import HubStore
from nordsearch.search.store_reads import ALLOWED_CACHE, DocumentReads, FileState, StoredPassage
from nordsearch.search.store_schema import SCHEMA_VERSION, open_schema
from nordsearch.search.store_vectors import VectorStore
from nordsearch.search.store_writes import DocumentWrites, UpsertResult, stored_language

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

    import numpy as np

    from nordsearch.ingest.records import Document, IngestedFile, Passage
    from nordsearch.search.filters import DocumentFilter, PassageFilter
    from nordsearch.search.hubness import HubReference

__all__ = [
    "ALLOWED_CACHE",
    "SCHEMA_VERSION",
    "FileState",
    "Store",
    "StoredPassage",
    "UpsertResult",
    "stored_language",
]


class Store:
    """One SQLite database, thread-safe without serialising readers: writes go through one
    connection (one transaction at a time), and every other thread reads through a connection of
    its own, so under WAL searches run concurrently with each other and with a writer, each
    statement seeing the last committed state.

    Each method hands over to one of the parts the module docstring lists, and is documented there."""

    def __init__(self, path: Path) -> None:
        self._db = StoreDatabase(path)
        self.path = self._db.path
        open_schema(self._db)
        self._hubs = HubStore(self._db)
        self._vectors = VectorStore(self._db)
        self._reads = DocumentReads(self._db)
        self._writes = DocumentWrites(self._db, self._hubs)

    # -- database: search.store_database --------------------------------------------------------

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (nothing half-written)."""
        return self._db.transaction()

    def _bump_generation(self, changed_passages: int = 0) -> tuple[int, int]:
        """What every write does inside its transaction (tests write by hand in transaction())."""
        return self._db.bump_generation(changed_passages)

    def close(self) -> None:
        self._db.close()

    def generation(self) -> int:
        return self._db.generation()

    def model(self) -> tuple[str, int] | None:
        return self._db.model()

    def set_model(self, name: str, dimension: int) -> None:
        self._db.set_model(name, dimension)

    def get_meta(self, key: str) -> str | None:
        return self._db.meta(key)

    def put_meta(self, key: str, value: str) -> None:
        self._db.put_meta(key, value)

    # -- writes: search.store_writes ------------------------------------------------------------

    def upsert_document(
        self, ingested: IngestedFile, vectors: np.ndarray, *, mtime: float | None = None,
        sentence_vectors: Sequence[np.ndarray | None] | None = None, hubs: np.ndarray | None = None,
        terms: Sequence[str] | None = None,
    ) -> UpsertResult:  # fmt: skip
        return self._writes.upsert_document(
            ingested, vectors, mtime=mtime, sentence_vectors=sentence_vectors, hubs=hubs, terms=terms
        )

    def touch_file(self, source: str, mtime: float | None, size: int | None) -> None:
        self._writes.touch_file(source, mtime, size)

    def delete_document(self, document_id: str) -> list[int]:
        return self._writes.delete_document(document_id)

    def delete_source(self, source: str) -> list[int]:
        return self._writes.delete_source(source)

    def delete_where_document(self, document_id: str) -> tuple[list[tuple[str, str]], list[int]]:
        return self._writes.delete_where_document(document_id)

    def delete_where_source(self, source: str) -> tuple[list[tuple[str, str]], list[int]]:
        return self._writes.delete_where_source(source)

    def prune_sources(self, keep: set[str]) -> tuple[list[tuple[str, str]], list[int]]:
        return self._writes.prune_sources(keep)

    # -- hub scores: search.store_hubs ----------------------------------------------------------

    def put_hub_reference(self, reference: HubReference, ids: np.ndarray, hubs: np.ndarray) -> None:
        self._hubs.put_hub_reference(reference, ids, hubs)

    def hub_reference(self) -> HubReference | None:
        return self._hubs.hub_reference()

    def hub_stamp(self) -> tuple[str, float]:
        return self._hubs.hub_stamp()

    def hub_state(self, *, count_missing: bool = False) -> tuple[int, int, int]:
        return self._hubs.hub_state(count_missing=count_missing)

    def hub_scores(self, vector_ids: Sequence[int]) -> np.ndarray:
        return self._hubs.hub_scores(vector_ids)

    def all_hubs(self) -> tuple[np.ndarray, np.ndarray]:
        return self._hubs.all_hubs()

    def hub_min(self) -> float:
        return self._hubs.hub_min()

    # -- reads: search.store_reads --------------------------------------------------------------

    def file_state(self, source: str) -> FileState | None:
        return self._reads.file_state(source)

    def get_document(self, document_id: str) -> Document | None:
        return self._reads.get_document(document_id)

    def list_documents(
        self, filters: DocumentFilter | None = None, limit: int = 50, offset: int = 0
    ) -> list[Document]:
        return self._reads.list_documents(filters, limit, offset)

    def document_ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        return self._reads.document_ids_with_prefix(prefix, limit)

    def count_documents(self, filters: DocumentFilter | None = None) -> int:
        return self._reads.count_documents(filters)

    def get_passages(self, vector_ids: Sequence[int]) -> dict[int, StoredPassage]:
        return self._reads.get_passages(vector_ids)

    def passages_of(self, document_id: str) -> list[Passage]:
        return self._reads.passages_of(document_id)

    def passage_info(self, vector_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        return self._reads.passage_info(vector_ids)

    def lexical_terms(self, vector_ids: Sequence[int]) -> dict[int, str]:
        return self._reads.lexical_terms(vector_ids)

    def document_languages(self) -> dict[str, str]:
        return self._reads.document_languages()

    def document_countries(self) -> dict[str, str]:
        return self._reads.document_countries()

    def vector_id_of(self, passage_id: str) -> int | None:
        return self._reads.vector_id_of(passage_id)

    def vector_ids_of(self, document_id: str) -> list[int]:
        return self._reads.vector_ids_of(document_id)

    def passage_count(self) -> int:
        return self._reads.passage_count()

    def document_count(self, ids: np.ndarray | None) -> int:
        return self._reads.document_count(ids)

    def facet_counts(self, ids: np.ndarray | None) -> dict[str, dict[str, int]]:
        return self._reads.facet_counts(ids)

    def allowed_ids(self, filters: PassageFilter) -> np.ndarray:
        return self._reads.allowed_ids(filters)

    def lexical_rows(self, after: int, limit: int) -> list[tuple[int, str]]:
        return self._reads.lexical_rows(after, limit)

    def theme_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        return self._reads.theme_counts()

    def stats(self) -> dict[str, Any]:
        return self._reads.stats()

    # -- vectors: search.store_vectors ----------------------------------------------------------

    def all_passage_vectors(self) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        return self._vectors.all_passage_vectors()

    def vector_ids(self) -> np.ndarray:
        return self._vectors.vector_ids()

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        return self._vectors.all_vectors()

    def vectors_for(self, vector_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        return self._vectors.vectors_for(vector_ids)

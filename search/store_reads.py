"""Document and passage reads (search.store): lookups by id, listings, counts and filter answers.

Every read goes through the calling thread's own connection (search.store_database), so it sees
the last committed state, or its own writes inside a transaction. Three answers are kept per store
generation (every write of a document or passage moves it on, so a kept answer is never stale):
the passage count, each document's rowid spans and the ids the last few filters admitted. Nothing
read inside a transaction is kept: it may yet roll back.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nordsearch.ingest.records import Document, Passage
from nordsearch.search.filters import DocumentFilter, PassageFilter
from nordsearch.search.store_facets import DocumentFacets, DocumentSpans
from nordsearch.search.store_schema import SCHEMA_VERSION

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.store_database import StoreDatabase

ALLOWED_CACHE = 8  # filters whose admitted ids are kept (DocumentReads.allowed_ids)
DOC_COLUMNS = (
    "d.document_id, d.source, d.title, d.language, d.format, d.pages, d.size_bytes, d.content_hash, "
    "d.indexed_at, d.metadata, d.themes, d.passage_count"
)
_PASSAGE_COLUMNS = (
    "p.rowid, p.passage_id, p.document_id, p.ordinal, p.text, p.language, p.char_start, p.char_end, "
    "p.page_start, p.page_end, p.section, p.themes, p.sentences, p.page_breaks"
)


@dataclass(slots=True)
class StoredPassage:
    """A passage as read back for a search hit: its vector id plus its document's title and source."""

    vector_id: int
    passage: Passage
    title: str
    source: str
    sentence_vectors: bytes | None = None  # search.quantize blob, one row per passage.sentences
    signature: bytes | None = None  # search.duplicates signature (None: stored by an older version)


def _doc_from_row(row: Sequence[Any]) -> Document:
    return Document(
        document_id=row[0], source=row[1], title=row[2], language=row[3], format=row[4], pages=row[5],
        size_bytes=row[6], content_hash=row[7], indexed_at=row[8], metadata=json.loads(row[9]),
        themes=json.loads(row[10]), passage_count=row[11],
    )  # fmt: skip


def _passage_from_row(row: Sequence[Any]) -> Passage:
    return Passage(
        passage_id=row[1], document_id=row[2], ordinal=row[3], text=row[4], language=row[5],
        char_start=row[6], char_end=row[7], page_start=row[8], page_end=row[9], section=row[10],
        themes=json.loads(row[11]), sentences=[(int(a), int(b)) for a, b in json.loads(row[12])],
        page_breaks=[(int(a), int(b)) for a, b in json.loads(row[13])],
    )  # fmt: skip


RACY_SECONDS = 2.0  # file clocks are coarse (a few ms): a write this close to the record may share its mtime


@dataclass(frozen=True, slots=True)
class FileState:
    """A source file as it was indexed: its content hash, the stat it had when it was read, and
    when that was recorded (epoch seconds)."""

    content_hash: str
    mtime: float | None
    size: int | None
    recorded_at: float | None = None

    def matches(self, mtime: float, size: int) -> bool:
        """True when a file's stat is the one recorded, so it is unchanged without reading a byte
        (as make and rsync decide; ``--force`` re-reads everything). A stat recorded within
        RACY_SECONDS of the file's mtime is not trusted (git's "racy" files): a second write in
        the same clock tick keeps the mtime, and the size may be the same."""
        if self.mtime != mtime or self.size != size or self.recorded_at is None:
            return False
        return mtime <= self.recorded_at - RACY_SECONDS


class DocumentReads:
    """Reads of the documents, passages, passage_themes and files tables."""

    def __init__(self, db: StoreDatabase) -> None:
        self._db = db
        self._allowed: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()  # see allowed_ids
        self._allowed_lock = threading.Lock()
        self._count: tuple[int, int] | None = None  # (generation, passages): see passage_count
        self._spans: tuple[int, DocumentSpans] | None = None  # (generation, spans): see document_count
        self._facets: tuple[DocumentSpans, DocumentFacets] | None = None  # see facet_counts

    def file_state(self, source: str) -> FileState | None:
        """What ``source`` was last indexed as, while that document is still stored (else None)."""
        rows = self._db.query(
            "SELECT f.content_hash, f.mtime, f.size, f.indexed_at FROM files f"
            " JOIN documents d ON d.content_hash = f.content_hash WHERE f.source = ? LIMIT 1",
            (source,),
        )
        if not rows:
            return None
        digest, mtime, size, indexed_at = rows[0]
        recorded = datetime.fromisoformat(indexed_at).timestamp() if indexed_at else None
        return FileState(digest, mtime, size, recorded)

    def get_document(self, document_id: str) -> Document | None:
        rows = self._db.query(
            f"SELECT {DOC_COLUMNS} FROM documents d WHERE d.document_id = ?", (document_id,)
        )
        return _doc_from_row(rows[0]) if rows else None

    def document_ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` document ids beginning with ``prefix``, in order (a range on the key)."""
        if not prefix:
            return []
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._db.query(
            "SELECT document_id FROM documents WHERE document_id >= ? AND document_id < ? ORDER BY document_id"
            " LIMIT ?",
            (prefix, upper, limit),
        )
        return [r[0] for r in rows]

    def list_documents(
        self, filters: DocumentFilter | None = None, limit: int = 50, offset: int = 0
    ) -> list[Document]:
        where, params = (filters or DocumentFilter()).to_sql()
        rows = self._db.query(
            f"SELECT {DOC_COLUMNS} FROM documents d WHERE {where} ORDER BY d.title COLLATE NOCASE, d.document_id"
            " LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        return [_doc_from_row(r) for r in rows]

    def count_documents(self, filters: DocumentFilter | None = None) -> int:
        where, params = (filters or DocumentFilter()).to_sql()
        return int(self._db.query(f"SELECT count(*) FROM documents d WHERE {where}", params)[0][0])

    def get_passages(self, vector_ids: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages by vector id (ids deleted meanwhile are simply absent)."""
        out: dict[int, StoredPassage] = {}
        ids = [int(i) for i in vector_ids]
        for start in range(0, len(ids), 500):  # stay far below SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.query(
                f"SELECT {_PASSAGE_COLUMNS}, d.title, d.source, p.sentence_vectors, p.signature FROM passages p"
                f" JOIN documents d ON d.document_id = p.document_id WHERE p.rowid IN ({marks})",
                chunk,
            )
            for r in rows:
                out[r[0]] = StoredPassage(
                    vector_id=r[0], passage=_passage_from_row(r), title=r[14], source=r[15],
                    sentence_vectors=r[16], signature=r[17],
                )  # fmt: skip
        return out

    def passages_of(self, document_id: str) -> list[Passage]:
        rows = self._db.query(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages p WHERE p.document_id = ? ORDER BY p.ordinal",
            (document_id,),
        )
        return [_passage_from_row(r) for r in rows]

    def passage_info(self, vector_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """{vector id: (document_id, language)} - the light lookup grouping and centring need."""
        out: dict[int, tuple[str, str]] = {}
        ids = [int(i) for i in vector_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._db.query(
                f"SELECT rowid, document_id, language FROM passages WHERE rowid IN ({marks})", chunk
            ):
                out[int(r[0])] = (r[1], r[2])
        return out

    def lexical_terms(self, vector_ids: Sequence[int]) -> dict[int, str]:
        """{vector id: the analysed terms stored for BM25} (space-separated)."""
        out: dict[int, str] = {}
        ids = [int(i) for i in vector_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._db.query(f"SELECT rowid, lexical FROM passages WHERE rowid IN ({marks})", chunk):
                out[int(r[0])] = r[1]
        return out

    def document_languages(self) -> dict[str, str]:
        """{document id: its language} for every document."""
        return {r[0]: r[1] for r in self._db.query("SELECT document_id, language FROM documents")}

    def document_countries(self) -> dict[str, str]:
        """{document id: its metadata country, trimmed and lower-cased ("" for none)}."""
        rows = self._db.query("SELECT document_id, json_extract(metadata, '$.country') FROM documents")
        return {r[0]: str(r[1] or "").strip().lower() for r in rows}

    def vector_id_of(self, passage_id: str) -> int | None:
        rows = self._db.query("SELECT rowid FROM passages WHERE passage_id = ?", (passage_id,))
        return int(rows[0][0]) if rows else None

    def vector_ids_of(self, document_id: str) -> list[int]:
        rows = self._db.query(
            "SELECT rowid FROM passages WHERE document_id = ? ORDER BY ordinal", (document_id,)
        )
        return [int(r[0]) for r in rows]

    def passage_count(self) -> int:
        """Passages stored; counted once per generation (every unfiltered search reports it, and
        counting 1M rows takes ~8 ms)."""
        generation = self._db.generation()  # before counting: a write in between only makes it recount
        cached = self._count
        if cached is not None and cached[0] == generation:
            return cached[1]
        count = int(self._db.query("SELECT count(*) FROM passages")[0][0])
        if not self._db.in_transaction():  # inside a transaction it may yet roll back
            self._count = (generation, count)
        return count

    def _document_spans(self) -> DocumentSpans:
        generation = self._db.generation()
        cached = self._spans
        if cached is not None and cached[0] == generation:
            return cached[1]
        spans = DocumentSpans.read(self._db)
        if not self._db.in_transaction():  # inside a transaction it may yet roll back
            self._spans = (generation, spans)
        return spans

    def document_count(self, ids: np.ndarray | None) -> int:
        """How many documents hold a passage among ``ids`` (sorted unique vector ids; None: any
        passage): the total of a document-grouped search."""
        spans = self._document_spans()
        return spans.documents if ids is None else spans.count(ids)

    def facet_counts(self, ids: np.ndarray | None) -> dict[str, dict[str, int]]:
        """Documents per language, country, year and theme among those holding a passage among
        ``ids`` (sorted unique vector ids; None: any passage), most first (search.store_facets)."""
        spans = self._document_spans()
        cached = self._facets
        if cached is not None and cached[0] is spans:  # the same generation's spans: same ordinals
            facets = cached[1]
        else:
            facets = DocumentFacets.read(self._db, spans)
            if not self._db.in_transaction():
                self._facets = (spans, facets)
        return facets.counts(spans.hit(ids))

    def allowed_ids(self, filters: PassageFilter) -> np.ndarray:
        """Vector ids of the passages a filter admits (int64, sorted; do not modify). The last few
        filters' answers are kept per store generation: planners filter by the same theme or
        country again and again, and at 1M passages reading 600k ids costs ~200 ms."""
        import numpy as np

        queries = filters.id_queries() or [("SELECT rowid FROM passages", [])]
        key = (self._db.generation(), repr(queries))
        with self._allowed_lock:
            if (hit := self._allowed.get(key)) is not None:
                self._allowed.move_to_end(key)
                return hit
        admitted: np.ndarray | None = None
        for sql, params in queries:
            rows = self._db.reader().execute(sql, params).fetchall()
            ids = _sorted_unique(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            admitted = ids if admitted is None else np.intersect1d(admitted, ids, assume_unique=True)
            if not len(admitted):
                break
        out = admitted if admitted is not None else np.zeros(0, dtype=np.int64)
        out.setflags(write=False)
        if self._db.in_transaction():  # inside a transaction it may yet roll back
            return out
        with self._allowed_lock:
            self._allowed[key] = out
            while len(self._allowed) > ALLOWED_CACHE:
                self._allowed.popitem(last=False)
        return out

    def lexical_rows(self, after: int, limit: int) -> list[tuple[int, str]]:
        """[(vector id, analysed terms)] of up to ``limit`` passages with ids above ``after``, in
        id order: the lexical index (search.lexical_index) is built from these in chunks."""
        return [
            (int(r[0]), r[1])
            for r in self._db.query(
                "SELECT rowid, lexical FROM passages WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit)
            )
        ]

    def theme_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(passages per theme, documents per theme), most common first."""
        passages = self._db.query(
            "SELECT theme, count(*) FROM passage_themes GROUP BY theme ORDER BY 2 DESC, 1"
        )
        documents = self._db.query(
            "SELECT t.theme, count(DISTINCT p.document_id) FROM passage_themes t"
            " JOIN passages p ON p.rowid = t.passage GROUP BY t.theme ORDER BY 2 DESC, 1"
        )
        return {str(k): int(v) for k, v in passages}, {str(k): int(v) for k, v in documents}

    def stats(self) -> dict[str, Any]:
        model = self._db.model()
        by_lang = dict(
            self._db.query("SELECT language, count(*) FROM passages GROUP BY language ORDER BY 2 DESC")
        )
        by_format = dict(
            self._db.query("SELECT format, count(*) FROM documents GROUP BY format ORDER BY 2 DESC")
        )
        docs_by_lang = dict(
            self._db.query("SELECT language, count(*) FROM documents GROUP BY language ORDER BY 2 DESC")
        )
        by_country = dict(
            self._db.query(
                "SELECT trim(json_extract(metadata, '$.country')) AS c, count(*) FROM documents"
                " WHERE c IS NOT NULL AND c != '' GROUP BY c ORDER BY 2 DESC, 1"
            )
        )
        return {
            "documents": self.count_documents(),
            "passages": self.passage_count(),
            "model": model[0] if model else None,
            "dimension": model[1] if model else None,
            "generation": self._db.generation(),
            "schema_version": SCHEMA_VERSION,
            "documents_by_language": docs_by_lang,
            "passages_by_language": by_lang,
            "documents_by_format": by_format,
            "documents_by_country": by_country,
        }


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    """``ids`` sorted without repeats (most arrive sorted already: then no copy)."""
    import numpy as np

    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        ids = np.sort(ids)
        ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
    return ids

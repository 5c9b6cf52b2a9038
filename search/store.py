"""SQLite metadata store: documents, passages (with their vectors), FTS5 terms, file states.

The store is the source of truth; the FAISS file is a cache derived from it. Every write runs in
one transaction and bumps ``meta.generation``, so after a crash the database holds every
committed document whole and never half of one, and a vector index saved at another generation
is known to be stale.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nordsearch.ingest.records import Document, IngestedFile, Passage, normalize_language
from nordsearch.search import lexical
from nordsearch.search.duplicates import signature
from nordsearch.search.errors import IndexMismatchError
from nordsearch.search.filters import DocumentFilter, PassageFilter

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.hubness import HubReference

SCHEMA_VERSION = 5
ALLOWED_CACHE = 8  # filters whose admitted ids are kept (Store.allowed_ids)
# Columns added since version 1 (ALTER TABLE on open): an index built by an older nordsearch keeps
# working; its passages simply have no sentence vectors (snippets then pick by matched terms) and
# their hub scores are computed at the next write.
_MIGRATIONS = {
    2: [
        "ALTER TABLE passages ADD COLUMN sentences TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE passages ADD COLUMN sentence_vectors BLOB",
        "ALTER TABLE passages ADD COLUMN hub REAL",
    ],
    3: ["ALTER TABLE passages ADD COLUMN signature BLOB"],
    # the theme table (created by _SCHEMA) filled from the passages stored before it existed
    4: [
        "INSERT OR IGNORE INTO passage_themes(theme, passage) SELECT j.value, p.rowid FROM passages p, json_each(p.themes) j"
    ],
    # BM25 moved to search.lexical_index (in memory, derived from the lexical column like FAISS)
    5: [
        "DROP TRIGGER IF EXISTS passages_ai",
        "DROP TRIGGER IF EXISTS passages_ad",
        "DROP TRIGGER IF EXISTS passages_au",
        "DROP TABLE IF EXISTS passages_fts",
    ],
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    language TEXT NOT NULL,
    format TEXT NOT NULL,
    pages INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    themes TEXT NOT NULL DEFAULT '[]',
    passage_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE INDEX IF NOT EXISTS documents_hash ON documents(content_hash);
-- AUTOINCREMENT: a vector id is never reused, so a stale FAISS file can never map an old id
-- onto a different passage.
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    passage_id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    language TEXT NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    page_start INTEGER,
    page_end INTEGER,
    section TEXT NOT NULL DEFAULT '',
    themes TEXT NOT NULL DEFAULT '[]',
    lexical TEXT NOT NULL,
    vector BLOB NOT NULL,
    sentences TEXT NOT NULL DEFAULT '[]',  -- [[start, end], ...] relative to text
    sentence_vectors BLOB,  -- search.quantize: one int8 row per sentence (late-chunked)
    hub REAL,  -- search.hubness score, kept current at write time; NULL until computed
    signature BLOB  -- search.duplicates: near-duplicate signature of the text
);
CREATE INDEX IF NOT EXISTS passages_document ON passages(document_id, ordinal);
CREATE INDEX IF NOT EXISTS passages_language ON passages(language);
-- Each passage's themes as rows, kept by triggers like the FTS table: a theme filter is an index
-- lookup, not a JSON scan of every passage.
CREATE TABLE IF NOT EXISTS passage_themes (
    theme TEXT NOT NULL,
    passage INTEGER NOT NULL,
    PRIMARY KEY (theme, passage)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS passage_themes_passage ON passage_themes(passage);
CREATE TRIGGER IF NOT EXISTS passages_themes_ai AFTER INSERT ON passages BEGIN
    INSERT OR IGNORE INTO passage_themes(theme, passage) SELECT value, new.rowid FROM json_each(new.themes);
END;
CREATE TRIGGER IF NOT EXISTS passages_themes_ad AFTER DELETE ON passages BEGIN
    DELETE FROM passage_themes WHERE passage = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS passages_themes_au AFTER UPDATE OF themes ON passages BEGIN
    DELETE FROM passage_themes WHERE passage = old.rowid;
    INSERT OR IGNORE INTO passage_themes(theme, passage) SELECT value, new.rowid FROM json_each(new.themes);
END;
-- The sample of passage vectors hub scores are measured against (search.hubness.HubReference).
CREATE TABLE IF NOT EXISTS hub_reference (row INTEGER PRIMARY KEY, language TEXT NOT NULL, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    source TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    mtime REAL,
    size INTEGER,
    indexed_at TEXT NOT NULL
);
"""

_DOC_COLUMNS = (
    "d.document_id, d.source, d.title, d.language, d.format, d.pages, d.size_bytes, d.content_hash, "
    "d.indexed_at, d.metadata, d.themes, d.passage_count"
)
_PASSAGE_COLUMNS = (
    "p.rowid, p.passage_id, p.document_id, p.ordinal, p.text, p.language, p.char_start, p.char_end, "
    "p.page_start, p.page_end, p.section, p.themes, p.sentences"
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


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
    )  # fmt: skip


class Store:
    """One SQLite database, thread-safe without serialising readers: writes go through one
    connection (one transaction at a time), and every other thread reads through a connection of
    its own, so under WAL searches run concurrently with each other and with a writer, each
    statement seeing the last committed state."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = self._connect()
        self._lock = threading.RLock()  # the write connection: one transaction at a time
        self._tx_owner: int | None = None  # thread inside transaction(): reads its own writes
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # not _lock: a long write must not delay a new reader
        self._allowed: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()  # see allowed_ids
        self._allowed_lock = threading.Lock()
        self._count: tuple[int, int] | None = None  # (generation, passages): see passage_count
        c = self._conn
        c.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed document survives power loss, not just a process crash; indexing
        # time is dominated by embedding, so the extra fsync per document is noise.
        c.execute("PRAGMA synchronous=FULL")
        if self._is_current():  # the common case: open without taking SQLite's write lock
            return
        with self.transaction():
            # statement by statement: executescript() would COMMIT our transaction
            for stmt in _split_sql(_SCHEMA):
                c.execute(stmt)
            version = self._meta("schema_version")
            if version is None:
                self._set_meta("schema_version", str(SCHEMA_VERSION))
                self._set_meta("generation", "0")
            elif int(version) < SCHEMA_VERSION:
                for step in range(int(version) + 1, SCHEMA_VERSION + 1):
                    for stmt in _MIGRATIONS[step]:
                        c.execute(stmt)
                self._set_meta("schema_version", str(SCHEMA_VERSION))
            elif int(version) != SCHEMA_VERSION:
                raise IndexMismatchError(
                    f"index at {self.path.parent} has schema version {version}, this nordsearch expects "
                    f"{SCHEMA_VERSION}; re-index with --rebuild"
                )
        self._reanalyze_if_needed()

    # -- plumbing -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.create_function("casefold", 1, _casefold, deterministic=True)  # used by search.filters
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _reader(self) -> sqlite3.Connection:
        """The connection this thread reads with: the write connection inside its own transaction,
        else one of the thread's own."""
        if self._tx_owner == threading.get_ident():
            return self._conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (nothing half-written)."""
        with self._lock:
            outer = self._tx_owner
            self._conn.execute("BEGIN IMMEDIATE")
            self._tx_owner = threading.get_ident()
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._tx_owner = outer

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._reader().execute(sql, params).fetchall()

    def _meta(self, key: str) -> str | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _bump_generation(self, changed_passages: int = 0) -> tuple[int, int]:
        """Next generation; also counts the passages added or removed since the hub reference was
        built (search.index decides from it when to rebuild the reference)."""
        before = int(self._meta("generation") or 0)
        self._set_meta("generation", str(before + 1))
        if changed_passages:
            self._set_meta("hub_changes", str(int(self._meta("hub_changes") or 0) + changed_passages))
        return before, before + 1

    def _is_current(self) -> bool:
        try:
            return self._meta("schema_version") == str(SCHEMA_VERSION) and (
                self._meta("analyzer_version") == lexical.ANALYZER_VERSION
            )
        except sqlite3.OperationalError:  # no meta table yet: a new database
            return False

    def _reanalyze_if_needed(self) -> None:
        """Re-run lexical analysis when the analyser changed since these passages were stored."""
        with self.transaction() as c:
            if self._meta("analyzer_version") == lexical.ANALYZER_VERSION:
                return
            rows = c.execute("SELECT rowid, text, language FROM passages").fetchall()
            for rowid, text, language in rows:
                c.execute(
                    "UPDATE passages SET lexical = ? WHERE rowid = ?",
                    (lexical.analyze_passage(text, language), rowid),
                )
            self._set_meta("analyzer_version", lexical.ANALYZER_VERSION)

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._conn.close()

    # -- meta -----------------------------------------------------------------------------------

    def generation(self) -> int:
        return int(self._meta("generation") or 0)

    def model(self) -> tuple[str, int] | None:
        """(model name, dimension) the stored vectors were made with; None for a fresh index."""
        rows = dict(self._query("SELECT key, value FROM meta WHERE key IN ('model', 'dimension')"))
        name, dim = rows.get("model"), rows.get("dimension")
        return (name, int(dim)) if name is not None and dim is not None else None

    def get_meta(self, key: str) -> str | None:
        return self._meta(key)

    def put_meta(self, key: str, value: str) -> None:
        """Store a derived value (e.g. language offsets). Does not bump the generation: it changes
        no document, passage or vector."""
        with self.transaction():
            self._set_meta(key, value)

    def set_model(self, name: str, dimension: int) -> None:
        with self.transaction():
            current = self.model()
            if current is not None and current != (name, dimension):
                raise IndexMismatchError(
                    f"index was built with model {current[0]!r} (dimension {current[1]}), not {name!r} "
                    f"(dimension {dimension}); re-index with --rebuild or use the model {current[0]!r}"
                )
            self._set_meta("model", name)
            self._set_meta("dimension", str(dimension))

    # -- writes ---------------------------------------------------------------------------------

    def upsert_document(
        self, ingested: IngestedFile, vectors: np.ndarray, *, mtime: float | None = None,
        sentence_vectors: Sequence[np.ndarray | None] | None = None, hubs: np.ndarray | None = None,
    ) -> UpsertResult:  # fmt: skip
        """Store a document with its passages and vectors, replacing any previous version of the
        same document_id or the same source path, in one transaction.

        ``sentence_vectors`` (per passage, one row per ``passage.sentences`` span) and ``hubs``
        (per passage, search.hubness) are optional derived data stored beside each passage."""
        import numpy as np

        from nordsearch.search.quantize import pack

        doc = ingested.document
        passages = ingested.passages
        model = self.model()
        if model is None:
            raise IndexMismatchError("the index has no model recorded yet; call set_model() first")
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.shape != (len(passages), model[1]):
            raise ValueError(f"expected vectors of shape ({len(passages)}, {model[1]}), got {vecs.shape}")
        if not np.isfinite(vecs).all():
            raise ValueError("vectors contain NaN or infinity")
        for p in passages:
            if p.document_id != doc.document_id:
                raise ValueError(f"passage {p.passage_id} belongs to {p.document_id}, not {doc.document_id}")
        indexed_at = _now()
        with self.transaction() as c:
            old_docs = [r[0] for r in c.execute(
                "SELECT document_id FROM documents WHERE document_id = ? OR source = ?", (doc.document_id, doc.source)
            )]  # fmt: skip
            removed = self._passage_ids_of(old_docs)
            c.execute(
                "DELETE FROM documents WHERE document_id = ? OR source = ?", (doc.document_id, doc.source)
            )
            c.execute(
                f"INSERT INTO documents({_DOC_COLUMNS.replace('d.', '')}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    " signature) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (p.passage_id, doc.document_id, p.ordinal, p.text, lang, p.char_start, p.char_end,
                     p.page_start, p.page_end, p.section, json.dumps(p.themes),
                     lexical.analyze_passage(p.text, lang), vec.tobytes(),
                     json.dumps([list(span) for span in p.sentences]), blob, hub, signature(p.text)),
                )  # fmt: skip
                added.append(int(cur.lastrowid or 0))
            c.execute(
                "INSERT OR REPLACE INTO files(source, content_hash, mtime, size, indexed_at) VALUES (?,?,?,?,?)",
                (doc.source, doc.content_hash, mtime, doc.size_bytes, indexed_at),
            )
            if hubs is not None and len(hubs):
                low = self._meta("hub_min")
                self._set_meta("hub_min", repr(min(float(np.min(hubs)), float(low) if low else np.inf)))
            before, after = self._bump_generation(len(added) + len(removed))
        doc.indexed_at = indexed_at
        doc.passage_count = len(passages)
        return UpsertResult(doc.document_id, added, removed, before, after)

    def _passage_ids_of(self, document_ids: Sequence[str]) -> list[int]:
        if not document_ids:
            return []
        marks = ",".join("?" * len(document_ids))
        rows = self._conn.execute(
            f"SELECT rowid FROM passages WHERE document_id IN ({marks})", list(document_ids)
        )
        return [r[0] for r in rows]

    def _delete_where(self, where: str, params: Sequence[Any]) -> tuple[list[tuple[str, str]], list[int]]:
        """Delete matching documents (+ their file rows) in one transaction:
        ([(document_id, source)], removed vector ids)."""
        with self.transaction() as c:
            rows = c.execute(f"SELECT document_id, source FROM documents d WHERE {where}", params).fetchall()
            if not rows:
                return [], []
            doc_ids = [r[0] for r in rows]
            removed = self._passage_ids_of(doc_ids)
            marks = ",".join("?" * len(doc_ids))
            c.execute(f"DELETE FROM documents WHERE document_id IN ({marks})", doc_ids)
            c.executemany("DELETE FROM files WHERE source = ?", [(r[1],) for r in rows])
            self._bump_generation(len(removed))
        return [(r[0], r[1]) for r in rows], removed

    def delete_document(self, document_id: str) -> list[int]:
        """Delete one document (passages and FTS rows cascade). Returns the removed vector ids."""
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
        with self._lock:
            gone = [s for (s,) in self._query("SELECT source FROM documents") if s not in keep]
            stale_files = [s for (s,) in self._query("SELECT source FROM files") if s not in keep]
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
                with self.transaction() as c:
                    c.executemany("DELETE FROM files WHERE source = ?", [(s,) for s in stale_files])
        return docs, removed

    def put_hub_reference(self, reference: HubReference, ids: np.ndarray, hubs: np.ndarray) -> None:
        """Replace the hub reference and every passage's hub score with ones computed from it, in one
        transaction. The generation moves on: FAISS holds each passage's hub score beside its vector
        (search.index), so every reader must notice the new scores."""
        import uuid

        import numpy as np

        with self.transaction() as c:
            c.execute("DELETE FROM hub_reference")
            c.executemany(
                "INSERT INTO hub_reference(row, language, vector) VALUES (?, ?, ?)",
                ((i, lang, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                 for i, (lang, v) in enumerate(zip(reference.languages, reference.matrix, strict=True))),
            )  # fmt: skip
            c.executemany(
                "UPDATE passages SET hub = ? WHERE rowid = ?",
                zip(hubs.astype(float).tolist(), ids.tolist(), strict=True),
            )
            meta = {
                "k": reference.k, "fallback": reference.fallback, "size": reference.size,
                "id": uuid.uuid4().hex[:16],  # names this set of scores (search.index's FAISS transform)
            }  # fmt: skip
            self._set_meta("hub_reference", json.dumps(meta))
            self._bump_generation()
            self._set_meta("hub_changes", "0")
            self._set_meta("hub_min", repr(float(hubs.min())) if len(hubs) else "0.0")

    def hub_reference(self) -> HubReference | None:
        """The stored hub reference, or None when none was built yet."""
        import numpy as np

        from nordsearch.search.hubness import HubReference

        raw = self.get_meta("hub_reference")
        model = self.model()
        if not raw or model is None:
            return None
        meta = json.loads(raw)
        rows = self._query("SELECT language, vector FROM hub_reference ORDER BY row")
        matrix = np.empty((len(rows), model[1]), dtype=np.float32)
        for i, r in enumerate(rows):
            matrix[i] = np.frombuffer(r[1], dtype=np.float32)
        return HubReference(
            matrix, [r[0] for r in rows], int(meta["k"]), float(meta["fallback"]), int(meta["size"])
        )

    def hub_stamp(self) -> tuple[str, float]:
        """(the id of the current hub scores, their mean), ("", 0.0) before any were computed."""
        raw = self.get_meta("hub_reference")
        if not raw:
            return "", 0.0
        meta = json.loads(raw)
        return str(meta.get("id", "legacy")), float(meta["fallback"])

    def hub_state(self, *, count_missing: bool = False) -> tuple[int, int, int]:
        """(collection size when the hub reference was built, passages added or removed since,
        passages without a hub score - counted only when asked: it reads every passage); size 0
        when there is no reference yet."""
        rows = dict(self._query("SELECT key, value FROM meta WHERE key IN ('hub_reference', 'hub_changes')"))
        raw = rows.get("hub_reference")
        size = int(json.loads(raw)["size"]) if raw else 0
        changes = int(rows.get("hub_changes") or 0)
        missing = 0
        if count_missing:
            missing = int(self._query("SELECT count(*) FROM passages WHERE hub IS NULL")[0][0])
        return size, changes, missing

    # -- reads ----------------------------------------------------------------------------------

    def hub_scores(self, vector_ids: Sequence[int]) -> np.ndarray:
        """Each given passage's stored hub score. Passages not scored yet (an index from before hub
        scores were stored, until its next write) count as the lowest score, ids not stored as 0."""
        import numpy as np

        ids = [int(i) for i in vector_ids]
        low = self.hub_min()
        found: dict[int, float] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._query(f"SELECT rowid, hub FROM passages WHERE rowid IN ({marks})", chunk):
                found[int(r[0])] = low if r[1] is None else float(r[1])
        return np.fromiter((found.get(i, 0.0) for i in ids), dtype=np.float32, count=len(ids))

    def all_hubs(self) -> tuple[np.ndarray, np.ndarray]:
        """(every passage's vector id, its hub score as hub_scores gives it), in id order."""
        import numpy as np

        low = self.hub_min()
        rows = self._query("SELECT rowid, hub FROM passages ORDER BY rowid")
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        hubs = np.fromiter((low if r[1] is None else r[1] for r in rows), dtype=np.float32, count=len(rows))
        return ids, hubs

    def hub_min(self) -> float:
        """A lower bound of every stored hub score (kept at write time; deletions only loosen it)."""
        raw = self.get_meta("hub_min")
        return float(raw) if raw else 0.0

    def has_current(self, source: str, content_hash: str) -> bool:
        """True when ``source`` was indexed with these exact bytes and that document is still stored."""
        rows = self._query(
            "SELECT 1 FROM files f JOIN documents d ON d.content_hash = f.content_hash"
            " WHERE f.source = ? AND f.content_hash = ? LIMIT 1",
            (source, content_hash),
        )
        return bool(rows)

    def file_state(self, source: str) -> tuple[str, float | None, int | None] | None:
        """(content_hash, mtime, size) recorded for ``source``: lets the indexer skip hashing unchanged files."""
        rows = self._query("SELECT content_hash, mtime, size FROM files WHERE source = ?", (source,))
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def get_document(self, document_id: str) -> Document | None:
        rows = self._query(f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.document_id = ?", (document_id,))
        return _doc_from_row(rows[0]) if rows else None

    def list_documents(
        self, filters: DocumentFilter | None = None, limit: int = 50, offset: int = 0
    ) -> list[Document]:
        where, params = (filters or DocumentFilter()).to_sql()
        rows = self._query(
            f"SELECT {_DOC_COLUMNS} FROM documents d WHERE {where} ORDER BY d.title COLLATE NOCASE, d.document_id"
            " LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        return [_doc_from_row(r) for r in rows]

    def count_documents(self, filters: DocumentFilter | None = None) -> int:
        where, params = (filters or DocumentFilter()).to_sql()
        return int(self._query(f"SELECT count(*) FROM documents d WHERE {where}", params)[0][0])

    def get_passages(self, vector_ids: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages by vector id (ids deleted meanwhile are simply absent)."""
        out: dict[int, StoredPassage] = {}
        ids = [int(i) for i in vector_ids]
        for start in range(0, len(ids), 500):  # stay far below SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT {_PASSAGE_COLUMNS}, d.title, d.source, p.sentence_vectors, p.signature FROM passages p"
                f" JOIN documents d ON d.document_id = p.document_id WHERE p.rowid IN ({marks})",
                chunk,
            )
            for r in rows:
                out[r[0]] = StoredPassage(
                    vector_id=r[0], passage=_passage_from_row(r), title=r[13], source=r[14],
                    sentence_vectors=r[15], signature=r[16],
                )  # fmt: skip
        return out

    def passages_of(self, document_id: str) -> list[Passage]:
        rows = self._query(
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
            for r in self._query(
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
            for r in self._query(f"SELECT rowid, lexical FROM passages WHERE rowid IN ({marks})", chunk):
                out[int(r[0])] = r[1]
        return out

    def vector_id_of(self, passage_id: str) -> int | None:
        rows = self._query("SELECT rowid FROM passages WHERE passage_id = ?", (passage_id,))
        return int(rows[0][0]) if rows else None

    def vector_ids_of(self, document_id: str) -> list[int]:
        rows = self._query(
            "SELECT rowid FROM passages WHERE document_id = ? ORDER BY ordinal", (document_id,)
        )
        return [int(r[0]) for r in rows]

    def all_passage_vectors(self) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        """(vector ids, float32 matrix, document ids, languages) of every passage, in id order, from
        one read (separate queries could straddle a write and misalign)."""
        rows = self._query("SELECT rowid, vector, document_id, language FROM passages ORDER BY rowid")
        ids, matrix = self._decode_vectors(rows)
        return ids, matrix, [r[2] for r in rows], [r[3] for r in rows]

    def passage_count(self) -> int:
        """Passages stored; counted once per generation (every unfiltered search reports it, and
        counting 1M rows takes ~8 ms)."""
        generation = self.generation()  # before counting: a write in between only makes it recount
        cached = self._count
        if cached is not None and cached[0] == generation:
            return cached[1]
        count = int(self._query("SELECT count(*) FROM passages")[0][0])
        if self._tx_owner != threading.get_ident():  # inside a transaction it may yet roll back
            self._count = (generation, count)
        return count

    def vector_ids(self) -> np.ndarray:
        """Every passage's vector id (int64, sorted): lets a reader catch up without re-reading vectors."""
        import numpy as np

        rows = self._query("SELECT rowid FROM passages ORDER BY rowid")
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(vector ids int64, float32 matrix) of every passage, in id order."""
        return self._vectors("SELECT rowid, vector FROM passages ORDER BY rowid", [])

    def vectors_for(self, vector_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        ids = [int(i) for i in vector_ids]
        parts = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            parts.append(self._vectors(f"SELECT rowid, vector FROM passages WHERE rowid IN ({marks})", chunk))
        import numpy as np

        dim = (self.model() or ("", 0))[1]
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _vectors(self, sql: str, params: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        return self._decode_vectors(self._query(sql, params))

    def _decode_vectors(self, rows: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, matrix) from rows whose first two columns are rowid and the vector blob."""
        import numpy as np

        dim = (self.model() or ("", 0))[1]
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.empty((len(rows), dim), dtype=np.float32)
        for i, r in enumerate(rows):
            matrix[i] = np.frombuffer(r[1], dtype=np.float32)
        return ids, matrix

    def allowed_ids(self, filters: PassageFilter) -> np.ndarray:
        """Vector ids of the passages a filter admits (int64, sorted; do not modify). The last few
        filters' answers are kept per store generation: planners filter by the same theme or
        country again and again, and at 1M passages reading 600k ids costs ~200 ms."""
        import numpy as np

        queries = filters.id_queries() or [("SELECT rowid FROM passages", [])]
        key = (self.generation(), repr(queries))
        with self._allowed_lock:
            if (hit := self._allowed.get(key)) is not None:
                self._allowed.move_to_end(key)
                return hit
        admitted: np.ndarray | None = None
        for sql, params in queries:
            rows = self._reader().execute(sql, params).fetchall()
            ids = _sorted_unique(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            admitted = ids if admitted is None else np.intersect1d(admitted, ids, assume_unique=True)
            if not len(admitted):
                break
        out = admitted if admitted is not None else np.zeros(0, dtype=np.int64)
        out.setflags(write=False)
        if self._tx_owner == threading.get_ident():  # inside a transaction it may yet roll back
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
            for r in self._query(
                "SELECT rowid, lexical FROM passages WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit)
            )
        ]

    def theme_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(passages per theme, documents per theme), most common first."""
        passages = self._query("SELECT theme, count(*) FROM passage_themes GROUP BY theme ORDER BY 2 DESC, 1")
        documents = self._query(
            "SELECT t.theme, count(DISTINCT p.document_id) FROM passage_themes t"
            " JOIN passages p ON p.rowid = t.passage GROUP BY t.theme ORDER BY 2 DESC, 1"
        )
        return {str(k): int(v) for k, v in passages}, {str(k): int(v) for k, v in documents}

    def stats(self) -> dict[str, Any]:
        model = self.model()
        by_lang = dict(
            self._query("SELECT language, count(*) FROM passages GROUP BY language ORDER BY 2 DESC")
        )
        by_format = dict(
            self._query("SELECT format, count(*) FROM documents GROUP BY format ORDER BY 2 DESC")
        )
        docs_by_lang = dict(
            self._query("SELECT language, count(*) FROM documents GROUP BY language ORDER BY 2 DESC")
        )
        return {
            "documents": self.count_documents(),
            "passages": self.passage_count(),
            "model": model[0] if model else None,
            "dimension": model[1] if model else None,
            "generation": self.generation(),
            "schema_version": SCHEMA_VERSION,
            "documents_by_language": docs_by_lang,
            "passages_by_language": by_lang,
            "documents_by_format": by_format,
        }


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    """``ids`` sorted without repeats (most arrive sorted already: then no copy)."""
    import numpy as np

    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        ids = np.sort(ids)
        ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
    return ids


def _split_sql(script: str) -> list[str]:
    """Split the schema into statements (trigger bodies contain ';', so split on 'END;' boundaries too)."""
    statements: list[str] = []
    buf: list[str] = []
    for line in script.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        buf.append(line)
        joined = "\n".join(buf)
        if sqlite3.complete_statement(joined):
            statements.append(joined)
            buf = []
    return statements

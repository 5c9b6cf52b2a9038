"""SearchIndex: the facade the CLI and API use. One directory holds the whole index:

    store.sqlite   documents, passages, vectors, FTS5 terms (the source of truth)
    vectors.faiss  FAISS index derived from the stored vectors (a cache; rebuilt when stale)
    manifest.json  what vectors.faiss was built from (model, dimension, count, generation)
    write.lock     fcntl lock held by the one process writing

Writes go to the store first (one transaction per document) and only then to the in-memory
vector index, so a crash at any point loses at most the document being written.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.records import Document, IngestedFile, Passage
from search import fusion, lexical
from search.errors import IndexLockedError, IndexMismatchError, IndexNotFoundError
from search.filters import DocumentFilter, PassageFilter
from search.locking import WriterLock
from search.query import SearchHit, SearchRequest, SearchResponse
from search.store import Store, StoredPassage
from search.vectors import (
    COMPACT_FRACTION,
    DEFAULT_HNSW_THRESHOLD,
    FLAT,
    HNSW,
    MANIFEST_FILE,
    VECTORS_FILE,
    Manifest,
    VectorIndex,
    check_manifest,
)

if TYPE_CHECKING:
    import numpy as np

    from search.embedder import Embedder

STORE_FILE = "store.sqlite"
LOCK_FILE = "write.lock"
EMBED_CHUNK = 256  # passages embedded per call: bounds memory on very long documents
HYBRID_MIN_POOL = 50  # candidates taken from each list before fusion
TIE_MARGIN = 16


def passage_embedding_text(document: Document, passage: Passage) -> str:
    """The text embedded for a passage. Plain text for now; whether prefixing the title/section
    helps is to be measured on the dev set (change it here only, then re-index with --rebuild)."""
    return passage.text


@dataclass(slots=True)
class IndexStats:
    path: str
    documents: int
    passages: int
    model: str | None
    dimension: int | None
    generation: int
    index_type: str | None  # "flat" | "hnsw" | None (nothing indexed yet)
    vectors_saved: bool  # vectors.faiss on disk matches the store
    size_bytes: int
    documents_by_language: dict[str, int] = field(default_factory=dict)
    passages_by_language: dict[str, int] = field(default_factory=dict)
    documents_by_format: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SearchIndex:
    def __init__(
        self, path: Path, store: Store, embedder: Embedder | None, *, hnsw_threshold: int, lock_timeout: float
    ) -> None:
        self.path = path
        self.store = store
        self._embedder = embedder
        self._hnsw_threshold = hnsw_threshold
        self._lock = WriterLock(path / LOCK_FILE, timeout=lock_timeout)
        self._vec_lock = threading.RLock()
        self._vectors: VectorIndex | None = None
        self._vectors_generation = -1  # store generation the in-memory vectors reflect

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, embedder: Embedder | None = None, create: bool = True, *, rebuild: bool = False,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD, lock_timeout: float = 30.0,
    ) -> SearchIndex:  # fmt: skip
        """Open (or create) the index in directory ``path``.

        ``rebuild=True`` deletes whatever index is there first (the CLI's --rebuild). An
        ``embedder`` whose model differs from the one the index was built with raises
        IndexMismatchError; without one, the configured model is loaded on first dense search.
        """
        path = Path(path)
        if not (path / STORE_FILE).exists() and not create:
            raise IndexNotFoundError(f"no index at {path}; run `nordsearch index` first")
        path.mkdir(parents=True, exist_ok=True)
        if rebuild:
            lock = WriterLock(path / LOCK_FILE, timeout=lock_timeout)
            lock.acquire()
            try:
                for name in (
                    STORE_FILE,
                    f"{STORE_FILE}-wal",
                    f"{STORE_FILE}-shm",
                    VECTORS_FILE,
                    MANIFEST_FILE,
                ):
                    with contextlib.suppress(FileNotFoundError):
                        (path / name).unlink()
            finally:
                lock.release()
        index = cls(
            path, Store(path / STORE_FILE), embedder, hnsw_threshold=hnsw_threshold, lock_timeout=lock_timeout
        )
        try:
            index._check_saved_manifest()
            if embedder is not None:
                index._check_embedder(embedder)
        except BaseException:
            index.close()
            raise
        return index

    def _check_saved_manifest(self) -> None:
        """Fail at open, not at the first query, when vectors.faiss belongs to another model."""
        model = self.store.model()
        manifest = _read_manifest(self.path)
        if model is not None and manifest is not None:
            check_manifest(manifest, model[0], model[1], self.store.generation(), self.store.passage_count())

    def close(self) -> None:
        """Release the writer lock and the database. Does not save: call save() (or use ``with``)."""
        self._lock.release()
        self.store.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.save()
        finally:
            self.close()

    # -- embedder -------------------------------------------------------------------------------

    def _check_embedder(self, embedder: Embedder) -> None:
        stored = self.store.model()
        if stored is None:
            return
        name, dim = stored
        if embedder.name != name or embedder.dimension != dim:
            raise IndexMismatchError(
                f"index at {self.path} was built with model {name!r} (dimension {dim}), not {embedder.name!r}; "
                f"re-index with --rebuild or use the model {name!r}"
            )

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            from search.embedder import get_embedder

            embedder = get_embedder()
            self._check_embedder(embedder)
            self._embedder = embedder
        return self._embedder

    # -- writes ---------------------------------------------------------------------------------

    def has_current(self, source: str, content_hash: str) -> bool:
        """True if ``source`` is indexed with exactly these bytes (the indexer can skip it)."""
        return self.store.has_current(source, content_hash)

    def add(self, ingested: IngestedFile, *, mtime: float | None = None) -> Document:
        """Embed and store one ingested file, replacing any earlier version (same id or same source).

        Takes the writer lock (held until save() or close()). ``mtime`` defaults to the source
        file's, when the source is a local file.
        """
        import numpy as np

        self._lock.acquire()
        embedder = self._get_embedder()
        if self.store.model() is None:
            self.store.set_model(embedder.name, embedder.dimension)
        else:
            self._check_embedder(embedder)
        doc = ingested.document
        texts = [passage_embedding_text(doc, p) for p in ingested.passages]
        chunks = [
            embedder.embed_passages(texts[i : i + EMBED_CHUNK]) for i in range(0, len(texts), EMBED_CHUNK)
        ]
        vectors = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dimension), dtype=np.float32)
        if mtime is None and os.path.isfile(doc.source):
            mtime = os.path.getmtime(doc.source)
        result = self.store.upsert_document(ingested, vectors, mtime=mtime)
        self._apply(
            result.generation_before, result.generation, result.removed_ids, result.added_ids, vectors
        )
        return self.store.get_document(doc.document_id) or doc

    def _apply(
        self, before: int, after: int, removed: list[int], added: list[int], vectors: np.ndarray | None
    ) -> None:
        """Mirror our own committed write in the in-memory vectors when they were current before it;
        otherwise leave them to catch up from the store on next use."""
        import numpy as np

        with self._vec_lock:
            vi = self._vectors
            if vi is None or self._vectors_generation != before:
                return
            vi.remove(np.asarray(removed, dtype=np.int64))
            if added and vectors is not None:
                vi.add(np.asarray(added, dtype=np.int64), vectors)
            self._vectors_generation = after

    def _delete(self, run: Callable[[], tuple[list[tuple[str, str]], list[int]]]) -> list[tuple[str, str]]:
        self._lock.acquire()
        before = self.store.generation()
        docs, removed = run()
        if docs:
            # one delete = one generation bump; prune may bump once per chunk, so read it back
            self._apply(before, self.store.generation(), removed, [], None)
        return docs

    def remove(self, document_id: str) -> bool:
        """Delete a document and its passages. False if it was not indexed."""
        return bool(self._delete(lambda: self.store.delete_where_document(document_id)))

    def remove_source(self, source: str) -> bool:
        """Delete the document indexed from ``source``. False if there was none."""
        return bool(self._delete(lambda: self.store.delete_where_source(source)))

    def prune(self, existing_sources: Iterable[str]) -> list[tuple[str, str]]:
        """Delete documents whose source is not in ``existing_sources``: [(document_id, source)]."""
        keep = set(existing_sources)
        return self._delete(lambda: self.store.prune_sources(keep))

    def save(self) -> bool:
        """Write vectors.faiss + manifest.json (each atomically) unless the saved ones are current.
        Ends the writing session (releases the writer lock). True if something was written."""
        try:
            model = self.store.model()
            if model is None or self._disk_is_current(
                model, self.store.generation()
            ):  # reads the manifest only
                return False
            self._lock.acquire()  # before _vec_lock: waiting for another writer must not block our searches
            with self._vec_lock:
                vectors = self._ensure_vectors(in_search=False)
                if vectors is None:
                    return False
                vectors = self._maybe_change_kind(vectors)
                vectors.save(self.path, model=model[0], generation=self._vectors_generation)
                return True
        finally:
            self._lock.release()

    def _disk_is_current(self, model: tuple[str, int], generation: int) -> bool:
        man = _read_manifest(self.path)
        return (
            man is not None
            and (man.model, man.dimension, man.generation) == (model[0], model[1], generation)
            and man.count == self.store.passage_count()
            and man.index_type == _wanted_kind(man.count, man.index_type, self._hnsw_threshold)
            and len(man.deleted_ids) <= COMPACT_FRACTION * max(man.count + len(man.deleted_ids), 1)
            and (self.path / VECTORS_FILE).exists()
        )

    # -- vectors --------------------------------------------------------------------------------

    def _build_from_store(self, *, in_search: bool = False) -> VectorIndex | None:
        """A fresh index of every stored vector. Inside a search it is always flat: building HNSW
        takes minutes on large collections (~100 s for 60k passages on 2 cores), which is save()'s
        job, not a query's."""
        model = self.store.model()
        if model is None:
            return None
        # generation read *before* the vectors: if a writer commits in between, the next use sees
        # a newer generation and catches up, so the index is never labelled newer than it is
        generation = self.store.generation()
        ids, matrix = self.store.all_vectors()
        self._vectors_generation = generation
        threshold = sys.maxsize if in_search else self._hnsw_threshold
        return VectorIndex.build(ids, matrix, dimension=model[1], hnsw_threshold=threshold)

    def _catch_up(self, vi: VectorIndex) -> None:
        """Bring ``vi`` up to the store by id difference: vector ids are never reused and a stored
        vector never changes, so new ids are additions and missing ids deletions."""
        import numpy as np

        generation = self.store.generation()
        stored = self.store.vector_ids()
        have = vi.ids()
        vi.remove(np.setdiff1d(have, stored, assume_unique=True))
        new = np.setdiff1d(stored, have, assume_unique=True)
        if len(new):
            ids, matrix = self.store.vectors_for(new.tolist())
            vi.add(ids, matrix)
        self._vectors_generation = generation

    def _ensure_vectors(self, *, in_search: bool = True) -> VectorIndex | None:
        """The vector index, current with the store: in memory, else from disk, else rebuilt.

        A saved index whose manifest names another model raises IndexMismatchError; one saved at
        another generation or count (e.g. a crash after the last commit, or another process
        writing) is brought up to date from the store's vectors and, if nobody is writing right
        now, saved again.
        """
        with self._vec_lock:
            model = self.store.model()
            if model is None:
                return None
            generation = self.store.generation()
            if self._vectors is not None and self._vectors_generation == generation:
                return self._vectors
            if self._vectors is None:
                loaded = VectorIndex.load(self.path)
                if loaded is not None:
                    vi, manifest = loaded
                    current = check_manifest(
                        manifest, model[0], model[1], generation, self.store.passage_count()
                    )
                    self._vectors, self._vectors_generation = vi, manifest.generation
                    if current:
                        return vi
            if self._vectors is None:
                self._vectors = self._build_from_store(in_search=in_search)
            else:
                self._catch_up(self._vectors)
            if in_search and self._vectors is not None:
                self._try_save()
            return self._vectors

    def _maybe_change_kind(self, vi: VectorIndex) -> VectorIndex:
        """Rebuild when the size crossed the HNSW threshold or too many HNSW vectors are masked
        (only from save(): see _build_from_store)."""
        if vi.kind == _wanted_kind(vi.count, vi.kind, self._hnsw_threshold) and not vi.needs_compaction:
            return vi
        rebuilt = self._build_from_store()
        if rebuilt is None:
            return vi
        self._vectors = rebuilt
        return rebuilt

    def _try_save(self) -> None:
        """Persist a brought-up-to-date index, but only if no other process is writing right now
        (never wait for the lock: this runs inside a search)."""
        model = self.store.model()
        if self._vectors is None or model is None:
            return
        temp = None
        if not self._lock.held:
            temp = WriterLock(self.path / LOCK_FILE, timeout=0)
            try:
                temp.acquire()
            except IndexLockedError:
                return
        try:
            self._vectors.save(self.path, model=model[0], generation=self._vectors_generation)
        finally:
            if temp is not None:
                temp.release()

    # -- search ---------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResponse:
        filters = request.filter()
        need = request.offset + request.k
        if request.mode == "lexical":
            match = lexical.fts_match_expression(lexical.analyze_query(request.q))
            ranked = self._lexical(match, filters, need)
            total = self.store.lexical_count(match, filters) if match else 0
        else:
            allowed = None if filters.is_empty else self.store.allowed_ids(filters)
            total = self.store.passage_count() if allowed is None else len(allowed)
            if total == 0:
                ranked = []
            elif request.mode == "dense":
                ranked = self._dense(self._query_vector(request.q), need, allowed)
            else:
                ranked = self._hybrid(request, filters, allowed, max(need * 3, HYBRID_MIN_POOL))
        page = ranked[request.offset : need]
        stored = self.store.get_passages([vid for vid, _ in page])
        hits = [_hit(stored[vid], score) for vid, score in page if vid in stored]
        return SearchResponse(query=request.q, mode=request.mode, total=total, results=hits)

    def _query_vector(self, q: str) -> np.ndarray:
        return self._get_embedder().embed_queries([q])[0]

    def _dense(self, qv: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        with self._vec_lock:  # FAISS reads are thread-safe, but not concurrent with our own adds
            vi = self._ensure_vectors()
            if vi is None:
                return []
            # a few extra so that equal scores (duplicate boilerplate passages) cut at the page edge
            # are ordered by id, not by FAISS's arbitrary pick: pages then never overlap
            scores, ids = vi.search(qv[None, :], k + TIE_MARGIN, allowed)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        return sorted(hits, key=lambda h: (-h[1], h[0]))[:k]

    def _lexical(self, match: str | None, filters: PassageFilter, k: int) -> list[tuple[int, float]]:
        return self.store.lexical_search(match, filters, k) if match else []

    def _hybrid(
        self, request: SearchRequest, filters: PassageFilter, allowed: np.ndarray | None, pool: int
    ) -> list[tuple[int, float]]:
        qv = self._query_vector(request.q)
        dense = self._dense(qv, pool, allowed)
        lex = self._lexical(lexical.fts_match_expression(lexical.analyze_query(request.q)), filters, pool)
        if request.fusion == "rrf":
            return fusion.ranked(fusion.rrf([[v for v, _ in dense], [v for v, _ in lex]], request.rrf_k))
        dense_scores = dict(dense)
        missing = [v for v, _ in lex if v not in dense_scores]
        if missing:  # lexical hits outside the dense pool: score them exactly rather than as 0
            ids, matrix = self.store.vectors_for(missing)
            dense_scores.update(zip(ids.tolist(), (matrix @ qv).tolist(), strict=True))
        return fusion.ranked(fusion.weighted(dense_scores, dict(lex), request.lexical_weight))

    # -- reads ----------------------------------------------------------------------------------

    def documents(
        self, filters: DocumentFilter | None = None, limit: int = 50, offset: int = 0
    ) -> list[Document]:
        """A page of documents, sorted by title (``count_documents`` gives the total for paging)."""
        return self.store.list_documents(filters, limit, offset)

    def count_documents(self, filters: DocumentFilter | None = None) -> int:
        return self.store.count_documents(filters)

    def document(self, document_id: str) -> Document | None:
        return self.store.get_document(document_id)

    def passages(self, document_id: str) -> list[Passage]:
        return self.store.passages_of(document_id)

    def stats(self) -> IndexStats:
        s = self.store.stats()
        with self._vec_lock:
            manifest = _read_manifest(self.path)
            kind = (
                self._vectors.kind
                if self._vectors is not None
                else (manifest.index_type if manifest else None)
            )
            saved = manifest is not None and manifest.generation == s["generation"]
        size = sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
        return IndexStats(
            path=str(self.path), documents=s["documents"], passages=s["passages"], model=s["model"],
            dimension=s["dimension"], generation=s["generation"], index_type=kind, vectors_saved=saved,
            size_bytes=size, documents_by_language=s["documents_by_language"],
            passages_by_language=s["passages_by_language"], documents_by_format=s["documents_by_format"],
        )  # fmt: skip


def _wanted_kind(count: int, current: str, threshold: int) -> str:
    """Flat below the HNSW threshold, HNSW from it on; an HNSW index stays HNSW until the count
    falls under half the threshold, so a collection hovering at the edge is not rebuilt each time."""
    if count >= threshold:
        return HNSW
    if current == HNSW and count >= threshold // 2:
        return HNSW
    return FLAT


def _read_manifest(path: Path) -> Manifest | None:
    try:
        return Manifest.read(path / MANIFEST_FILE)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _hit(sp: StoredPassage, score: float) -> SearchHit:
    p = sp.passage
    return SearchHit(
        passage_id=p.passage_id, document_id=p.document_id, title=sp.title, source=sp.source, language=p.language,
        page=p.page_start, page_end=p.page_end, section=p.section, text=p.text, score=round(score, 6),
        themes=list(p.themes),
    )  # fmt: skip

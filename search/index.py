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
from search.centering import LanguageOffsets, LanguageStats, parallel_texts, texts_fingerprint
from search.embedder import normalize_rows
from search.errors import IndexLockedError, IndexMismatchError, IndexNotFoundError
from search.filters import DocumentFilter, PassageFilter
from search.locking import WriterLock
from search.query import SearchHit, SearchRequest, SearchResponse, SimilarItem
from search.snippets import (
    MAX_SENTENCE_CHARS,
    DuplicateFinder,
    build_snippet,
    choose_best,
    matched_spans,
    normalized_text_key,
    query_terms,
    sentence_spans,
)
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

    from ingest.themes import ThemeTagger
    from search.embedder import Embedder

STORE_FILE = "store.sqlite"
LOCK_FILE = "write.lock"
EMBED_CHUNK = 256  # passages embedded per call: bounds memory on very long documents
HYBRID_MIN_POOL = 50  # candidates taken from each list before fusion
GROUP_MIN_POOL = 400  # passages ranked when results are grouped by document
ASSEMBLE_CHUNK = 256  # passages read from the store at a time while building a page
TIE_MARGIN = 16


def tag_themes(ingested: IngestedFile, vectors: np.ndarray, tagger: ThemeTagger) -> None:
    """Fill the passages' and the document's theme ids (best first) from text and passage vectors.

    Themes the caller already set (curated metadata) are kept: the tagger only fills what is empty.
    """
    passages = ingested.passages
    if not passages:
        return
    scores = tagger.scores([p.text for p in passages], [p.language for p in passages], vectors)
    for passage, themes in zip(passages, tagger.passage_themes(scores), strict=True):
        if not passage.themes:
            passage.themes = [theme for theme, _ in themes]
    if not ingested.document.themes:
        lengths = [len(p.text) for p in passages]
        ingested.document.themes = [theme for theme, _ in tagger.document_themes(scores, lengths)]


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
        self, path: Path, store: Store, embedder: Embedder | None, *, hnsw_threshold: int, lock_timeout: float,
        centering: bool = True,
    ) -> None:  # fmt: skip
        self.path = path
        self.store = store
        self._embedder = embedder
        self._tagger: ThemeTagger | None = None
        self._hnsw_threshold = hnsw_threshold
        self._lock = WriterLock(path / LOCK_FILE, timeout=lock_timeout)
        self._vec_lock = threading.RLock()
        self._vectors: VectorIndex | None = None
        self._vectors_generation = -1  # store generation the in-memory vectors reflect
        self._centering = centering
        self._offsets: LanguageOffsets | None = None
        self._transform: str | None = None
        self._stats: tuple[int, LanguageStats] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, embedder: Embedder | None = None, create: bool = True, *, rebuild: bool = False,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD, lock_timeout: float = 30.0, centering: bool = True,
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
            path, Store(path / STORE_FILE), embedder, hnsw_threshold=hnsw_threshold, lock_timeout=lock_timeout,
            centering=centering,
        )  # fmt: skip
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

    def _get_tagger(self, embedder: Embedder) -> ThemeTagger:
        """The theme tagger, its definitions embedded with the index's own model (built once)."""
        if self._tagger is None:
            from ingest.taxonomy import load_taxonomy
            from ingest.themes import ThemeTagger

            self._tagger = ThemeTagger(load_taxonomy(), embed_definitions=embedder.embed_passages)
        return self._tagger

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
        tag_themes(ingested, vectors, self._get_tagger(embedder))
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
                ids = np.asarray(added, dtype=np.int64)
                vi.add(ids, self._prepare(ids, vectors))
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
                vectors.save(
                    self.path, model=model[0], generation=self._vectors_generation, transform=self.transform_id()
                )
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
            and man.transform == self.transform_id()
            and (self.path / VECTORS_FILE).exists()
        )

    # -- language centring ---------------------------------------------------------------------

    def transform_id(self) -> str:
        """Names the transform FAISS vectors get (recorded in the manifest): "" or "center-<fp>"."""
        if self._transform is None:
            self._transform = f"center-{texts_fingerprint(parallel_texts())}" if self._centering else ""
        return self._transform

    def language_offsets(self) -> LanguageOffsets | None:
        """Per-language offsets of this index's model (see search.centering); None when centring
        is off. Computed once from the taxonomy's parallel text and kept in the store."""
        if not self._centering or self.store.model() is None:
            return None
        if self._offsets is not None:
            return self._offsets
        fingerprint = self.transform_id().removeprefix("center-")
        raw = self.store.get_meta("language_offsets")
        if raw:
            try:
                offsets = LanguageOffsets.from_json(raw)
                if offsets.fingerprint == fingerprint:
                    self._offsets = offsets
                    return offsets
            except (ValueError, KeyError, TypeError):
                pass  # unreadable: recompute below
        embedder = self._get_embedder()
        offsets = LanguageOffsets.compute(embedder.embed_passages, embedder.embed_queries)
        self.store.put_meta("language_offsets", offsets.to_json())
        self._offsets = offsets
        return offsets

    def _prepare(self, ids: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Stored vectors -> the vectors FAISS holds (language-centred when centring is on)."""
        offsets = self.language_offsets()
        if offsets is None or not len(ids):
            return matrix
        info = self.store.passage_info(ids.tolist())
        languages = [info.get(int(i), ("", ""))[1] for i in ids]
        return offsets.center_passages(matrix, languages)

    def centered_vectors(self, vector_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors as FAISS holds them) for stored passages (ids deleted meanwhile are absent)."""
        ids, matrix = self.store.vectors_for(vector_ids)
        return ids, self._prepare(ids, matrix)

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
        matrix = self._prepare(ids, matrix)
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
            vi.add(ids, self._prepare(ids, matrix))
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
                    # a file built with other (or no) centring cannot be caught up: rebuild it
                    if manifest.transform == self.transform_id():
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
            self._vectors.save(
                self.path, model=model[0], generation=self._vectors_generation, transform=self.transform_id()
            )
        finally:
            if temp is not None:
                temp.release()

    # -- search ---------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResponse:
        filters = request.filter()
        need = request.offset + request.k
        # how many ranked passages to look at: a page of documents needs more passages than a
        # page of passages (several passages per document, duplicates collapsed away)
        pool = max(need * 3, HYBRID_MIN_POOL) if request.group == "passage" else max(need * 20, GROUP_MIN_POOL)
        qv: np.ndarray | None = None
        if request.mode == "lexical":
            match = lexical.fts_match_expression(lexical.analyze_query(request.q))
            ranked = self._lexical(match, filters, pool)
            total = self.store.lexical_count(match, filters) if match else 0
        else:
            allowed = None if filters.is_empty else self.store.allowed_ids(filters)
            total = self.store.passage_count() if allowed is None else len(allowed)
            if total == 0:
                ranked = []
            else:
                qv = self._query_vector(request.q)
                if request.mode == "dense":
                    ranked = self._dense_for(request)(qv, pool, allowed)
                else:
                    ranked = self._hybrid(request, qv, filters, allowed, pool)
        hits, has_more = self._assemble(ranked, request)
        if request.snippets and hits:
            self._add_snippets(hits, request.q, qv)
        return SearchResponse(
            query=request.q, mode=request.mode, total=total, results=hits, group=request.group, has_more=has_more
        )

    def _assemble(self, ranked: list[tuple[int, float]], request: SearchRequest) -> tuple[list[SearchHit], bool]:
        """Ranked passages -> the requested page of hits: near-duplicates collapsed into the best-ranked
        copy, and with group="document" one hit per document carrying its best passages."""

        need = request.offset + request.k
        by_doc = request.group == "document"
        leaders: list[SearchHit] = []  # passage mode: distinct passages; document mode: documents
        doc_hit: dict[str, SearchHit] = {}
        seen = DuplicateFinder()
        done = False
        for start in range(0, len(ranked), ASSEMBLE_CHUNK):
            chunk = ranked[start : start + ASSEMBLE_CHUNK]
            stored = self.store.get_passages([vid for vid, _ in chunk])
            for vid, score in chunk:
                sp = stored.get(vid)
                if sp is None:
                    continue
                hit = _hit(sp, score)
                if request.collapse_duplicates:
                    original = seen.find(sp.passage.text)
                    if isinstance(original, SearchHit):
                        if original.document_id != hit.document_id:
                            original.duplicates.append(hit.passage_id)
                        continue
                    seen.add(sp.passage.text, hit)
                if not by_doc:
                    leaders.append(hit)
                    if len(leaders) > need:
                        done = True
                        break
                    continue
                group = doc_hit.get(hit.document_id)
                if group is None:
                    if len(leaders) > need:  # page full (plus one to know there is more): stop
                        done = True
                        break
                    hit.passages.append(_copy_hit(hit))
                    doc_hit[hit.document_id] = hit
                    leaders.append(hit)
                elif len(group.passages) < request.passages_per_document:
                    group.passages.append(hit)
            if done:
                break
        page = leaders[request.offset : need]
        return page, len(leaders) > need

    def _add_snippets(self, hits: list[SearchHit], q: str, qv: np.ndarray | None) -> None:
        """Snippet, highlights and best sentence for each hit (and the passages under a document hit).
        Top-level hits get the best sentence by meaning (their sentences embedded in one batch);
        passages under a document hit by matched terms only, to keep a page cheap."""
        import numpy as np

        terms = query_terms(q)
        top = list(hits)
        nested = [p for h in hits for p in h.passages[1:]]
        spans = {id(h): sentence_spans(h.text, h.language) for h in top + nested}
        sentences = [(h, i, h.text[s:e][:MAX_SENTENCE_CHARS]) for h in top for i, (s, e) in enumerate(spans[id(h)])]
        sims = np.zeros(len(sentences), dtype=np.float32)
        if qv is not None and sentences:
            offsets = self.language_offsets()
            matrix = self._get_embedder().embed_passages([t for _, _, t in sentences])
            if offsets is not None:
                matrix = offsets.center_passages(matrix, [h.language for h, _, _ in sentences])
            sims = matrix @ qv
        sim_of = {(id(h), i): float(sims[n]) for n, (h, i, _) in enumerate(sentences)}
        for h in top + nested:
            sp = spans[id(h)]
            texts = [h.text[s:e] for s, e in sp]
            counts = [len(matched_spans(t, h.language, terms)) for t in texts]
            best = choose_best(texts, [sim_of.get((id(h), i), 0.0) for i in range(len(sp))], counts) if sp else None
            snip = build_snippet(h.text, sp, best, terms, h.language)
            h.snippet, h.highlights, h.best_sentence, h.best_sentence_span = (
                snip.text, snip.highlights, snip.best_sentence, snip.best_span,
            )  # fmt: skip
        for h in top:  # a document hit's first passage is itself: share the result
            if h.passages:
                first = h.passages[0]
                first.snippet, first.highlights = h.snippet, h.highlights
                first.best_sentence, first.best_sentence_span = h.best_sentence, h.best_sentence_span

    def _query_vector(self, q: str) -> np.ndarray:
        """The query's embedding, language-centred like the passages: the offset removed is the mix
        of the languages' query offsets weighted by the detector's confidences, so a query whose
        language is unclear (three Scandinavian words) is centred by a blend, never by a wrong guess."""
        qv = self._get_embedder().embed_queries([q])[0]
        offsets = self.language_offsets()
        return qv if offsets is None else offsets.center_query(qv, _language_weights(q))

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

    def _dense_for(self, request: SearchRequest) -> Callable[[np.ndarray, int, np.ndarray | None], list[tuple[int, float]]]:
        return self._dense_balanced if request.balance_languages else self._dense

    def _score_exact(self, qv: np.ndarray, vector_ids: list[int], balanced: bool) -> dict[int, float]:
        """Dense scores of given passages, on the same scale as the dense search's."""
        ids, matrix = self.centered_vectors(vector_ids)
        scores = dict(zip(ids.tolist(), (matrix @ qv).tolist(), strict=True))
        stats = self._language_stats() if balanced else None
        if stats is None or len(stats.languages) < 2:
            return scores
        pooled_mean, pooled_sd = stats.pooled(qv)
        moments = {lang: stats.moments(lang, qv) for lang in stats.languages}
        info = self.store.passage_info(list(scores))
        out = {}
        for vid, score in scores.items():
            mean, sd = moments.get(info.get(vid, ("", ""))[1], moments.get("", (pooled_mean, pooled_sd)))
            out[vid] = pooled_mean + (score - mean) / sd * pooled_sd
        return out

    def _language_stats(self) -> LanguageStats | None:
        """Mean and covariance of the (centred) passage vectors of each language, cached per generation."""
        generation = self.store.generation()
        cached = self._stats
        if cached is not None and cached[0] == generation:
            return cached[1]
        if self.store.model() is None:
            return None
        ids, matrix = self.store.all_vectors()
        matrix = self._prepare(ids, matrix)
        _, _, languages = self.store.passage_documents()
        stats = LanguageStats.build(ids, matrix, languages)
        self._stats = (generation, stats)
        return stats

    def _dense_balanced(self, qv: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """Dense retrieval with each language's similarities standardised before the merge.

        The model gives every passage in the query's language a head start (it shares the
        query's language component). Within one language that head start is the same for all
        passages, so we search each language separately and compare passages by how far above
        their own language's similarity distribution they lie (z = (s - q.mu_L) / sqrt(q' S_L q),
        exact from the language's mean and covariance). z is mapped back to the cosine scale of
        the whole collection so fusion weights keep their meaning.
        """
        import numpy as np

        stats = self._language_stats()
        if stats is None or len(stats.languages) < 2:
            return self._dense(qv, k, allowed)
        pooled_mean, pooled_sd = stats.pooled(qv)
        out: list[tuple[int, float]] = []
        for lang in stats.languages:
            ids = stats.ids[lang]
            if allowed is not None:
                ids = np.intersect1d(ids, allowed, assume_unique=True)
            if not len(ids):
                continue
            mean, sd = stats.moments(lang, qv)
            for vid, score in self._dense(qv, k, ids):
                out.append((vid, pooled_mean + (score - mean) / sd * pooled_sd))
        return sorted(out, key=lambda h: (-h[1], h[0]))[:k]

    def _lexical(self, match: str | None, filters: PassageFilter, k: int) -> list[tuple[int, float]]:
        return self.store.lexical_search(match, filters, k) if match else []

    def _hybrid(
        self, request: SearchRequest, qv: np.ndarray, filters: PassageFilter, allowed: np.ndarray | None, pool: int
    ) -> list[tuple[int, float]]:
        dense_search = self._dense_for(request)
        dense = dense_search(qv, pool, allowed)
        if request.feedback > 0 and dense:
            # dense pseudo-relevance feedback: the top passages (any language) pull the query
            _, top = self.centered_vectors([v for v, _ in dense[: request.feedback]])
            qv = fusion.pseudo_relevance_query(qv, top, request.feedback_weight)
            dense = dense_search(qv, pool, allowed)
        lex = self._lexical(lexical.fts_match_expression(lexical.analyze_query(request.q)), filters, pool)
        if request.fusion == "rrf":
            scores = fusion.rrf([[v for v, _ in dense], [v for v, _ in lex]], request.rrf_k)
        else:
            dense_scores = dict(dense)
            missing = [v for v, _ in lex if v not in dense_scores]
            if missing:  # lexical hits outside the dense pool: score them exactly rather than as 0
                dense_scores.update(self._score_exact(qv, missing, request.balance_languages))
            if request.fusion == "weighted":
                scores = fusion.weighted(dense_scores, dict(lex), request.lexical_weight)
            else:
                words = lexical.query_word_variants(request.q)
                terms = self.store.lexical_terms([v for v, _ in lex])
                cov = {v: lexical.coverage(words, set(t.split())) for v, t in terms.items()}
                scores = fusion.coverage_weighted(dense_scores, dict(lex), cov, request.lexical_weight)
        info = self.store.passage_info(list(scores)) if request.document_weight or request.language_merge else {}
        if request.document_weight:
            scores = fusion.document_context(
                scores, {v: d for v, (d, _) in info.items()}, request.document_weight
            )
        if request.language_merge:
            return fusion.within_language([v for v, _ in dense], scores, {v: lang for v, (_, lang) in info.items()})
        return fusion.ranked(scores)

    # -- similar cases --------------------------------------------------------------------------

    def _document_centroids(self) -> tuple[list[str], np.ndarray]:
        """(document ids, unit centroid of each document's centred passage vectors): a document is
        represented by all of its passages, not by its first 512 tokens. Cached per generation."""
        import numpy as np

        generation = self.store.generation()
        cached = getattr(self, "_centroids", None)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        ids, matrix = self.store.all_vectors()
        matrix = self._prepare(ids, matrix)
        _, doc_of, _ = self.store.passage_documents()
        doc_ids = sorted(set(doc_of))
        row = {d: i for i, d in enumerate(doc_ids)}
        sums = np.zeros((len(doc_ids), matrix.shape[1] if matrix.ndim == 2 else 0), dtype=np.float64)
        if len(doc_ids):
            np.add.at(sums, np.fromiter((row[d] for d in doc_of), dtype=np.int64, count=len(doc_of)), matrix)
        centroids = normalize_rows(sums) if len(doc_ids) else sums.astype(np.float32)
        self._centroids = (generation, doc_ids, centroids)
        return doc_ids, centroids

    def _similar_by_vector(self, target: np.ndarray, k: int, exclude: set[str]) -> list[SimilarItem]:
        """Documents ranked by centroid cosine with ``target``; each with its passage closest to it."""
        import numpy as np

        doc_ids, centroids = self._document_centroids()
        if not doc_ids:
            return []
        scores = centroids @ target
        out: list[SimilarItem] = []
        for i in np.argsort(-scores, kind="stable"):
            if doc_ids[i] in exclude:
                continue
            item = self._best_passage_item(doc_ids[i], target, float(scores[i]))
            if item is not None:
                out.append(item)
            if len(out) >= k:
                break
        return out

    def _best_passage_item(self, document_id: str, target: np.ndarray, score: float) -> SimilarItem | None:
        ids, matrix = self.centered_vectors(self.store.vector_ids_of(document_id))
        if not len(ids):
            return None
        best = int(ids[int((matrix @ target).argmax())])
        sp = self.store.get_passages([best]).get(best)
        return None if sp is None else _similar_item(sp, score)

    def similar_documents(self, document_id: str, k: int = 10) -> list[SimilarItem]:
        """The k documents most similar to ``document_id`` in any language (itself excluded);
        [] when it is not indexed."""
        doc_ids, centroids = self._document_centroids()
        if document_id not in doc_ids:
            return []
        target = centroids[doc_ids.index(document_id)]
        return self._similar_by_vector(target, k, self._same_documents(document_id))

    def _same_documents(self, document_id: str) -> set[str]:
        """The document and its text twin (a PDF's *_text_twin.md is the same document)."""
        from search.evaluate import doc_key

        doc = self.store.get_document(document_id)
        out = {document_id}
        if doc is not None:
            key = doc_key(doc.source)
            out |= {d.document_id for d in self.store.list_documents(None, 100000, 0) if doc_key(d.source) == key}
        return out

    def similar_passages(self, passage_id: str, k: int = 10) -> list[SimilarItem] | None:
        """Passages of other documents most similar to one passage; None when it does not exist."""
        vid = self.store.vector_id_of(passage_id)
        if vid is None:
            return None
        ids, matrix = self.centered_vectors([vid])
        sp = self.store.get_passages([vid]).get(vid)
        if not len(ids) or sp is None:
            return None
        return self._similar_passages_to(matrix[0], k, self._same_documents(sp.passage.document_id))

    def _similar_passages_to(self, target: np.ndarray, k: int, exclude: set[str]) -> list[SimilarItem]:
        import numpy as np

        allowed = None
        if exclude:
            allowed = np.setdiff1d(
                self.store.vector_ids(),
                np.asarray([v for d in exclude for v in self.store.vector_ids_of(d)], dtype=np.int64),
            )
        ranked = self._dense(target, k * 3 + TIE_MARGIN, allowed)
        stored = self.store.get_passages([v for v, _ in ranked])
        out: list[SimilarItem] = []
        seen: set[str] = set()
        for vid, score in ranked:
            sp = stored.get(vid)
            if sp is None:
                continue
            key = normalized_text_key(sp.passage.text)  # the same paragraph in two reports: once
            if key in seen:
                continue
            seen.add(key)
            out.append(_similar_item(sp, score))
            if len(out) >= k:
                break
        return out

    def similar_to_text(
        self, text: str, k: int = 10, exclude_document: str | None = None, *, passages: bool = False,
        language: str | None = None,
    ) -> list[SimilarItem]:  # fmt: skip
        """Documents (or, with passages=True, passages) most similar to a raw text in any language.
        Long texts are cut into ~200-word chunks whose vectors are averaged, like a document's."""
        chunks = _chunks(text)
        if not chunks:
            return []
        lang = language or _guess_language(text)
        return self._similar_to_chunks(chunks, [lang] * len(chunks), k, exclude_document, passages)

    def similar_to_file(self, path: Path, k: int = 10, *, passages: bool = False) -> list[SimilarItem]:
        """Documents most similar to a file that need not be indexed (the file itself excluded if it is)."""
        from ingest.pipeline import ingest_file

        ingested = ingest_file(Path(path))
        texts = [p.text for p in ingested.passages]
        langs = [p.language for p in ingested.passages]
        return self._similar_to_chunks(texts, langs, k, ingested.document.document_id, passages)

    def _similar_to_chunks(
        self, texts: list[str], languages: list[str], k: int, exclude_document: str | None, passages: bool
    ) -> list[SimilarItem]:
        import numpy as np

        if not texts or self.store.model() is None:
            return []
        matrix = np.concatenate(
            [self._get_embedder().embed_passages(texts[i : i + EMBED_CHUNK]) for i in range(0, len(texts), EMBED_CHUNK)]
        )
        offsets = self.language_offsets()
        if offsets is not None:
            matrix = offsets.center_passages(matrix, languages)
        target = normalize_rows(matrix.mean(axis=0))[0]
        exclude = self._same_documents(exclude_document) if exclude_document else set()
        if exclude_document and self.store.get_document(exclude_document) is None:
            exclude = set()
        if passages:
            return self._similar_passages_to(target, k, exclude)
        return self._similar_by_vector(target, k, exclude)

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


def _similar_item(sp: StoredPassage, score: float) -> SimilarItem:
    p = sp.passage
    return SimilarItem(
        document_id=p.document_id, title=sp.title, source=sp.source, language=p.language, score=round(score, 6),
        text=p.text, passage_id=p.passage_id, page=p.page_start, section=p.section,
    )  # fmt: skip


CHUNK_WORDS = 200  # like ingest's passages: long raw texts are embedded in pieces and averaged


def _chunks(text: str) -> list[str]:
    words = text.split()
    return [" ".join(words[i : i + CHUNK_WORDS]) for i in range(0, len(words), CHUNK_WORDS)]


def _language_weights(text: str) -> dict[str, float] | None:
    """Detector confidences per product language (None when detection is unavailable)."""
    try:
        from ingest.language import language_scores

        return language_scores(text) or None
    except Exception:  # detection is an optimisation here, never a reason to fail a search
        return None


def _guess_language(text: str) -> str:
    """The text's language for centring; "" (left uncentred) when detection is unavailable."""
    try:
        from ingest.language import detect_language

        return detect_language(text[:4000])[0] or ""
    except Exception:  # detection is an optimisation here, never a reason to fail
        return ""


def _copy_hit(hit: SearchHit) -> SearchHit:
    """The hit as one of a document hit's passages (no nesting, own duplicate list)."""
    import copy

    out = copy.copy(hit)
    out.passages, out.duplicates = [], []
    return out


def _hit(sp: StoredPassage, score: float) -> SearchHit:
    p = sp.passage
    return SearchHit(
        passage_id=p.passage_id, document_id=p.document_id, title=sp.title, source=sp.source, language=p.language,
        page=p.page_start, page_end=p.page_end, section=p.section, text=p.text, score=round(score, 6),
        themes=list(p.themes),
    )  # fmt: skip

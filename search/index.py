"""SearchIndex: the facade the CLI and API use. One directory holds the whole index:

    store.sqlite   documents, passages, vectors, FTS5 terms (the source of truth)
    vectors.faiss  FAISS index derived from the stored vectors (a cache; rebuilt when stale)
    manifest.json  what vectors.faiss was built from (model, dimension, count, generation)
    write.lock     fcntl lock held by the one process writing

Writes go to the store first (one transaction per document) and only then to the in-memory
vector index, so a crash at any point loses at most the document being written.

This module keeps the index's lifecycle (open/close, writes, the FAISS cache, stats, reads);
ranking is search.retrieval, turning rankings into pages of hits search.results, and similar
cases search.similar.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nordsearch.ingest.records import Document, IngestedFile, Passage
from nordsearch.search import lexical_cache, results
from nordsearch.search.centering import LanguageOffsets, parallel_texts, texts_fingerprint
from nordsearch.search.corpus_view import CorpusView
from nordsearch.search.embedder import QueryCache, embed_with_sentences
from nordsearch.search.errors import IndexLockedError, IndexMismatchError, IndexNotFoundError
from nordsearch.search.filters import DocumentFilter
from nordsearch.search.hubness import MAX_REFERENCE
from nordsearch.search.locking import ReadWriteLock, WriterLock
from nordsearch.search.query import SearchRequest, SearchResponse, SimilarItem
from nordsearch.search.retrieval import TIE_MARGIN, Retriever
from nordsearch.search.similar import SimilarCases
from nordsearch.search.store import Store, stored_language
from nordsearch.search.vectors import (
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

    from nordsearch.ingest.themes import ThemeTagger
    from nordsearch.search.embedder import Embedder
    from nordsearch.search.hubness import HubReference
    from nordsearch.search.lexical_index import LexicalIndex

STORE_FILE = "store.sqlite"
LOCK_FILE = "write.lock"
EMBED_CHUNK = 256  # passages embedded per call: bounds memory on very long documents
HYBRID_MIN_POOL = 50  # candidates taken from each list before fusion
# The hub reference (search.hubness) is rebuilt, and every hub score with it, when the passages
# added or removed since it was built reach this fraction of the collection: within a write
# session (add) 100%, so the first batch into an empty index doubles its reference as it grows;
# at its end (save) 10% once the reference is a sample (past hubness.MAX_REFERENCE passages), and
# any change below that, where the reference is the whole collection and a rebuild takes under a
# second. Scores are then exact for collections up to MAX_REFERENCE passages, and the total cost
# stays linear in the collection size. (Incremental scores against a stale whole-collection
# reference cost 0.045 cross-lingual R@10 on the dev set: translations indexed in the same batch
# were missing from each other's neighbours.)
HUB_REFRESH_AT_SAVE = 0.1
HUB_REFRESH_WHILE_WRITING = 1.0
GROUP_MIN_POOL = 400  # passages ranked when results are grouped by document
# FAISS holds each passage as [its language-centred vector, -(hub - mean hub)] and a query as
# [its vector, hub_weight], so the inner product FAISS ranks by is already the dense score
# cos - hub_weight * hub (plus the constant hub_weight * mean, taken off again): one search returns
# the exact top k, where ranking by cosine and re-scoring needed ever wider fetches when cosines
# are flat (a 100k-passage index fetched ~2,000 candidates and their hub scores per query).
# Centring the hub column keeps it small beside the vector, so the HNSW graph built over these
# rows is a graph of the vectors' own neighbourhoods.
HUB_COLUMNS = 1


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
    """The text embedded for a passage: the passage alone. Prefixing the document title was measured
    on the dev set and lowered nDCG@10 by 0.03 (README, "Variants measured"). Change it here only,
    then re-index with --rebuild."""
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
        # many searches at once, or one change to the in-memory vectors (search.locking)
        self._vec_lock = ReadWriteLock()
        self._vectors: VectorIndex | None = None
        self._vectors_generation = -1  # store generation the in-memory vectors reflect
        self._vectors_transform = ""  # transform_id() they were built with
        self._vectors_hub_mean = 0.0  # the mean hub score their hub column is centred on
        self._lexical: LexicalIndex | None = None  # BM25 (search.lexical_cache), under _vec_lock too
        self._lexical_generation = -1
        self._centering = centering
        self._offsets: LanguageOffsets | None = None
        self._transform: str | None = None
        self._view: CorpusView | None = None
        self._hub_reference: HubReference | None = None  # loaded by the writer, dropped with the lock
        self._query_cache = QueryCache()

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
            check_manifest(
                manifest, model[0], model[1] + HUB_COLUMNS, self.store.generation(), self.store.passage_count(),
                self.transform_id(),
            )  # fmt: skip

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
            from nordsearch.ingest.taxonomy import load_taxonomy
            from nordsearch.ingest.themes import ThemeTagger

            self._tagger = ThemeTagger(load_taxonomy(), embed_definitions=embedder.embed_passages)
        return self._tagger

    @property
    def embedder(self) -> Embedder:
        """The model this index embeds with (loaded on first use)."""
        return self._get_embedder()

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            from nordsearch.search.embedder import get_embedder

            embedder = get_embedder()
            self._check_embedder(embedder)
            self._embedder = embedder
        return self._embedder

    def _embed_passages(self, texts: list[str]) -> np.ndarray:
        """Passage vectors of ``texts``, embedded EMBED_CHUNK at a time."""
        return self._embed_with_sentences(texts, None)[0]

    def _embed_with_sentences(
        self, texts: list[str], spans: list[list[tuple[int, int]]] | None
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """Passage vectors of ``texts`` and, given sentence ``spans``, each sentence's vector from
        the same forward pass (None when the embedder cannot give them), EMBED_CHUNK at a time."""
        import numpy as np

        embedder = self._get_embedder()
        chunks, sentences = [], []
        for i in range(0, len(texts), EMBED_CHUNK):
            matrix, sent = embed_with_sentences(
                embedder,
                texts[i : i + EMBED_CHUNK],
                spans[i : i + EMBED_CHUNK] if spans is not None else None,
            )
            chunks.append(matrix)
            sentences.append(sent)
        matrix = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dimension), dtype=np.float32)
        if spans is None or any(s is None for s in sentences):
            return matrix, None
        return matrix, [v for sent in sentences for v in sent]  # type: ignore[union-attr]

    # -- writes ---------------------------------------------------------------------------------

    def has_current(self, source: str, content_hash: str) -> bool:
        """True if ``source`` is indexed with exactly these bytes (the indexer can skip it)."""
        return self.store.has_current(source, content_hash)

    def add(self, ingested: IngestedFile, *, mtime: float | None = None) -> Document:
        """Embed, tag and store one ingested file, replacing any earlier version (same id or same
        source). Takes the writer lock (held until save() or close()). ``mtime`` defaults to the
        source file's, when the source is a local file.
        """
        self._lock.acquire()
        embedder = self._get_embedder()
        if self.store.model() is None:
            self.store.set_model(embedder.name, embedder.dimension)
        else:
            self._check_embedder(embedder)
        doc = ingested.document
        vectors, sentence_vectors = self._embed_with_sentences(
            [passage_embedding_text(doc, p) for p in ingested.passages],
            [p.sentences for p in ingested.passages],
        )
        tag_themes(ingested, vectors, self._get_tagger(embedder))
        return self.add_embedded(ingested, vectors, sentence_vectors=sentence_vectors, mtime=mtime)

    def add_embedded(
        self, ingested: IngestedFile, vectors: np.ndarray, *,
        sentence_vectors: Sequence[np.ndarray | None] | None = None, mtime: float | None = None,
    ) -> Document:  # fmt: skip
        """Store one file whose passages were embedded (and tagged) elsewhere, with this index's
        model: everything ``add`` does after the model call (centring, hub scores, the in-memory
        vectors). The store checks the vectors' shape against its model."""
        self._lock.acquire()
        doc = ingested.document
        if mtime is None and os.path.isfile(doc.source):
            mtime = os.path.getmtime(doc.source)
        languages = [stored_language(p.language, doc.language) for p in ingested.passages]
        centred = self._center(vectors, languages)
        reference = self._writer_hub_reference()
        hubs = reference.scores(centred, languages) if reference is not None else None
        result = self.store.upsert_document(
            ingested, vectors, mtime=mtime, sentence_vectors=sentence_vectors, hubs=hubs
        )
        if hubs is None:  # not scored yet: counted as the lowest score, as the store reads them back
            hubs = self.store.hub_scores(result.added_ids)
        self._apply(
            result.generation_before, result.generation, result.removed_ids, result.added_ids,
            self._faiss_rows(centred, hubs, self._vectors_hub_mean),
        )  # fmt: skip
        self._refresh_hubs_if_stale(session_end=False)
        return self.store.get_document(doc.document_id) or doc

    # -- hub scores (search.hubness): kept in the store at write time -------------------------

    def _writer_hub_reference(self) -> HubReference | None:
        if self._hub_reference is None:
            self._hub_reference = self.store.hub_reference()
        return self._hub_reference

    def _refresh_hubs_if_stale(self, *, session_end: bool) -> None:
        """Rebuild the hub reference and rescore every passage when the collection changed enough
        since the last build (see HUB_REFRESH_AT_SAVE), or has none yet: a new index, or one from
        before hub scores were stored, whose passages all lack one. Writer only."""
        size, changes, _ = self.store.hub_state()
        if session_end and size <= MAX_REFERENCE:
            # the reference is the whole collection, so any passage written since is missing from
            # it (a translation added in the same batch is its nearest neighbour); exact is cheap
            stale = changes > 0
        else:
            stale = changes >= (HUB_REFRESH_AT_SAVE if session_end else HUB_REFRESH_WHILE_WRITING) * size
        if self.store.model() is None or (size and not stale):
            return
        from nordsearch.search.hubness import HubReference

        ids, matrix, _, languages = self.store.all_passage_vectors()
        reference, hubs = HubReference.build(self._center(matrix, languages), languages)
        self.store.put_hub_reference(reference, ids, hubs)
        self._hub_reference = reference

    def _apply(
        self, before: int, after: int, removed: list[int], added: list[int], rows: np.ndarray | None
    ) -> None:
        """Mirror our own committed write in the in-memory vectors (``rows``: the added passages as
        FAISS holds them) when they were current before it; otherwise leave them to catch up from
        the store on next use."""
        import numpy as np

        with self._vec_lock.write():
            vi = self._vectors
            if vi is None or self._vectors_generation != before:
                return
            vi.remove(np.asarray(removed, dtype=np.int64))
            if added and rows is not None:
                vi.add(np.asarray(added, dtype=np.int64), rows)
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
        """Write vectors.faiss + manifest.json and lexical.npz + lexical.json (each atomically)
        unless the saved ones are current. Ends the writing session (releases the writer lock).
        True if something was written."""
        try:
            if self._lock.held:  # we wrote in this session: bring hub scores up to date first
                self._refresh_hubs_if_stale(session_end=True)
            model = self.store.model()
            if model is None:
                return False
            wrote = False
            if not self._disk_is_current(model, self.store.generation()):  # reads the manifest only
                self._lock.acquire()  # before _vec_lock: waiting for another writer must not block searches
                with self._vec_lock.write():
                    vectors = self._ensure_vectors(in_search=False)
                    if vectors is not None:
                        vectors = self._maybe_change_kind(vectors)
                        vectors.save(
                            self.path, model=model[0], generation=self._vectors_generation,
                            transform=self._vectors_transform,
                        )  # fmt: skip
                        wrote = True
            if lexical_cache.saved_generation(self.path) != self.store.generation():
                self._lock.acquire()
                index = self._lexical_index()
                with self._vec_lock.read():  # a consistent snapshot: no catch-up while writing it
                    lexical_cache.save(index, self.path, self._lexical_generation)
                wrote = True
            return wrote
        finally:
            self._hub_reference = None  # another writer may rebuild it once we let go
            self._lock.release()

    # -- the lexical index (search.lexical_cache): derived from the store like FAISS -------------

    def _lexical_index(self) -> LexicalIndex:
        """The BM25 index, current with the store: in memory, else from disk, else built."""
        index = self._lexical
        if index is not None and self._lexical_generation == self.store.generation():
            return index
        with self._vec_lock.write():
            generation = self.store.generation()  # before reading passages: never labelled newer
            if self._lexical is not None and self._lexical_generation == generation:
                return self._lexical
            if self._lexical is None:
                loaded = lexical_cache.load(self.path)
                if loaded is not None:
                    self._lexical, self._lexical_generation = loaded.index, loaded.generation
                    if loaded.generation == generation:
                        return loaded.index
            index = self._lexical
            if index is None:
                self._lexical = index = lexical_cache.build(self.store)
                if not self._lock.held:  # a writer of our own saves it at save(); keep a build for others
                    self._unless_writing(lambda: lexical_cache.save(index, self.path, generation))
            else:
                lexical_cache.catch_up(index, self.store)  # small: left for save() to persist
            self._lexical_generation = generation
            return index

    def _lexical_search(
        self, terms: list[str], allowed: np.ndarray | None, k: int
    ) -> list[tuple[int, float]]:
        index = self._lexical_index()
        with self._vec_lock.read():
            return index.search(terms, k, allowed)

    def _lexical_count(self, terms: list[str], allowed: np.ndarray | None) -> int:
        index = self._lexical_index()
        with self._vec_lock.read():
            return index.match_count(terms, allowed)

    def _disk_is_current(self, model: tuple[str, int], generation: int) -> bool:
        man = _read_manifest(self.path)
        return (
            man is not None
            and (man.model, man.dimension, man.generation) == (model[0], model[1] + HUB_COLUMNS, generation)
            and man.count == self.store.passage_count()
            and man.index_type == _wanted_kind(man.count, man.index_type, self._hnsw_threshold)
            and len(man.deleted_ids) <= COMPACT_FRACTION * max(man.count + len(man.deleted_ids), 1)
            and man.transform == self.transform_id()
            and (self.path / VECTORS_FILE).exists()
        )

    # -- language centring ---------------------------------------------------------------------

    def transform_id(self) -> str:
        """Names the transform FAISS vectors get (recorded in the manifest): the language centring
        ("center-<fingerprint of its parallel text>") and the hub scores ("hub-<their id>")."""
        return self._transform_and_hub_mean()[0]

    def _transform_and_hub_mean(self) -> tuple[str, float]:
        if self._transform is None:
            self._transform = f"center-{texts_fingerprint(parallel_texts())}" if self._centering else ""
        stamp, mean = self.store.hub_stamp()  # one read: the id and the mean belong together
        return f"{self._transform}+hub-{stamp or 'none'}", mean

    def language_offsets(self) -> LanguageOffsets | None:
        """Per-language offsets of this index's model (see search.centering); None when centring
        is off. Computed once from the taxonomy's parallel text and kept in the store."""
        if not self._centering or self.store.model() is None:
            return None
        if self._offsets is not None:
            return self._offsets
        self.transform_id()
        fingerprint = (self._transform or "").removeprefix("center-")
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
        if self.language_offsets() is None or not len(ids):
            return matrix
        info = self.store.passage_info(ids.tolist())
        return self._center(matrix, [info.get(int(i), ("", ""))[1] for i in ids])

    def _center(self, matrix: np.ndarray, languages: list[str]) -> np.ndarray:
        """Vectors of passages in ``languages`` as FAISS holds them."""
        offsets = self.language_offsets()
        if offsets is None or not len(matrix):
            return matrix
        return offsets.center_passages(matrix, languages)

    def centered_vectors(self, vector_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, language-centred vectors) of stored passages (ids deleted meanwhile are absent)."""
        ids, matrix = self.store.vectors_for(vector_ids)
        return ids, self._prepare(ids, matrix)

    @staticmethod
    def _faiss_rows(centred: np.ndarray, hubs: np.ndarray, hub_mean: float) -> np.ndarray:
        """Centred vectors with their hub column, as FAISS holds them (see HUB_COLUMNS)."""
        import numpy as np

        column = -(np.asarray(hubs, dtype=np.float32) - np.float32(hub_mean))
        return np.hstack([np.asarray(centred, dtype=np.float32), column.reshape(-1, 1)])

    # -- vectors --------------------------------------------------------------------------------

    def _build_from_store(self, *, in_search: bool = False) -> VectorIndex | None:
        """A fresh index of every stored vector. Inside a search it is always flat: building HNSW
        takes minutes on large collections (~100 s for 60k passages on 2 cores), which is save()'s
        job, not a query's."""
        import numpy as np

        model = self.store.model()
        # the transform is read before the vectors and hub scores, so the index is never labelled
        # newer than it is: new scores in between are noticed on next use and rebuilt
        transform, hub_mean = self._transform_and_hub_mean()
        view = self._corpus()  # the same snapshot the corpus-wide statistics use: read once
        if model is None or view is None:
            return None
        hub_ids, hubs = self.store.all_hubs()
        at = np.minimum(np.searchsorted(hub_ids, view.ids), max(len(hub_ids) - 1, 0))
        found = hub_ids[at] == view.ids if len(hub_ids) else np.zeros(len(view.ids), dtype=bool)
        view_hubs = np.where(found, hubs[at] if len(hubs) else 0.0, self.store.hub_min())
        # the view's generation was read before its vectors (see _corpus), so the index is never
        # labelled newer than it is: a write in between is caught up on next use
        self._vectors_generation = view.generation
        self._vectors_transform, self._vectors_hub_mean = transform, hub_mean
        threshold = sys.maxsize if in_search else self._hnsw_threshold
        return VectorIndex.build(
            view.ids, self._faiss_rows(view.matrix, view_hubs, hub_mean), dimension=model[1] + HUB_COLUMNS,
            hnsw_threshold=threshold,
        )  # fmt: skip

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
            hubs = self.store.hub_scores(ids.tolist())
            vi.add(ids, self._faiss_rows(self._prepare(ids, matrix), hubs, self._vectors_hub_mean))
        self._vectors_generation = generation

    def _ensure_vectors(self, *, in_search: bool = True) -> VectorIndex | None:
        """The vector index, current with the store: in memory, else from disk, else rebuilt.

        A saved index whose manifest names another model raises IndexMismatchError; one saved at
        another generation or count (e.g. a crash after the last commit, or another process
        writing) is brought up to date from the store's vectors and, if nobody is writing right
        now, saved again.
        """
        with self._vec_lock.write():
            model = self.store.model()
            if model is None:
                return None
            # the transform before the generation: new hub scores bump the generation after
            # writing the new stamp, so a stamp that still matches cannot hide newer scores
            transform, hub_mean = self._transform_and_hub_mean()
            generation = self.store.generation()
            if self._vectors is not None and self._vectors_transform != transform:
                self._vectors = None  # new hub scores (or centring): every row changed, start over
            if self._vectors is not None and self._vectors_generation == generation:
                return self._vectors
            if self._vectors is None:
                loaded = VectorIndex.load(self.path)
                if loaded is not None:
                    vi, manifest = loaded
                    current = check_manifest(
                        manifest, model[0], model[1] + HUB_COLUMNS, generation, self.store.passage_count(),
                        transform,
                    )  # fmt: skip
                    # a file built with another transform cannot be caught up: rebuild it
                    if manifest.transform == transform:
                        self._vectors, self._vectors_generation = vi, manifest.generation
                        self._vectors_transform, self._vectors_hub_mean = transform, hub_mean
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
        """Persist a brought-up-to-date vector index, unless another process is writing right now."""
        model = self.store.model()
        if self._vectors is None or model is None:
            return
        vectors, generation, transform = self._vectors, self._vectors_generation, self._vectors_transform
        self._unless_writing(
            lambda: vectors.save(self.path, model=model[0], generation=generation, transform=transform)
        )

    def _unless_writing(self, save: Callable[[], object]) -> None:
        """Run ``save`` holding the writer lock, but only if nobody else holds it: a derived file
        rebuilt inside a search (e.g. of an index from an older nordsearch) is kept for the next
        process, and a search never waits for a writer."""
        temp = None
        if not self._lock.held:
            temp = WriterLock(self.path / LOCK_FILE, timeout=0)
            try:
                temp.acquire()
            except IndexLockedError:
                return
        try:
            save()
        finally:
            if temp is not None:
                temp.release()

    # -- search ---------------------------------------------------------------------------------

    def warm(self) -> None:
        """Load now what the first search would: the vectors, the lexical index, the language
        offsets and the model (a server calls this before it reports ready)."""
        if self.store.model() is None:
            return
        self._ensure_vectors()
        self._lexical_index()
        self.language_offsets()
        self._get_embedder().embed_queries(["warm-up"])

    def search(self, request: SearchRequest) -> SearchResponse:
        filters = request.filter()
        need = request.offset + request.k
        # how many ranked passages to look at: a page of documents needs more passages than a
        # page of passages (several passages per document, duplicates collapsed away)
        pool = (
            max(need * 3, HYBRID_MIN_POOL) if request.group == "passage" else max(need * 20, GROUP_MIN_POOL)
        )
        ranked, total, qv = self._retriever().rank(request, filters, pool)
        hits, has_more, sentences = results.assemble(self.store, ranked, request)
        if request.snippets and hits:
            results.add_snippets(hits, request.q, qv, sentences, offsets=self.language_offsets)
        return SearchResponse(
            query=request.q,
            mode=request.mode,
            total=total,
            results=hits,
            group=request.group,
            has_more=has_more,
        )

    def _retriever(self) -> Retriever:
        # built per use (it holds nothing but these references), so it never keeps the index
        # alive through a reference cycle
        return Retriever(
            self.store, nearest=self._nearest, corpus=self._corpus, centered_vectors=self.centered_vectors,
            offsets=self.language_offsets, embedder=self._get_embedder, query_cache=self._query_cache,
            lexical=self._lexical_search, lexical_count=self._lexical_count,
        )  # fmt: skip

    def _nearest(
        self, qv: np.ndarray, k: int, allowed: np.ndarray | None, hub_weight: float = 0.0
    ) -> list[tuple[int, float]]:
        """The k passages of best dense score with ``qv`` (FAISS), ties by id: cosine minus
        ``hub_weight`` times the passage's hub score (see HUB_COLUMNS)."""
        import numpy as np

        if self._vectors is None or self._vectors_generation != self.store.generation():
            self._ensure_vectors()  # catching up takes the write side; the common case does not
        # FAISS searches run side by side, but never beside a change to the index they read
        with self._vec_lock.read():
            vi, hub_mean = self._vectors, self._vectors_hub_mean
            if vi is None:
                return []
            query = np.append(np.asarray(qv, dtype=np.float32), np.float32(hub_weight))
            # a few extra so that equal scores (duplicate boilerplate passages) cut at the page edge
            # are ordered by id, not by FAISS's arbitrary pick: pages then never overlap
            scores, ids = vi.search(query[None, :], k + TIE_MARGIN, allowed)
        offset = hub_weight * hub_mean
        hits = [(int(i), float(s) - offset) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        return sorted(hits, key=lambda h: (-h[1], h[0]))[:k]

    def _corpus(self) -> CorpusView | None:
        """Every passage's vector as FAISS holds it, with its document and language, for the
        corpus-wide statistics; cached per store generation."""
        # generation read before the vectors: a write in between leaves the view labelled older
        # than it is, so it is rebuilt on next use rather than trusted too long
        generation = self.store.generation()
        view = self._view
        if view is not None and view.generation == generation:
            return view
        if self.store.model() is None:
            return None
        ids, matrix, documents, languages = self.store.all_passage_vectors()
        self._view = view = CorpusView(generation, ids, self._center(matrix, languages), documents, languages)
        return view

    # -- similar cases (search.similar) ---------------------------------------------------------

    def _similar_cases(self) -> SimilarCases:
        # built per use, like _retriever
        return SimilarCases(
            self.store, corpus=self._corpus, centered_vectors=self.centered_vectors,
            dense=self._retriever().dense, embed_passages=self._embed_passages, offsets=self.language_offsets,
        )  # fmt: skip

    def similar_documents(self, document_id: str, k: int = 10) -> list[SimilarItem]:
        """The k documents most similar to ``document_id`` in any language (itself excluded);
        [] when it is not indexed."""
        return self._similar_cases().similar_documents(document_id, k)

    def similar_passages(self, passage_id: str, k: int = 10) -> list[SimilarItem] | None:
        """Passages of other documents most similar to one passage; None when it does not exist."""
        return self._similar_cases().similar_passages(passage_id, k)

    def similar_to_text(
        self, text: str, k: int = 10, exclude_document: str | None = None, *, passages: bool = False,
        language: str | None = None,
    ) -> list[SimilarItem]:  # fmt: skip
        """Documents (or, with passages=True, passages) most similar to a raw text in any language.
        Long texts are cut into ~200-word chunks whose vectors are averaged, like a document's."""
        return self._similar_cases().similar_to_text(
            text, k, exclude_document, passages=passages, language=language
        )

    def similar_to_file(self, path: Path, k: int = 10, *, passages: bool = False) -> list[SimilarItem]:
        """Documents most similar to a file that need not be indexed (the file itself excluded if it is)."""
        return self._similar_cases().similar_to_file(path, k, passages=passages)

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
        with self._vec_lock.read():
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

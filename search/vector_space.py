"""VectorSpace: the index's passages as vectors in one space, as retrieval and similar cases read them.

It owns what turns stored vectors into comparable ones and keeps them searchable in memory:

- the embedder (loaded on first use) and the check that it is the index's model;
- language centring (search.index_centering) and the transform id recorded with vectors.faiss;
- the corpus view (every centred vector with its document and language, for corpus-wide statistics);
- the FAISS vector index and the BM25 lexical index, both derived from the store and kept current
  with it through the store's generation counter.

Reads never write: a derived file that is missing or stale on disk is built (or caught up) in
memory only; persisting derived files is the writer's job (search.indexer calls ``save``). All
in-memory state changes under one read-write lock, so searches run side by side but never beside
a change to what they read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nordsearch.search import lexical_cache
from nordsearch.search.corpus_view import CorpusView
from nordsearch.search.dense_layout import HUB_COLUMNS, TIE_MARGIN, faiss_rows, read_manifest, wanted_kind
from nordsearch.search.embedder import QueryCache, embed_with_sentences
from nordsearch.search.errors import IndexMismatchError
from nordsearch.search.index_centering import IndexCentering
from nordsearch.search.locking import ReadWriteLock
from nordsearch.search.model_cache import ModelCache
from nordsearch.search.vector_manifest import VECTORS_FILE, check_manifest
from nordsearch.search.vectors import COMPACT_FRACTION, VectorIndex

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.embedder import Embedder
    from nordsearch.search.lexical_index import LexicalIndex
    from nordsearch.search.store import Store

EMBED_CHUNK = 256  # passages embedded per call: bounds memory on very long documents


class VectorSpace:
    def __init__(
        self, path: Path, store: Store, embedder: Callable[[], Embedder], *, hnsw_threshold: int,
        centering: bool = True, model_cache: Path | None = None,
    ) -> None:  # fmt: skip
        self.path = path
        # the model's vectors of the product's fixed texts (centring, theme definitions), kept on disk
        self.fixed_texts = ModelCache(model_cache, lambda: self.embedder)
        self.store = store
        self._load_embedder = embedder
        self._embedder: Embedder | None = None
        self._hnsw_threshold = hnsw_threshold
        self.lock = ReadWriteLock()  # many searches at once, or one change to what they read
        self._vectors: VectorIndex | None = None
        self._vectors_generation = -1  # store generation the in-memory vectors reflect
        self._vectors_transform = ""  # transform_id() they were built with
        self._vectors_hub_mean = 0.0  # the mean hub score their hub column is centred on
        self._lexical = lexical_cache.Current(path)
        self.centering = IndexCentering(store, self.fixed_texts, enabled=centering)
        self._view: CorpusView | None = None
        self.query_cache = QueryCache()

    # -- the model ------------------------------------------------------------------------------

    def check_embedder(self, embedder: Embedder) -> None:
        stored = self.store.model()
        if stored is None:
            return
        name, dim = stored
        if embedder.name != name or embedder.dimension != dim:
            raise IndexMismatchError(
                f"index at {self.path} was built with model {name!r} (dimension {dim}), not {embedder.name!r}; "
                f"re-index with --rebuild or use the model {name!r}"
            )

    @property
    def embedder(self) -> Embedder:
        """The model this index embeds with (loaded and checked on first use)."""
        if self._embedder is None:
            embedder = self._load_embedder()
            self.check_embedder(embedder)
            self._embedder = embedder
        return self._embedder

    def embed_with_sentences(
        self, texts: list[str], spans: list[list[tuple[int, int]]] | None
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """Passage vectors of ``texts`` and, given sentence ``spans``, each sentence's vector from
        the same forward pass (None when the embedder cannot give them), EMBED_CHUNK at a time."""
        return embed_with_sentences(self.embedder, texts, spans, chunk=EMBED_CHUNK)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.embed_with_sentences(texts, None)[0]

    # -- language centring (search.index_centering) --------------------------------------------

    def transform_id(self) -> str:
        """Names the transform FAISS vectors get (recorded in the manifest): the language centring
        ("center-<fingerprint of its parallel text>") and the hub scores ("hub-<their id>")."""
        return self._transform_and_hub_mean()[0]

    def _transform_and_hub_mean(self) -> tuple[str, float]:
        stamp, mean = self.store.hub_stamp()  # one read: the id and the mean belong together
        return f"{self.centering.transform()}+hub-{stamp or 'none'}", mean

    def centered_vectors(self, vector_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, language-centred vectors) of stored passages (ids deleted meanwhile are absent)."""
        ids, matrix = self.store.vectors_for(vector_ids)
        return ids, self.centering.prepare(ids, matrix)

    def corpus(self) -> CorpusView | None:
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
        self._view = view = CorpusView(
            generation, ids, self.centering.center(matrix, languages), documents, languages
        )
        return view

    # -- the vector index -----------------------------------------------------------------------

    @property
    def hub_mean(self) -> float:
        """The mean hub score the in-memory vectors' hub column is centred on."""
        return self._vectors_hub_mean

    @property
    def kind(self) -> str | None:
        return self._vectors.kind if self._vectors is not None else None

    def _build_from_store(self, *, in_search: bool) -> VectorIndex | None:
        """A fresh index of every stored vector. Inside a search it is always flat: building HNSW
        takes minutes on large collections (~100 s for 60k passages on 2 cores), which is save()'s
        job, not a query's."""
        import numpy as np

        model = self.store.model()
        # the transform is read before the vectors and hub scores, so the index is never labelled
        # newer than it is: new scores in between are noticed on next use and rebuilt
        transform, hub_mean = self._transform_and_hub_mean()
        view = self.corpus()  # the same snapshot the corpus-wide statistics use: read once
        if model is None or view is None:
            return None
        hub_ids, hubs = self.store.all_hubs()
        at = np.minimum(np.searchsorted(hub_ids, view.ids), max(len(hub_ids) - 1, 0))
        found = hub_ids[at] == view.ids if len(hub_ids) else np.zeros(len(view.ids), dtype=bool)
        view_hubs = np.where(found, hubs[at] if len(hubs) else 0.0, self.store.hub_min())
        # the view's generation was read before its vectors (see corpus), so the index is never
        # labelled newer than it is: a write in between is caught up on next use
        self._vectors_generation = view.generation
        self._vectors_transform, self._vectors_hub_mean = transform, hub_mean
        threshold = sys.maxsize if in_search else self._hnsw_threshold
        return VectorIndex.build(
            view.ids, faiss_rows(view.matrix, view_hubs, hub_mean), dimension=model[1] + HUB_COLUMNS,
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
            vi.add(ids, faiss_rows(self.centering.prepare(ids, matrix), hubs, self._vectors_hub_mean))
        self._vectors_generation = generation

    def vectors(self, *, in_search: bool = True) -> VectorIndex | None:
        """The vector index, current with the store: in memory, else from disk, else built.

        A saved index whose manifest names another model raises IndexMismatchError; one saved at
        another generation or count (a crash after the last commit, another process writing) is
        brought up to date from the store's vectors, in memory.
        """
        with self.lock.write():
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
            return self._vectors

    def apply(
        self, before: int, after: int, removed: list[int], added: list[int], rows: np.ndarray | None
    ) -> None:
        """Mirror a committed write in the in-memory vectors (``rows``: the added passages as FAISS
        holds them) when they were current before it; otherwise leave them to catch up from the
        store on next use."""
        import numpy as np

        with self.lock.write():
            vi = self._vectors
            if vi is None or self._vectors_generation != before:
                return
            vi.remove(np.asarray(removed, dtype=np.int64))
            if added and rows is not None:
                vi.add(np.asarray(added, dtype=np.int64), rows)
            self._vectors_generation = after

    def _ensure_current(self) -> None:
        """Catch the in-memory vectors up with the store when it moved on: that takes the write
        side of the lock, the common case (current) does not."""
        if self._vectors is None or self._vectors_generation != self.store.generation():
            self.vectors()

    def nearest(
        self, qv: np.ndarray, k: int, allowed: np.ndarray | None, hub_weight: float = 0.0
    ) -> list[tuple[int, float]]:
        """The k passages of best dense score with ``qv`` (FAISS), ties by id: cosine minus
        ``hub_weight`` times the passage's hub score (see HUB_COLUMNS)."""
        import numpy as np

        self._ensure_current()
        with self.lock.read():
            vi, hub_mean = self._vectors, self._vectors_hub_mean
            if vi is None:
                return []
            query = np.append(np.asarray(qv, dtype=np.float32), np.float32(hub_weight))
            scores, ids = vi.search(query[None, :], k + TIE_MARGIN, allowed)
        offset = hub_weight * hub_mean
        hits = [(int(i), float(s) - offset) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        return sorted(hits, key=lambda h: (-h[1], h[0]))[:k]

    def dense_scores(
        self, qv: np.ndarray, vector_ids: list[int], hub_weight: float = 0.0
    ) -> dict[int, float]:
        """The dense score ``nearest`` gives each of ``vector_ids``, from the rows FAISS holds (the
        centred vector and hub column), so no store read; ids FAISS does not hold are absent."""
        import numpy as np

        self._ensure_current()
        with self.lock.read():
            vi, hub_mean = self._vectors, self._vectors_hub_mean
            if vi is None or not vector_ids:
                return {}
            ids = vi.live_subset(np.asarray(vector_ids, dtype=np.int64))
            rows = vi.reconstruct(ids)
        query = np.append(np.asarray(qv, dtype=np.float32), np.float32(hub_weight))
        scores = rows @ query - np.float32(hub_weight * hub_mean)
        return dict(zip(ids.tolist(), scores.tolist(), strict=True))

    # -- the lexical index (search.lexical_cache) -----------------------------------------------

    def lexical_index(self) -> LexicalIndex:
        """The BM25 index, current with the store: in memory, else from disk, else built."""
        return self._lexical.get(self.store, self.lock)

    def lexical_search(self, terms: list[str], allowed: np.ndarray | None, k: int) -> list[tuple[int, float]]:
        index = self.lexical_index()
        with self.lock.read():
            return index.search(terms, k, allowed)

    def lexical_presence(self, terms: list[str], ids: list[int]) -> dict[int, frozenset[str]]:
        """Which of ``terms`` each passage of ``ids`` holds (LexicalIndex.present_terms)."""
        index = self.lexical_index()
        with self.lock.read():
            return index.present_terms(terms, ids)

    def lexical_matches(self, terms: list[str], allowed: np.ndarray | None) -> np.ndarray:
        """Ids (sorted) of the passages holding any of ``terms``, among ``allowed`` if given."""
        index = self.lexical_index()
        with self.lock.read():
            return index.matches(terms, allowed)

    # -- persistence (the writer's) -------------------------------------------------------------

    def disk_is_current(self) -> bool:
        """True when vectors.faiss on disk matches the store and needs no rebuild (reads the manifest only)."""
        model = self.store.model()
        man = read_manifest(self.path)
        return (
            model is not None
            and man is not None
            and (man.model, man.dimension, man.generation)
            == (model[0], model[1] + HUB_COLUMNS, self.store.generation())
            and man.count == self.store.passage_count()
            and man.index_type == wanted_kind(man.count, man.index_type, self._hnsw_threshold)
            and len(man.deleted_ids) <= COMPACT_FRACTION * max(man.count + len(man.deleted_ids), 1)
            and man.transform == self.transform_id()
            and (self.path / VECTORS_FILE).exists()
        )

    def is_saved(self) -> bool:
        """True when both derived files on disk are current with the store (nothing for save to do)."""
        return self.disk_is_current() and lexical_cache.saved_generation(self.path) == self.store.generation()

    def save(self) -> bool:
        """Write vectors.faiss + manifest.json and lexical.npz + lexical.json (each atomically)
        unless the saved ones are current; True if something was written. The caller holds the
        writer lock."""
        model = self.store.model()
        if model is None:
            return False
        wrote = False
        if not self.disk_is_current():
            with self.lock.write():
                vectors = self.vectors(in_search=False)
                if vectors is not None:
                    if vectors.kind != wanted_kind(vectors.count, vectors.kind, self._hnsw_threshold) or (
                        vectors.needs_compaction
                    ):
                        # the size crossed the HNSW threshold or too many HNSW vectors are masked
                        vectors = self._build_from_store(in_search=False) or vectors
                        self._vectors = vectors
                    vectors.save(
                        self.path, model=model[0], generation=self._vectors_generation,
                        transform=self._vectors_transform,
                    )  # fmt: skip
                    wrote = True
        return self._lexical.save(self.store, self.lock) or wrote

    def check_saved_manifest(self) -> None:
        """Fail at open, not at the first query, when vectors.faiss belongs to another model."""
        model = self.store.model()
        manifest = read_manifest(self.path)
        if model is not None and manifest is not None:
            check_manifest(
                manifest, model[0], model[1] + HUB_COLUMNS, self.store.generation(), self.store.passage_count(),
                self.transform_id(),
            )  # fmt: skip

    def warm(self) -> None:
        """Load now what the first search would: the vectors, the lexical index, the language
        offsets and the model (a server calls this before it reports ready)."""
        if self.store.model() is None:
            return
        self.vectors()
        self.lexical_index()
        self.centering.offsets()
        self.embedder.embed_queries(["warm-up"])

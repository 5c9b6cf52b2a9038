"""SearchIndex: the facade the CLI and API use, over one directory that holds the whole index:

    store.sqlite   documents, passages, vectors, hub scores (the source of truth)
    vectors.faiss  FAISS index derived from the stored vectors (a cache; rebuilt when stale)
    manifest.json  what vectors.faiss was built from (model, dimension, count, generation, transform)
    lexical.npz    the BM25 index derived from the stored terms (+ lexical.json, its manifest)
    write.lock     fcntl lock held by the one process writing

The work is done by two parts this facade wires together: search.vector_space (what reads see:
the model, centring, the in-memory vector and lexical indexes) and search.indexer (the write
pipeline, holding the writer lock). Ranking is search.retrieval, pages of hits search.results,
similar cases search.similar. Reads never write and never take the writer lock: a search while
another process indexes answers from the committed state at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nordsearch.ingest.records import Document, IngestedFile, Passage
from nordsearch.search import results
from nordsearch.search.dense_layout import read_manifest
from nordsearch.search.errors import AmbiguousDocumentIdError, IndexNotFoundError, UnknownDocumentError
from nordsearch.search.filters import DocumentFilter
from nordsearch.search.indexer import LOCK_FILE, Indexer, passage_embedding_text
from nordsearch.search.locking import WriterLock
from nordsearch.search.place_groups import search_by_place
from nordsearch.search.query import PLACE_GROUPS, SearchRequest, SearchResponse, SimilarItem
from nordsearch.search.retrieval import Retriever, language_weights
from nordsearch.search.similar import SimilarCases
from nordsearch.search.store import Store
from nordsearch.search.vector_manifest import MANIFEST_FILE, VECTORS_FILE
from nordsearch.search.vector_space import VectorSpace
from nordsearch.search.vectors import DEFAULT_HNSW_THRESHOLD

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.ingest.settings import Settings
    from nordsearch.ingest.themes import ThemeTagger
    from nordsearch.search.centering import LanguageOffsets
    from nordsearch.search.embedder import Embedder
    from nordsearch.search.store import FileState

__all__ = ["IndexStats", "SearchIndex", "passage_embedding_text"]

STORE_FILE = "store.sqlite"
HYBRID_MIN_POOL = 50  # candidates taken from each list before fusion
GROUP_MIN_POOL = 400  # passages ranked when results are grouped by document


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
    documents_by_country: dict[str, int] = field(default_factory=dict)  # metadata "country", as written

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SearchIndex:
    def __init__(
        self, path: Path, store: Store, embedder: Embedder | None, *, hnsw_threshold: int, lock_timeout: float,
        centering: bool = True, theme_thresholds: Path | None = None, settings: Settings | None = None,
    ) -> None:  # fmt: skip
        self.path = path
        self.store = store
        self._given_embedder = embedder
        self._settings = settings
        self.space = VectorSpace(
            path, store, self._load_embedder, hnsw_threshold=hnsw_threshold, centering=centering,
            model_cache=settings.cache_dir / "vectors" if settings is not None else None,
        )  # fmt: skip
        self._theme_thresholds = theme_thresholds
        self.indexer = Indexer(path, store, self.space, lock_timeout=lock_timeout, tagger=self._make_tagger)

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, embedder: Embedder | None = None, create: bool = True, *, rebuild: bool = False,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD, lock_timeout: float = 30.0, centering: bool = True,
        theme_thresholds: Path | None = None, settings: Settings | None = None,
    ) -> SearchIndex:  # fmt: skip
        """Open (or create) the index in directory ``path``.

        ``rebuild=True`` deletes whatever index is there first (the CLI's --rebuild). An
        ``embedder`` whose model differs from the one the index was built with raises
        IndexMismatchError; without one, the configured model is loaded on first dense search.
        ``theme_thresholds``: a tuned thresholds file for the tagger (else the shipped ones).
        ``settings`` (the caller's, built at its edge) choose the model loaded when no embedder is
        given and how similar_to_file cuts a file; without them, the defaults and NORDSEARCH_*.
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
            centering=centering, theme_thresholds=theme_thresholds, settings=settings,
        )  # fmt: skip
        try:
            index.space.check_saved_manifest()
            if embedder is not None:
                index.space.check_embedder(embedder)
        except BaseException:
            index.close()
            raise
        return index

    def close(self) -> None:
        """Release the writer lock and the database. Does not save: call save() (or use ``with``)."""
        self.indexer.lock.release()
        self.store.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None and self.indexer.writing:  # a reader's ``with`` never writes
                self.save()
        finally:
            self.close()

    @property
    def settings(self) -> Settings:
        if self._settings is None:  # a library caller that gave none: the defaults and NORDSEARCH_*
            from nordsearch.ingest.settings import Settings

            self._settings = Settings()
        return self._settings

    def _load_embedder(self) -> Embedder:
        if self._given_embedder is not None:
            return self._given_embedder
        from nordsearch.search.embedder import get_embedder

        return get_embedder(self.settings)

    def _make_tagger(self) -> ThemeTagger:
        from nordsearch.ingest.taxonomy import load_taxonomy
        from nordsearch.ingest.themes import ThemeTagger, load_thresholds

        tuned = self._theme_thresholds
        return ThemeTagger(
            load_taxonomy(), embed_definitions=lambda texts: self.space.fixed_texts.embed("passage", texts),
            thresholds=load_thresholds(tuned if tuned is not None and tuned.exists() else None),
        )  # fmt: skip

    @property
    def embedder(self) -> Embedder:
        """The model this index embeds with (loaded on first use)."""
        return self.space.embedder

    # -- writes (search.indexer) ----------------------------------------------------------------

    def file_state(self, source: str) -> FileState | None:
        return self.indexer.file_state(source)

    def touch_file(self, source: str, mtime: float | None, size: int | None) -> None:
        self.indexer.touch_file(source, mtime, size)

    def prepare(self) -> None:
        """Get ready to write (see Indexer.prepare)."""
        self.indexer.prepare()

    def add(self, ingested: IngestedFile, *, mtime: float | None = None) -> Document:
        """Embed, tag and store one ingested file (see Indexer.add). Takes the writer lock, held
        until save() or close()."""
        return self.indexer.add(ingested, mtime=mtime)

    def add_embedded(
        self, ingested: IngestedFile, vectors: np.ndarray, *,
        sentence_vectors: Sequence[np.ndarray | None] | None = None, mtime: float | None = None,
    ) -> Document:  # fmt: skip
        return self.indexer.add_embedded(ingested, vectors, sentence_vectors=sentence_vectors, mtime=mtime)

    def remove(self, document_id: str) -> bool:
        return self.indexer.remove(document_id)

    def remove_source(self, source: str) -> bool:
        return self.indexer.remove_source(source)

    def prune(self, existing_sources: Iterable[str]) -> list[tuple[str, str]]:
        return self.indexer.prune(existing_sources)

    def save(self) -> bool:
        """End the writing session: hub scores, then the derived files (see Indexer.save)."""
        return self.indexer.save()

    # -- what reads see (search.vector_space) ---------------------------------------------------

    def transform_id(self) -> str:
        return self.space.transform_id()

    def language_offsets(self) -> LanguageOffsets | None:
        return self.space.centering.offsets()

    def centered_vectors(self, vector_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        return self.space.centered_vectors(vector_ids)

    def warm(self) -> None:
        """Load now what the first search would (a server calls this before it reports ready): the
        vectors, lexical index, offsets and model, and the query language detector (under load the
        first searches of a process all waited for it)."""
        self.space.warm()
        self.store.document_count(None)  # the document spans a grouped search's total counts in
        if self.store.model() is not None:
            language_weights("warm-up")

    # -- search ---------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResponse:
        if request.group in PLACE_GROUPS:
            return search_by_place(self.search, self.store, request)
        filters = request.filter()
        need = request.offset + request.k
        # how many ranked passages to look at: a page of documents needs more passages than a
        # page of passages (several passages per document, duplicates collapsed away)
        pool = (
            max(need * 3, HYBRID_MIN_POOL) if request.group == "passage" else max(need * 20, GROUP_MIN_POOL)
        )
        ranking = self._retriever().rank(request, filters, pool)
        hits, has_more, sentences = results.assemble(self.store, ranking.ranked, request)
        if request.snippets and hits:
            offsets = self.space.centering.offsets
            results.add_snippets(hits, request.q, ranking.query_vector, sentences, offsets=offsets)
        return SearchResponse(
            query=request.q, mode=request.mode, total=ranking.total, results=hits, group=request.group,
            has_more=has_more, facets=self.store.facet_counts(ranking.matching),
        )  # fmt: skip

    def _retriever(self) -> Retriever:
        # built per use (it holds nothing but references), so it never keeps the index alive
        # through a reference cycle
        return Retriever(self.store, self.space)

    # -- similar cases (search.similar) ---------------------------------------------------------

    def _similar_cases(self) -> SimilarCases:
        return SimilarCases(self.store, self.space, dense=self._retriever().dense)

    def similar_documents(
        self, document_id: str, k: int = 10, *, other_languages: bool = False, other_countries: bool = False
    ) -> list[SimilarItem]:
        """The k documents most similar to ``document_id`` in any language (itself excluded; with
        ``other_languages``/``other_countries``, only those in another language/of another
        country); [] when it is not indexed."""
        return self._similar_cases().similar_documents(
            document_id, k, other_languages=other_languages, other_countries=other_countries
        )

    def similar_passages(
        self, passage_id: str, k: int = 10, *, other_languages: bool = False, other_countries: bool = False
    ) -> list[SimilarItem] | None:
        """Passages of other documents most similar to one passage; None when it does not exist."""
        return self._similar_cases().similar_passages(
            passage_id, k, other_languages=other_languages, other_countries=other_countries
        )

    def similar_to_text(
        self, text: str, k: int = 10, exclude_document: str | None = None, *, passages: bool = False,
        language: str | None = None, other_languages: bool = False,
    ) -> list[SimilarItem]:  # fmt: skip
        """Documents (or, with passages=True, passages) most similar to a raw text in any language.
        Long texts are cut into ~200-word chunks and compared with documents as a document is."""
        return self._similar_cases().similar_to_text(
            text, k, exclude_document, passages=passages, language=language, other_languages=other_languages
        )

    def similar_to_file(
        self, path: Path, k: int = 10, *, passages: bool = False, other_languages: bool = False
    ) -> list[SimilarItem]:
        """Documents most similar to a file that need not be indexed (the file itself excluded if it is)."""
        return self._similar_cases().similar_to_file(
            path, k, passages=passages, settings=self.settings, other_languages=other_languages
        )

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

    def resolve_document_id(self, given: str) -> str:
        """The id of the document ``given`` names: its whole id, or the beginning of exactly one
        document's id (``nordsearch documents`` prints 12 characters). Raises
        UnknownDocumentError or AmbiguousDocumentIdError, whose messages name ``given``."""
        if given and self.store.get_document(given) is not None:
            return given
        found = self.store.document_ids_with_prefix(given, 2)
        if not found:
            raise UnknownDocumentError(f"no document with id {given!r}")
        if len(found) > 1:
            some = ", ".join(f[: len(given) + 4] + "…" for f in found)
            raise AmbiguousDocumentIdError(
                f"document id {given!r} is ambiguous: several documents' ids begin with it ({some}); give more of it"
            )
        return found[0]

    def passages(self, document_id: str) -> list[Passage]:
        return self.store.passages_of(document_id)

    def stats(self) -> IndexStats:
        s = self.store.stats()
        manifest = read_manifest(self.path)
        kind = self.space.kind or (manifest.index_type if manifest else None)
        saved = manifest is not None and manifest.generation == s["generation"]
        size = sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
        return IndexStats(
            path=str(self.path), documents=s["documents"], passages=s["passages"], model=s["model"],
            dimension=s["dimension"], generation=s["generation"], index_type=kind, vectors_saved=saved,
            size_bytes=size, documents_by_language=s["documents_by_language"],
            passages_by_language=s["passages_by_language"], documents_by_format=s["documents_by_format"],
            documents_by_country=s["documents_by_country"],
        )  # fmt: skip

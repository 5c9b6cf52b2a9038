"""Indexer: the write pipeline of one index, as explicit stages under the writer lock.

    embed (passage + sentence vectors) -> tag themes -> lexical terms -> centre + hub scores
      -> store upsert (one transaction) -> vector-space apply

Each stage is a small function of its inputs (``VectorSpace.embed_with_sentences``, ``tag_themes``
+ ``with_themes``, ``lexical_terms``, ``VectorSpace.center``, ``HubReference.scores``) that a test
can run alone; ``Indexer`` runs them in order and owns the writer lock
(search.locking.WriterLock), taken at the first write and released by ``save``. Writes go to the
store first and only then to the in-memory vectors, so a crash at any point loses at most the
document being written.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nordsearch.ingest.records import Document, IngestedFile, Passage
from nordsearch.search import lexical
from nordsearch.search.dense_layout import faiss_rows
from nordsearch.search.hubness import MAX_REFERENCE
from nordsearch.search.locking import WriterLock
from nordsearch.search.store import Store, stored_language
from nordsearch.search.vector_space import VectorSpace

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.ingest.themes import ThemeTagger
    from nordsearch.search.hubness import HubReference
    from nordsearch.search.store import FileState

LOCK_FILE = "write.lock"
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


@dataclass(frozen=True, slots=True)
class Themes:
    """Theme ids (best first) for each passage of a file and for its document."""

    passages: list[list[str]]
    document: list[str]


def passage_embedding_text(document: Document, passage: Passage) -> str:
    """The text embedded for a passage: the passage alone. Prefixing the document title was measured
    on the dev set and lowered nDCG@10 by 0.03 (docs/retrieval.md). Change it here only, then
    re-index with --rebuild."""
    return passage.text


def tag_themes(ingested: IngestedFile, vectors: np.ndarray, tagger: ThemeTagger) -> Themes:
    """Theme ids for the passages and the document, from text and passage vectors. Themes the file
    already has (curated metadata) are kept: the tagger only fills what is empty."""
    passages = ingested.passages
    if not passages:
        return Themes([], list(ingested.document.themes))
    scores = tagger.scores([p.text for p in passages], [p.language for p in passages], vectors)
    tagged = [
        list(p.themes) or [theme for theme, _ in themes]
        for p, themes in zip(passages, tagger.passage_themes(scores), strict=True)
    ]
    document = list(ingested.document.themes)
    if not document:
        lengths = [len(p.text) for p in passages]
        document = [theme for theme, _ in tagger.document_themes(scores, lengths)]
    return Themes(tagged, document)


def lexical_terms(ingested: IngestedFile) -> list[str]:
    """Each passage's analysed terms for the lexical index, in the language it is stored under."""
    doc = ingested.document
    return [
        lexical.analyze_passage(p.text, stored_language(p.language, doc.language)) for p in ingested.passages
    ]


def with_themes(ingested: IngestedFile, themes: Themes) -> IngestedFile:
    """A copy of ``ingested`` carrying ``themes`` (the input is not changed)."""
    passages = [
        dataclasses.replace(p, themes=t) for p, t in zip(ingested.passages, themes.passages, strict=True)
    ]
    document = dataclasses.replace(ingested.document, themes=themes.document)
    return dataclasses.replace(ingested, document=document, passages=passages)


class Indexer:
    def __init__(
        self, path: Path, store: Store, space: VectorSpace, *, lock_timeout: float,
        tagger: Callable[[], ThemeTagger],
    ) -> None:  # fmt: skip
        self.path = path
        self.store = store
        self.space = space
        self.lock = WriterLock(path / LOCK_FILE, timeout=lock_timeout)
        self._make_tagger = tagger
        self._tagger: ThemeTagger | None = None
        self._hub_reference: HubReference | None = None  # loaded by the writer, dropped with the lock

    @property
    def writing(self) -> bool:
        """True while this process holds the writer lock (it wrote since the last save)."""
        return self.lock.held

    def tagger(self) -> ThemeTagger:
        """The theme tagger, its definitions embedded with the index's own model (built once)."""
        if self._tagger is None:
            self._tagger = self._make_tagger()
        return self._tagger

    def file_state(self, source: str) -> FileState | None:
        """How ``source`` was indexed, if its document is still stored (the batch skips it if unchanged)."""
        return self.store.file_state(source)

    def touch_file(self, source: str, mtime: float | None, size: int | None) -> None:
        """Record a new stat for a source whose indexed bytes did not change."""
        self._begin()
        self.store.touch_file(source, mtime, size)

    def prepare(self) -> None:
        """Take the writer lock and do now what a first write does once: load the model, embed the
        theme definitions, compute the language offsets. index_paths calls it while worker
        processes extract the first files, so that this work does not wait for them."""
        self._begin()
        self.tagger().warm()
        self.space.centering.offsets()

    def _begin(self) -> None:
        self.lock.acquire()
        embedder = self.space.embedder
        if self.store.model() is None:
            self.store.set_model(embedder.name, embedder.dimension)

    def add(self, ingested: IngestedFile, *, mtime: float | None = None) -> Document:
        """Embed, tag and store one ingested file, replacing any earlier version (same id or same
        source). ``mtime`` defaults to the source file's, when the source is a local file."""
        self._begin()
        doc = ingested.document
        vectors, sentence_vectors = self.space.embed_with_sentences(
            [passage_embedding_text(doc, p) for p in ingested.passages],
            [p.sentences for p in ingested.passages],
        )
        tagged = with_themes(ingested, tag_themes(ingested, vectors, self.tagger()))
        return self.add_embedded(tagged, vectors, sentence_vectors=sentence_vectors, mtime=mtime)

    def add_embedded(
        self, ingested: IngestedFile, vectors: np.ndarray, *,
        sentence_vectors: Sequence[np.ndarray | None] | None = None, mtime: float | None = None,
    ) -> Document:  # fmt: skip
        """Store one file whose passages were embedded (and tagged) elsewhere, with this index's
        model: everything ``add`` does after the model call. The store checks the vectors' shape
        against its model."""
        self._begin()
        doc = ingested.document
        if mtime is None and os.path.isfile(doc.source):
            mtime = os.path.getmtime(doc.source)
        languages = [stored_language(p.language, doc.language) for p in ingested.passages]
        terms = lexical_terms(ingested)  # before the transaction: it holds SQLite's write lock
        centred = self.space.centering.center(vectors, languages)
        self.space.centering.store_offsets()
        reference = self._writer_hub_reference()
        hubs = reference.scores(centred, languages) if reference is not None else None
        result = self.store.upsert_document(
            ingested, vectors, mtime=mtime, sentence_vectors=sentence_vectors, hubs=hubs, terms=terms
        )
        if hubs is None:  # not scored yet: counted as the lowest score, as the store reads them back
            hubs = self.store.hub_scores(result.added_ids)
        self.space.apply(
            result.generation_before, result.generation, result.removed_ids, result.added_ids,
            faiss_rows(centred, hubs, self.space.hub_mean),
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
        before hub scores were stored, whose passages all lack one."""
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
        reference, hubs = HubReference.build(self.space.centering.center(matrix, languages), languages)
        self.store.put_hub_reference(reference, ids, hubs)
        self._hub_reference = reference

    # -- deletes --------------------------------------------------------------------------------

    def _delete(self, run: Callable[[], tuple[list[tuple[str, str]], list[int]]]) -> list[tuple[str, str]]:
        self.lock.acquire()
        before = self.store.generation()
        docs, removed = run()
        if docs:
            # one delete = one generation bump; prune may bump once per chunk, so read it back
            self.space.apply(before, self.store.generation(), removed, [], None)
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

    # -- end of a writing session ---------------------------------------------------------------

    def save(self) -> bool:
        """Bring hub scores up to date, write the derived files (vectors.faiss + manifest.json,
        lexical.npz + lexical.json, each atomically) unless the saved ones are current, and end the
        writing session (release the writer lock). True if something was written."""
        try:
            if self.lock.held:  # we wrote in this session: bring hub scores up to date first
                self._refresh_hubs_if_stale(session_end=True)
            if self.store.model() is None or self.space.is_saved():
                return False
            # before the vector space's lock: waiting for another writer must not block searches
            self.lock.acquire()
            return self.space.save()
        finally:
            self._hub_reference = None  # another writer may rebuild it once we let go
            self.lock.release()

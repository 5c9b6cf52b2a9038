"""Similar cases: documents and passages close to an indexed document, an indexed passage, a raw
text or a file that need not be indexed, in any language.

A document is represented by the unit centroid of its (language-centred) passage vectors (see
CorpusView.centroids); a raw text is cut into ~200-word chunks whose vectors are averaged the
same way. It reads vectors through the index's VectorSpace (search.vector_space: the corpus view,
the stored vectors as FAISS holds them, the chunked passage embedding, the language offsets) and
ranks with the Retriever's dense search.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nordsearch.search.dense_layout import TIE_MARGIN
from nordsearch.search.duplicates import (
    DUPLICATE_JACCARD,
    minhash_jaccard,
    normalized_text_key,
    signature,
    union_minhash,
)
from nordsearch.search.embedder import normalize_rows
from nordsearch.search.query import SimilarItem
from nordsearch.search.retrieval import DenseSearch

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.ingest.settings import Settings
    from nordsearch.search.store import Store, StoredPassage
    from nordsearch.search.vector_space import VectorSpace

CHUNK_WORDS = 200  # like ingest's passages: long raw texts are embedded in pieces and averaged
# One text in two files (a PDF and its Markdown export, a report uploaded as .docx and as .pdf) is
# one document, never its own similar case; file names decide nothing (two cities' plan.pdf are two
# documents). Centroids alone cannot tell: on the dev corpus the three PDF/Markdown twins have
# centroid cosines 0.996-0.9995, but so do different documents of one genre (two Lapua council
# minutes 0.992, 33 non-twin pairs >= 0.98). The text can: the twins' word trigrams overlap by
# Jaccard 0.97-0.995, the closest non-twins' by 0.13 at most. So centroids >= SAME_TEXT_COSINE only
# make a document a candidate (a few per document, each costing a read of its passages'
# signatures), and the whole texts' trigram Jaccard, estimated from the MinHash signatures the
# store keeps per passage, >= DUPLICATE_JACCARD (the passage-level test's threshold) decides.
SAME_TEXT_COSINE = 0.98


class SimilarCases:
    def __init__(self, store: Store, space: VectorSpace, *, dense: DenseSearch) -> None:
        self.store = store
        self.space = space
        self._dense = dense

    def _document_centroids(self) -> tuple[list[str], np.ndarray]:
        """(document ids, unit centroid of each document's centred passage vectors)."""
        import numpy as np

        view = self.space.corpus()
        return ([], np.zeros((0, 0), dtype=np.float32)) if view is None else view.centroids()

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
        ids, matrix = self.space.centered_vectors(self.store.vector_ids_of(document_id))
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
        """The document and its copies in other files, by content (see SAME_TEXT_COSINE; identical
        bytes need no test: the document id is the content hash)."""
        import numpy as np

        doc_ids, centroids = self._document_centroids()
        if document_id not in doc_ids:
            return {document_id}
        cosines = centroids @ centroids[doc_ids.index(document_id)]
        candidates = [
            doc_ids[i] for i in np.flatnonzero(cosines >= SAME_TEXT_COSINE) if doc_ids[i] != document_id
        ]
        own = self._text_minhash(document_id) if candidates else None
        if own is None:
            return {document_id}
        out = {document_id}
        for other in candidates:
            theirs = self._text_minhash(other)
            if theirs is not None and minhash_jaccard(own, theirs) >= DUPLICATE_JACCARD:
                out.add(other)
        return out

    def _text_minhash(self, document_id: str) -> np.ndarray | None:
        """The MinHash of the document's whole text, from its passages' stored signatures."""
        stored = self.store.get_passages(self.store.vector_ids_of(document_id)).values()
        return union_minhash(sp.signature or signature(sp.passage.text) for sp in stored)

    def similar_passages(self, passage_id: str, k: int = 10) -> list[SimilarItem] | None:
        """Passages of other documents most similar to one passage; None when it does not exist."""
        vid = self.store.vector_id_of(passage_id)
        if vid is None:
            return None
        ids, matrix = self.space.centered_vectors([vid])
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

    def similar_to_file(
        self, path: Path, k: int = 10, *, passages: bool = False, settings: Settings
    ) -> list[SimilarItem]:
        """Documents most similar to a file that need not be indexed (the file itself excluded if it
        is), the file cut into passages with ``settings``."""
        from nordsearch.ingest.pipeline import ingest_file

        ingested = ingest_file(Path(path), settings)
        texts = [p.text for p in ingested.passages]
        langs = [p.language for p in ingested.passages]
        return self._similar_to_chunks(texts, langs, k, ingested.document.document_id, passages)

    def _similar_to_chunks(
        self, texts: list[str], languages: list[str], k: int, exclude_document: str | None, passages: bool
    ) -> list[SimilarItem]:
        if not texts or self.store.model() is None:
            return []
        matrix = self.space.embed_passages(texts)
        offsets = self.space.language_offsets()
        if offsets is not None:
            matrix = offsets.center_passages(matrix, languages)
        target = normalize_rows(matrix.mean(axis=0))[0]
        exclude = self._same_documents(exclude_document) if exclude_document else set()
        if passages:
            return self._similar_passages_to(target, k, exclude)
        return self._similar_by_vector(target, k, exclude)


def _similar_item(sp: StoredPassage, score: float) -> SimilarItem:
    p = sp.passage
    return SimilarItem(
        document_id=p.document_id, title=sp.title, source=sp.source, language=p.language, score=round(score, 6),
        text=p.text, passage_id=p.passage_id, page=p.page_start, section=p.section,
    )  # fmt: skip


def _chunks(text: str) -> list[str]:
    words = text.split()
    return [" ".join(words[i : i + CHUNK_WORDS]) for i in range(0, len(words), CHUNK_WORDS)]


def _guess_language(text: str) -> str:
    """The text's language for centring; "" (left uncentred) when detection is unavailable."""
    try:
        from nordsearch.ingest.language import detect_language

        return detect_language(text[:4000])[0] or ""
    except Exception:  # detection is an optimisation here, never a reason to fail
        return ""

"""Similar cases: documents and passages close to an indexed document, an indexed passage, a raw
text or a file that need not be indexed, in any language.

Two documents are compared passage by passage (``alignment_score``): the cosines of their mutually
nearest passages, over the geometric mean of their lengths. A raw text of one ~200-word chunk has
nothing to align and is compared with each document's unit centroid of its (language-centred)
passage vectors (see CorpusView.centroids). It reads vectors through the index's VectorSpace (search.vector_space: the corpus view,
the stored vectors as FAISS holds them, the chunked passage embedding, the language offsets) and
ranks with the Retriever's dense search.
"""

from __future__ import annotations

import math
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
# Documents scored by alignment: the best by centroid, and those holding the nearest passages of a
# sample of the document's own (a translation's passages are its passages' nearest neighbours even
# where its centroid ranks low). Bounds the work on large collections; on the dev corpus (70
# documents) every document is a candidate.
ALIGN_CANDIDATES = 100
NEIGHBOUR_SAMPLE = 16  # passages of the document whose nearest passages add candidates
NEIGHBOURS = 10


def alignment_score(a: np.ndarray, b: np.ndarray) -> float:
    """How much two documents (unit passage vectors, one row each) say the same: the cosines of
    their mutually nearest passage pairs (a's passage whose nearest in b has it as its own nearest
    in a), summed over sqrt(len(a) * len(b)), the normalisation of a cosine between two sets.

    Why not the centroids' cosine: the language component that centring leaves makes documents of
    one language close as wholes, so the three party programmes published in Finnish, Swedish and
    English (../shared/corpus) found their translations at rank 9 on average and never first.
    Passage by passage, a translation is the mutual nearest of almost every passage, which
    same-language documents on the same topic are not: 8 of 8 programmes have a translation first
    (mean rank 1.6), and the top five are less often in the document's own language (60 % of them
    against 73 %). docs/retrieval.md has the variants measured."""
    import numpy as np

    if not len(a) or not len(b):
        return 0.0
    sims = a @ b.T
    best_in_b = sims.argmax(axis=1)
    mutual = sims.argmax(axis=0)[best_in_b] == np.arange(len(a))
    return float(sims[np.arange(len(a)), best_in_b][mutual].sum() / math.sqrt(len(a) * len(b)))


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

    def _admitted(self, doc_ids: list[str], exclude: set[str], language: str | None) -> np.ndarray:
        """Mask of the documents that may be similar cases: not excluded, and in another language
        than ``language`` when it is given."""
        import numpy as np

        languages = self.store.document_languages() if language else {}
        return np.fromiter(
            (d not in exclude and (not language or languages.get(d) != language) for d in doc_ids),
            dtype=bool, count=len(doc_ids),
        )  # fmt: skip

    def _similar_by_vector(
        self, target: np.ndarray, k: int, exclude: set[str], language: str | None = None
    ) -> list[SimilarItem]:
        """Documents ranked by centroid cosine with ``target``; each with its passage closest to it."""
        import numpy as np

        doc_ids, centroids = self._document_centroids()
        if not doc_ids:
            return []
        keep = self._admitted(doc_ids, exclude, language)
        scores = centroids @ target
        out: list[SimilarItem] = []
        for i in np.argsort(-scores, kind="stable"):
            if not keep[i]:
                continue
            item = self._best_passage_item(doc_ids[i], target, float(scores[i]))
            if item is not None:
                out.append(item)
            if len(out) >= k:
                break
        return out

    def _similar_by_alignment(
        self, matrix: np.ndarray, k: int, exclude: set[str], language: str | None = None
    ) -> list[SimilarItem]:
        """Documents ranked by alignment_score with a document given as its unit passage vectors
        (``matrix``, centred as FAISS holds them), each with its passage closest to the centroid."""
        import numpy as np

        view = self.space.corpus()
        if view is None or not len(matrix):
            return []
        doc_ids, centroids = view.centroids()
        keep = self._admitted(doc_ids, exclude, language)
        if not keep.any():
            return []
        target = normalize_rows(matrix.mean(axis=0))[0]
        # candidates (see ALIGN_CANDIDATES), all of them admitted, so a filter never leaves fewer than k
        by_centroid = np.where(keep, centroids @ target, -np.inf)
        top = np.argsort(-by_centroid, kind="stable")[: max(ALIGN_CANDIDATES, k)]
        candidates = {doc_ids[i] for i in top.tolist() if keep[i]}
        picks = np.unique(
            np.linspace(0, len(matrix) - 1, min(NEIGHBOUR_SAMPLE, len(matrix))).astype(np.int64)
        )
        sims = matrix[picks] @ view.matrix.T
        n = min(NEIGHBOURS, sims.shape[1])
        near = np.argpartition(-sims, n - 1, axis=1)[:, :n]
        admitted = {d for d, ok in zip(doc_ids, keep.tolist(), strict=True) if ok}
        candidates |= {view.documents[j] for j in near.ravel().tolist()} & admitted
        rows = view.document_rows()
        scored = sorted(
            ((alignment_score(matrix, view.matrix[rows[d]]), d) for d in candidates),
            key=lambda x: (-x[0], x[1]),
        )
        out: list[SimilarItem] = []
        for score, d in scored[:k]:
            item = self._best_passage_item(d, target, score)
            if item is not None:
                out.append(item)
        return out

    def _best_passage_item(self, document_id: str, target: np.ndarray, score: float) -> SimilarItem | None:
        """The document as a result: its passage closest to ``target``, read from the corpus view
        the ranking used (the same centred vectors), so only that one passage is read from the store."""
        view = self.space.corpus()
        rows = view.document_rows().get(document_id) if view is not None else None
        if view is None or rows is None or not len(rows):
            return None
        best = int(view.ids[rows[int((view.matrix[rows] @ target).argmax())]])
        sp = self.store.get_passages([best]).get(best)
        return None if sp is None else _similar_item(sp, score)

    def similar_documents(
        self, document_id: str, k: int = 10, *, other_languages: bool = False
    ) -> list[SimilarItem]:
        """The k documents most similar to ``document_id`` in any language (itself and its copies
        excluded; with ``other_languages``, only documents in another language than its own);
        [] when it is not indexed."""
        view = self.space.corpus()
        rows = view.document_rows() if view is not None else {}
        if view is None or document_id not in rows:
            return []
        language = None
        if other_languages:
            doc = self.store.get_document(document_id)
            language = doc.language if doc is not None else None
        matrix = view.matrix[rows[document_id]]
        return self._similar_by_alignment(matrix, k, self._same_documents(document_id), language)

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

    def similar_passages(
        self, passage_id: str, k: int = 10, *, other_languages: bool = False
    ) -> list[SimilarItem] | None:
        """Passages of other documents most similar to one passage (with ``other_languages``, only
        passages in another language than its own); None when it does not exist."""
        vid = self.store.vector_id_of(passage_id)
        if vid is None:
            return None
        ids, matrix = self.space.centered_vectors([vid])
        sp = self.store.get_passages([vid]).get(vid)
        if not len(ids) or sp is None:
            return None
        language = sp.passage.language if other_languages else None
        return self._similar_passages_to(matrix[0], k, self._same_documents(sp.passage.document_id), language)

    def _similar_passages_to(
        self, target: np.ndarray, k: int, exclude: set[str], language: str | None = None
    ) -> list[SimilarItem]:
        import numpy as np

        allowed = None
        if language:  # the filter goes into the search, so it still returns k
            view = self.space.corpus()
            if view is None:
                return []
            keep = [
                d not in exclude and lang != language
                for d, lang in zip(view.documents, view.languages, strict=True)
            ]
            allowed = view.ids[np.asarray(keep, dtype=bool)]
        elif exclude:
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
        language: str | None = None, other_languages: bool = False,
    ) -> list[SimilarItem]:  # fmt: skip
        """Documents (or, with passages=True, passages) most similar to a raw text in any language
        (with ``other_languages``, in another language than the text's). Long texts are cut into
        ~200-word chunks, compared with documents as a document is."""
        chunks = _chunks(text)
        if not chunks:
            return []
        lang = language or _guess_language(text)
        return self._similar_to_chunks(
            chunks, [lang] * len(chunks), k, exclude_document, passages, lang if other_languages else None
        )

    def similar_to_file(
        self,
        path: Path,
        k: int = 10,
        *,
        passages: bool = False,
        settings: Settings,
        other_languages: bool = False,
    ) -> list[SimilarItem]:
        """Documents most similar to a file that need not be indexed (the file itself excluded if it
        is), the file cut into passages with ``settings``."""
        from nordsearch.ingest.pipeline import ingest_file

        ingested = ingest_file(Path(path), settings)
        texts = [p.text for p in ingested.passages]
        langs = [p.language for p in ingested.passages]
        other = ingested.document.language if other_languages else None
        return self._similar_to_chunks(texts, langs, k, ingested.document.document_id, passages, other)

    def _similar_to_chunks(
        self, texts: list[str], languages: list[str], k: int, exclude_document: str | None, passages: bool,
        other_than: str | None = None,
    ) -> list[SimilarItem]:  # fmt: skip
        if not texts or self.store.model() is None:
            return []
        matrix = self.space.embed_passages(texts)
        offsets = self.space.centering.offsets()
        if offsets is not None:
            matrix = offsets.center_passages(matrix, languages)
        matrix = normalize_rows(matrix)
        target = normalize_rows(matrix.mean(axis=0))[0]
        exclude = self._same_documents(exclude_document) if exclude_document else set()
        if passages:
            return self._similar_passages_to(target, k, exclude, other_than)
        if len(matrix) == 1:  # one chunk has nothing to align: its cosine with each centroid
            return self._similar_by_vector(target, k, exclude, other_than)
        return self._similar_by_alignment(matrix, k, exclude, other_than)


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

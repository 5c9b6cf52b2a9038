"""Similar cases: documents and passages close to an indexed document, an indexed passage, a raw
text or a file that need not be indexed, in any language.

Documents are ranked by ``match_score`` (search.similar_match: each passage's best cosine in the
other document, both ways) shown as its percentile among document pairs of the same two
languages, so that the residual language bias of the vectors neither decides the ranking nor
hides in the score. A raw text is cut into ~200-word chunks and compared as a document is. It
reads vectors through the index's VectorSpace (search.vector_space: the corpus view, the stored
vectors as FAISS holds them, the chunked passage embedding, the language offsets); passages are
ranked by the Retriever's dense search with the hub correction search uses.
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
from nordsearch.search.query import HUB_WEIGHT, SimilarItem
from nordsearch.search.retrieval import NearestSearch
from nordsearch.search.similar_match import match

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
# Documents scored per language (the best by centroid among those of that language), plus those
# holding the nearest passages of a sample of the document's own (a translation's passages are its
# passages' nearest neighbours even where its centroid ranks low). Bounds the work on large
# collections; on the dev corpus (70 documents) every document is a candidate.
CANDIDATES_PER_LANGUAGE = 40
NEIGHBOUR_SAMPLE = 16  # passages of the document whose nearest passages add candidates
NEIGHBOURS = 10


class SimilarCases:
    def __init__(self, store: Store, space: VectorSpace, *, dense: NearestSearch) -> None:
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

    def _similar_by_match(
        self, matrix: np.ndarray, language: str, k: int, exclude: set[str], other_than: str | None = None
    ) -> list[SimilarItem]:
        """Documents ranked by the percentile of their match_score with a document (or text) given
        as unit passage vectors (``matrix``, centred as FAISS holds them) in ``language``; each
        with its passage that matches it best. Ties (and the top percentile) by the raw score."""
        view = self.space.corpus()
        if view is None or not len(matrix):
            return []
        doc_ids, centroids = view.centroids()
        languages = self.store.document_languages()
        keep = self._admitted(doc_ids, exclude, other_than)
        if not keep.any():
            return []
        calibration = view.calibration(languages)
        rows = view.document_rows()
        scored = []
        for d in self._candidates(matrix, doc_ids, centroids, keep, languages):
            raw, row = match(matrix, view.matrix[rows[d]])
            best = int(view.ids[rows[d][row]])
            scored.append((calibration.percentile(language, languages.get(d, ""), raw), raw, d, best))
        scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
        stored = self.store.get_passages([best for *_, best in scored[:k]])
        return [_similar_item(stored[best], pct, raw) for pct, raw, _, best in scored[:k] if best in stored]

    def _candidates(
        self, matrix: np.ndarray, doc_ids: list[str], centroids: np.ndarray, keep: np.ndarray,
        languages: dict[str, str],
    ) -> set[str]:  # fmt: skip
        """Admitted documents worth scoring (see CANDIDATES_PER_LANGUAGE): so a filter never
        leaves fewer than k, and no language is crowded out by the bias of centroids."""
        import numpy as np

        view = self.space.corpus()
        assert view is not None
        target = normalize_rows(matrix.mean(axis=0))[0]
        by_centroid = np.where(keep, centroids @ target, -np.inf)
        taken: dict[str, int] = {}
        candidates: set[str] = set()
        for i in np.argsort(-by_centroid, kind="stable").tolist():
            if not keep[i]:
                break  # -inf from here on
            lang = languages.get(doc_ids[i], "")
            if taken.get(lang, 0) < CANDIDATES_PER_LANGUAGE:
                taken[lang] = taken.get(lang, 0) + 1
                candidates.add(doc_ids[i])
        picks = np.unique(
            np.linspace(0, len(matrix) - 1, min(NEIGHBOUR_SAMPLE, len(matrix))).astype(np.int64)
        )
        sims = matrix[picks] @ view.matrix.T
        n = min(NEIGHBOURS, sims.shape[1])
        near = np.argpartition(-sims, n - 1, axis=1)[:, :n]
        admitted = {d for d, ok in zip(doc_ids, keep.tolist(), strict=True) if ok}
        return candidates | ({view.documents[j] for j in near.ravel().tolist()} & admitted)

    def _other_countries(self, document_id: str, country: str | None = None) -> set[str]:
        """The documents of the same country as ``document_id`` (or as ``country``), to leave out.
        A ValueError when there is no country to compare with: "abroad" would mean nothing."""
        countries = self.store.document_countries()
        own = (country if country is not None else countries.get(document_id, "")).strip().lower()
        if not own:
            raise ValueError(
                f"{document_id} has no country in its metadata, so other countries cannot be told apart"
            )
        return {d for d, c in countries.items() if c == own}

    def similar_documents(
        self, document_id: str, k: int = 10, *, other_languages: bool = False, other_countries: bool = False
    ) -> list[SimilarItem]:
        """The k documents most similar to ``document_id`` in any language (itself and its copies
        excluded; with ``other_languages``, only documents in another language than its own; with
        ``other_countries``, only those of another country); [] when it is not indexed."""
        view = self.space.corpus()
        rows = view.document_rows() if view is not None else {}
        if view is None or document_id not in rows:
            return []
        language = None
        if other_languages:
            doc = self.store.get_document(document_id)
            language = doc.language if doc is not None else None
        own = self.store.document_languages().get(document_id, "")
        matrix = view.matrix[rows[document_id]]
        exclude = self._same_documents(document_id)
        if other_countries:
            exclude |= self._other_countries(document_id)
        return self._similar_by_match(matrix, own, k, exclude, language)

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
        self, passage_id: str, k: int = 10, *, other_languages: bool = False, other_countries: bool = False
    ) -> list[SimilarItem] | None:
        """Passages of other documents most similar to one passage (with ``other_languages``, only
        passages in another language than its own; with ``other_countries``, of documents of
        another country); None when it does not exist."""
        vid = self.store.vector_id_of(passage_id)
        if vid is None:
            return None
        ids, matrix = self.space.centered_vectors([vid])
        sp = self.store.get_passages([vid]).get(vid)
        if not len(ids) or sp is None:
            return None
        language = sp.passage.language if other_languages else None
        exclude = self._same_documents(sp.passage.document_id)
        if other_countries:
            exclude |= self._other_countries(sp.passage.document_id)
        return self._similar_passages_to(matrix[0], k, exclude, language)

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
        ranked = self._dense(target, k * 3 + TIE_MARGIN, allowed, HUB_WEIGHT)  # as search ranks
        stored = self.store.get_passages([v for v, _ in ranked])
        cosines = self.space.dense_scores(target, [v for v, _ in ranked], 0.0)
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
            out.append(_similar_item(sp, score, cosines.get(vid, score)))
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
            chunks,
            [lang] * len(chunks),
            lang,
            k,
            exclude_document,
            passages,
            lang if other_languages else None,
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
        language = ingested.document.language
        other = language if other_languages else None
        return self._similar_to_chunks(
            texts, langs, language, k, ingested.document.document_id, passages, other
        )

    def _similar_to_chunks(
        self, texts: list[str], languages: list[str], language: str, k: int, exclude_document: str | None,
        passages: bool, other_than: str | None = None,
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
        return self._similar_by_match(matrix, language, k, exclude, other_than)


def _similar_item(sp: StoredPassage, score: float, similarity: float | None = None) -> SimilarItem:
    p = sp.passage
    return SimilarItem(
        document_id=p.document_id, title=sp.title, source=sp.source, language=p.language, score=round(score, 6),
        text=p.text, passage_id=p.passage_id, page=p.page_start, section=p.section,
        similarity=round(score if similarity is None else similarity, 6),
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

"""Ranking strategies: a query -> ranked (vector id, score) lists, dense, lexical or hybrid.

The Retriever does not own the vectors: it reads them through the index's VectorSpace
(search.vector_space: the nearest-neighbour search, which keeps FAISS current with the store, the
corpus-wide view, the stored vectors as FAISS holds them, the language offsets, the embedder and
the lexical index), each loaded only when a search needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nordsearch.search import fusion, lexical
from nordsearch.search.dense_layout import TIE_MARGIN

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.filters import PassageFilter
    from nordsearch.search.query import SearchRequest
    from nordsearch.search.store import Store
    from nordsearch.search.vector_space import VectorSpace

__all__ = ["TIE_MARGIN", "DenseSearch", "Ranked", "Ranking", "Retriever"]

Ranked = list[tuple[int, float]]
DenseSearch = Callable[["np.ndarray", int, "np.ndarray | None"], Ranked]
# (query vector, k, allowed ids, hub weight) -> the k best by dense score, ties by id
NearestSearch = Callable[["np.ndarray", int, "np.ndarray | None", float], Ranked]
# (analysed query terms, allowed ids, k) -> the k best by BM25, ties by id
LexicalSearch = Callable[[list[str], "np.ndarray | None", int], Ranked]


@dataclass(slots=True)
class Ranking:
    ranked: Ranked  # the best passages, best first
    # passages eligible under the filters (lexical mode: and matching a query term), or with
    # grouped results the documents holding them
    total: int
    query_vector: np.ndarray | None  # None in lexical mode or when nothing matches
    matching: np.ndarray | None  # the eligible passages' vector ids, sorted; None: every passage


def _no_ids() -> np.ndarray:
    import numpy as np

    return np.zeros(0, dtype=np.int64)


class Retriever:
    def __init__(self, store: Store, space: VectorSpace) -> None:
        self.store = store
        self.space = space

    def rank(self, request: SearchRequest, filters: PassageFilter, pool: int) -> Ranking:
        """The ``pool`` best passages for the request, what they are drawn from and the query vector."""
        qv: np.ndarray | None = None
        allowed = None if filters.is_empty else self.store.allowed_ids(filters)
        by_document = request.group != "passage"
        if request.mode == "lexical":
            terms = lexical.analyze_query(request.q)
            ranked = self.lexical(terms, allowed, pool)
            matching = self.space.lexical_matches(terms, allowed) if terms else _no_ids()
        else:
            matching = allowed
            total = self.store.passage_count() if allowed is None else len(allowed)
            if total == 0:
                ranked = []
            else:
                qv = self.query_vector(request.q)
                if request.mode == "dense":
                    ranked = self.dense(qv, pool, allowed, request.hub_weight)
                else:
                    ranked = self.hybrid(request, qv, allowed, pool)
        if by_document:
            total = self.store.document_count(matching)
        elif matching is not None:
            total = len(matching)
        return Ranking(ranked, total, qv, matching)

    def query_vector(self, q: str) -> np.ndarray:
        """The query's embedding, language-centred like the passages: the offset removed is the mix
        of the languages' query offsets weighted by the detector's confidences, so a query whose
        language is unclear (three Scandinavian words) is centred by a blend, never by a wrong guess."""
        if self.space.query_cache is not None:
            return self.space.query_cache.get(q, self._centred_query)
        return self._centred_query(q)

    def _centred_query(self, q: str) -> np.ndarray:
        qv = self.space.embedder.embed_queries([q])[0]
        offsets = self.space.centering.offsets()
        return qv if offsets is None else offsets.center_query(qv, language_weights(q))

    def dense(self, qv: np.ndarray, k: int, allowed: np.ndarray | None, hub_weight: float = 0.0) -> Ranked:
        """The k passages with the best dense score: cosine minus ``hub_weight`` times the
        passage's hub score (search.hubness), kept in the store at write time and held by FAISS
        beside each vector, so one search ranks by the score itself."""
        return self.space.nearest(qv, k, allowed, hub_weight)  # FAISS, ties by id

    def score_exact(self, qv: np.ndarray, vector_ids: list[int], hub_weight: float = 0.0) -> dict[int, float]:
        """Dense scores of given passages, on the same scale as the dense search's."""
        return self.space.dense_scores(qv, vector_ids, hub_weight)

    def lexical(self, terms: list[str], allowed: np.ndarray | None, k: int) -> Ranked:
        """The k best passages by BM25 over ``terms`` among ``allowed`` (None: all)."""
        return self.space.lexical_search(terms, allowed, k) if terms else []

    def hybrid(
        self,
        request: SearchRequest,
        qv: np.ndarray,
        allowed: np.ndarray | None,
        pool: int,
    ) -> Ranked:
        dense = self.dense(qv, pool, allowed, request.hub_weight)
        query_terms = lexical.analyze_query(request.q)
        lex = self.lexical(query_terms, allowed, pool)
        dense_scores = dict(dense)
        missing = [v for v, _ in lex if v not in dense_scores]
        if missing:  # lexical hits outside the dense pool: score them exactly rather than as 0
            dense_scores.update(self.score_exact(qv, missing, request.hub_weight))
        words = lexical.query_word_variants(request.q)
        present = self.space.lexical_presence(query_terms, [v for v, _ in lex]) if lex else {}
        cov = {v: lexical.coverage(words, terms) for v, terms in present.items()}
        scores = fusion.coverage_weighted(dense_scores, dict(lex), cov, request.lexical_weight)
        info = self.store.passage_info(list(scores))
        return fusion.within_language(dense, scores, {v: lang for v, (_, lang) in info.items()}, dense_scores)


def language_weights(text: str) -> dict[str, float] | None:
    """Detector confidences per product language (None when detection is unavailable)."""
    try:
        from nordsearch.ingest.language import query_language_scores

        return query_language_scores(text) or None
    except Exception:  # detection is an optimisation here, never a reason to fail a search
        return None

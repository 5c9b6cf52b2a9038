"""Combining the dense and lexical ranked lists. Pure functions over {vector id: score}."""

from __future__ import annotations


def rrf(rankings: list[list[int]], k_rrf: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: sum over lists of 1 / (k_rrf + rank), rank starting at 1."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, vid in enumerate(ranking, start=1):
            fused[vid] = fused.get(vid, 0.0) + 1.0 / (k_rrf + rank)
    return fused


def weighted(dense: dict[int, float], lexical: dict[int, float], weight: float = 0.3) -> dict[int, float]:
    """Dense-led fusion: cosine similarity plus ``weight`` times BM25 scaled to [0, 1] by the best
    lexical score. ``dense`` must hold a score for every candidate (the caller scores lexical-only
    hits exactly) so a passage is never rewarded just for missing from one list."""
    best = max((s for s in lexical.values() if s > 0), default=0.0)
    fused: dict[int, float] = {}
    for vid, d in dense.items():
        lex = lexical.get(vid, 0.0)
        fused[vid] = d + (weight * max(lex, 0.0) / best if best > 0 else 0.0)
    return fused


def ranked(scores: dict[int, float]) -> list[tuple[int, float]]:
    """Best first; ties broken by vector id so results are deterministic."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))

"""Combining the dense and lexical ranked lists. Pure functions over {vector id: score}.

Why not plain fusion: BM25 only matches words of the query's own language (names and numbers
aside), so adding it to the dense score promotes passages in the query's language over better
answers in the other four - naive RRF loses to dense alone on the dev set. The fusions here let
lexical evidence count only where it can apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def coverage_weighted(
    dense: dict[int, float], lexical: dict[int, float], coverage: Mapping[int, float], weight: float = 0.3
) -> dict[int, float]:
    """Dense-led fusion: cosine similarity plus ``weight`` times BM25 scaled to [0, 1] by the best
    lexical score, each passage's lexical term scaled by the share of the query's words it matched:
    one shared rare word (a name, a number, a false friend across languages) earns little, a
    passage containing the whole question earns the full weight. ``dense`` must hold a score for
    every candidate (the caller scores lexical-only hits exactly) so a passage is never rewarded
    just for missing from one list."""
    best = max((s for s in lexical.values() if s > 0), default=0.0)
    fused: dict[int, float] = {}
    for vid, d in dense.items():
        lex = max(lexical.get(vid, 0.0), 0.0)
        fused[vid] = d + (weight * coverage.get(vid, 0.0) * lex / best if best > 0 else 0.0)
    return fused


def within_language(
    dense_ranked: Sequence[tuple[int, float]],
    fused: Mapping[int, float],
    language_of: Mapping[int, str],
    dense_of: Mapping[int, float] | None = None,
) -> list[tuple[int, float]]:
    """Merge that lets lexical evidence reorder passages only *within* a language.

    The dense ranking (``dense_ranked``: (id, dense score), best first) decides which language
    fills each rank (dense crosses languages); the fused score decides which passage of that
    language goes there. So lexical matching can pick the better Finnish passage for a Finnish
    query but never pushes a Swedish answer down. Candidates missing from the dense ranking
    follow, by fused score.

    The score returned for a rank is the one that gave the rank: the dense score of the slot it
    fills, so a ranked list's scores never go up (a passage's own fused score could exceed the
    one above it). Those that follow get their dense score (``dense_of``), capped by the last.
    """
    dense_order = [v for v, _ in dense_ranked]
    slot_score = [s for _, s in dense_ranked]
    queues: dict[str, list[int]] = {}
    for vid in sorted(fused, key=lambda v: (-fused[v], v)):
        queues.setdefault(language_of.get(vid, ""), []).append(vid)
    heads = dict.fromkeys(queues, 0)
    used: set[int] = set()
    out: list[tuple[int, float]] = []
    for slot, vid in enumerate(dense_order):
        lang = language_of.get(vid, "")
        queue = queues.get(lang, [])
        while heads.get(lang, 0) < len(queue) and queue[heads[lang]] in used:
            heads[lang] += 1
        if heads.get(lang, 0) < len(queue):
            pick = queue[heads[lang]]
            heads[lang] += 1
            used.add(pick)
            out.append((pick, slot_score[slot]))
    last = out[-1][1] if out else float("inf")
    for v in sorted((v for v in fused if v not in used), key=lambda v: (-fused[v], v)):
        last = min(last, (dense_of or fused).get(v, fused[v]))
        out.append((v, last))
    return out

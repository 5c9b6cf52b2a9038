"""Hubness reduction for cross-lingual dense retrieval.

In a high-dimensional embedding space some passages are "hubs": close to almost everything, so
they turn up in the top ten of questions they do not answer (generic programme text listing every
policy area is the typical case here). CSLS (Conneau et al. 2018, "Word translation without
parallel data") scores a pair by its similarity minus each side's mean similarity to its nearest
neighbours in the other language. For ranking passages against one query only the passage side
matters, so the dense score becomes ``cos(q, p) - weight * hub(p)``, with ``hub(p)`` the mean
similarity of ``p`` to its ``k`` nearest passages in *other* languages. Same-language neighbours
are left out: they are close partly because they share the language (and often the document),
which says nothing about how generic ``p`` is.

Measured on the development set: see README ("Variants measured").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

HUB_NEIGHBOURS = 50
# Past this many passages the neighbours are looked up in a fixed sample of this size (k scaled
# down with it), so the cost stays linear in the index size: ~0.8 s for 4 000 passages, a few
# seconds for 60 000, once per index generation (bench/bench_ann.py). On the dev set a sample of
# 1 000 ranks as well as the exact scores.
MAX_REFERENCE = 5_000
_CHUNK = 2048  # rows scored at a time: bounds memory to _CHUNK x reference floats


def hub_scores(
    matrix: np.ndarray, languages: Sequence[str], k: int = HUB_NEIGHBOURS, max_reference: int = MAX_REFERENCE
) -> np.ndarray:
    """Per row of ``matrix`` (unit vectors), its mean cosine to its ``k`` nearest rows in other
    languages. Rows with no other-language row get the mean of the others (0 when the index is
    monolingual: then no passage is penalised relative to another). Deterministic."""
    import numpy as np

    n = len(matrix)
    out = np.zeros(n, dtype=np.float32)
    if n == 0:
        return out
    langs = np.asarray(languages)
    ref = np.arange(n)
    if n > max_reference:  # evenly spaced sample: deterministic and spread over the whole index
        ref = np.linspace(0, n - 1, max_reference).round().astype(np.int64)
    kk = max(2, round(k * len(ref) / n))
    ref_vecs, ref_langs = matrix[ref], langs[ref]
    has = np.zeros(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        rows = slice(start, min(start + _CHUNK, n))
        sims = matrix[rows] @ ref_vecs.T
        sims[langs[rows][:, None] == ref_langs[None, :]] = -np.inf
        others = np.isfinite(sims).sum(axis=1)
        take = min(kk, sims.shape[1])
        top = -np.partition(-sims, take - 1, axis=1)[:, :take]
        top[~np.isfinite(top)] = 0.0
        counts = np.minimum(others, take)
        has[rows] = counts > 0
        out[rows] = np.where(counts > 0, top.sum(axis=1) / np.maximum(counts, 1), 0.0)
    if has.any() and not has.all():
        out[~has] = out[has].mean()
    return out

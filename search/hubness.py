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

Measured on the development set: see docs/retrieval.md ("Variants measured").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

HUB_NEIGHBOURS = 50
# Past this many passages the neighbours are looked up in a fixed sample of this size (k scaled
# down with it), so the cost stays linear in the index size: ~0.8 s for 4 000 passages, a few
# seconds for 60 000, at write time only (bench/bench_ann.py). On the dev set a sample of
# 1 000 ranks as well as the exact scores.
MAX_REFERENCE = 5_000
_CHUNK = 2048  # rows scored at a time: bounds memory to _CHUNK x reference floats


def hub_scores(
    matrix: np.ndarray, languages: Sequence[str], k: int = HUB_NEIGHBOURS, max_reference: int = MAX_REFERENCE
) -> np.ndarray:
    """Per row of ``matrix`` (unit vectors), its mean cosine to its ``k`` nearest rows in other
    languages. Rows with no other-language row get the mean of the others (0 when the index is
    monolingual: then no passage is penalised relative to another). Deterministic."""
    return HubReference.build(matrix, languages, k, max_reference)[1]


@dataclass(slots=True)
class HubReference:
    """The rows hub scores are measured against, so that a new passage's score is computed when it
    is written (O(reference) per passage) and kept in the store, never at query time.

    Built from the whole collection (a fixed sample past MAX_REFERENCE rows) with ``k`` scaled to
    the sample; rebuilt by the index when the collection has changed by a fair fraction since
    (search.index.HUB_REFRESH_FRACTION), which rescores every passage against the new sample.
    """

    matrix: np.ndarray  # reference rows (unit vectors)
    languages: list[str]
    k: int  # neighbours averaged, already scaled to the sample
    fallback: float  # the score of a row with no other-language reference row
    size: int  # rows in the collection when built

    @classmethod
    def build(
        cls, matrix: np.ndarray, languages: Sequence[str], k: int = HUB_NEIGHBOURS,
        max_reference: int = MAX_REFERENCE,
    ) -> tuple[HubReference, np.ndarray]:  # fmt: skip
        """(the reference of this collection, the hub score of each of its rows)."""
        import numpy as np

        n = len(matrix)
        ref = np.arange(n)
        if n > max_reference:  # evenly spaced sample: deterministic and spread over the whole index
            ref = np.linspace(0, n - 1, max_reference).round().astype(np.int64)
        kk = max(2, round(k * len(ref) / n)) if n else k
        langs = list(languages)
        reference = cls(matrix[ref], [langs[i] for i in ref], kk, 0.0, n)
        out, has = reference._scores(matrix, langs)
        if has.any():
            reference.fallback = float(out[has].mean())
        out[~has] = reference.fallback
        return reference, out

    def scores(self, matrix: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        """Hub score of each row of ``matrix`` against this reference."""
        out, has = self._scores(matrix, list(languages))
        out[~has] = self.fallback
        return out

    def _scores(self, matrix: np.ndarray, languages: list[str]) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        n = len(matrix)
        out = np.zeros(n, dtype=np.float32)
        has = np.zeros(n, dtype=bool)
        if n == 0 or not len(self.matrix):
            return out, has
        langs, ref_langs = np.asarray(languages), np.asarray(self.languages)
        for start in range(0, n, _CHUNK):
            rows = slice(start, min(start + _CHUNK, n))
            sims = matrix[rows] @ self.matrix.T
            sims[langs[rows][:, None] == ref_langs[None, :]] = -np.inf
            others = np.isfinite(sims).sum(axis=1)
            take = min(self.k, sims.shape[1])
            top = -np.partition(-sims, take - 1, axis=1)[:, :take]
            top[~np.isfinite(top)] = 0.0
            counts = np.minimum(others, take)
            has[rows] = counts > 0
            out[rows] = np.where(counts > 0, top.sum(axis=1) / np.maximum(counts, 1), 0.0)
        return out, has

"""How close two documents are, on a scale that means the same in every pair of languages.

``match_score`` compares two documents passage by passage: the mean, over the passages of each,
of its best cosine in the other, averaged both ways. It needs no parameter and reads a
translation (every passage has its twin) and a document on the same topic (most passages have a
close one) alike.

Raw cosines still carry language: after centring, two Finnish documents on unrelated topics
score higher than a Finnish and a Swedish one on the same topic, and the band they sit in (0.8 to
0.9) tells a reader nothing. So a score is shown and ranked as its percentile among the scores of
document pairs in the same two languages (``PairCalibration``): "closer than 97 % of
Finnish-Swedish pairs" is comparable across languages and readable. Measured in session 15
(``bench/bench_similar.py``, docs/retrieval.md "Similar documents across languages"): on corpus/'s
topic groups MAP 0.40 -> 0.69, the right topic first 8 -> 12 of 19; the shared corpus's translated
programmes stay first (10 of 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.corpus_view import CorpusView

# Document pairs scored per pair of languages to estimate its distribution: percentiles to half a
# point, and a bounded cost (each pair costs n_a x n_b cosines) however large the collection.
PAIRS_PER_LANGUAGE_PAIR = 200
# A pair of languages with fewer document pairs than this is read on the distribution of all pairs,
# shifted by the difference of the two means (a mean is already sound where quantiles are not).
MIN_PAIRS = 10


def match_score(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean best-match cosine of two documents given as unit passage vectors (rows)."""
    return match(a, b)[0]


def match(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """(match_score of a and b, the row of b that matches a best: b's passage to show), (0, -1)
    when either is empty."""
    if not len(a) or not len(b):
        return 0.0, -1
    sims = a @ b.T
    best_in_b = sims.max(axis=0)
    return float((sims.max(axis=1).mean() + best_in_b.mean()) / 2), int(best_in_b.argmax())


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


@dataclass(slots=True)
class PairCalibration:
    """Sorted samples of ``match_score`` per unordered pair of document languages."""

    by_pair: dict[tuple[str, str], np.ndarray]
    pooled: np.ndarray

    @classmethod
    def build(cls, view: CorpusView, document_language: Mapping[str, str]) -> PairCalibration:
        """From the collection's documents: every pair of documents when a pair of languages has
        at most PAIRS_PER_LANGUAGE_PAIR, else a fixed random sample of them (deterministic)."""
        import numpy as np

        rows = view.document_rows()
        by_language: dict[str, list[str]] = {}
        for d in sorted(rows):
            by_language.setdefault(document_language.get(d, ""), []).append(d)
        rng = np.random.default_rng(0)
        scores: dict[tuple[str, str], list[float]] = {}
        langs = sorted(by_language)
        for i, la in enumerate(langs):
            for lb in langs[i:]:
                da, db = by_language[la], by_language[lb]
                pairs = _pairs(len(da), len(db), la == lb, rng)
                scores[(la, lb)] = [
                    match_score(view.matrix[rows[da[x]]], view.matrix[rows[db[y]]]) for x, y in pairs
                ]
        pooled = np.sort(np.asarray([s for v in scores.values() for s in v], dtype=np.float64))
        return cls({p: np.sort(np.asarray(v, dtype=np.float64)) for p, v in scores.items()}, pooled)

    def percentile(self, language_a: str, language_b: str, score: float) -> float:
        """The share (0-1) of sampled document pairs in these two languages scoring below ``score``."""
        import numpy as np

        sample = self.by_pair.get(_pair(language_a, language_b))
        if sample is not None and len(sample) >= MIN_PAIRS:
            return float(np.searchsorted(sample, score, side="left") / len(sample))
        if not len(self.pooled):
            return 0.0
        if sample is not None and len(sample):
            score += float(self.pooled.mean() - sample.mean())
        return float(np.searchsorted(self.pooled, score, side="left") / len(self.pooled))


def _pairs(n_a: int, n_b: int, same: bool, rng: np.random.Generator) -> Sequence[tuple[int, int]]:
    """Index pairs (x, y) of two lists of documents (x < y when both lists are one), all of them
    up to PAIRS_PER_LANGUAGE_PAIR, else that many drawn without replacement."""
    total = n_a * (n_a - 1) // 2 if same else n_a * n_b
    if total <= PAIRS_PER_LANGUAGE_PAIR:
        if same:
            return [(x, y) for x in range(n_a) for y in range(x + 1, n_a)]
        return [(x, y) for x in range(n_a) for y in range(n_b)]
    out: set[tuple[int, int]] = set()
    while len(out) < PAIRS_PER_LANGUAGE_PAIR:
        x, y = int(rng.integers(n_a)), int(rng.integers(n_b))
        if same and x == y:
            continue
        out.add((min(x, y), max(x, y)) if same else (x, y))
    return sorted(out)

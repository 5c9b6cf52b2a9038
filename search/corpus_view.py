"""Corpus-wide statistics over every passage's (centred) vector, at one store generation.

Language moments (balanced dense search), document centroids (similar cases) and hub scores
(hubness reduction) all need the whole matrix; they are computed lazily from one snapshot and
the snapshot is replaced when the store's generation moves on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from search.centering import LanguageStats
from search.embedder import normalize_rows
from search.hubness import hub_scores

if TYPE_CHECKING:
    import numpy as np


@dataclass(slots=True)
class CorpusView:
    generation: int
    ids: np.ndarray  # vector ids, ascending
    matrix: np.ndarray  # the vectors as FAISS holds them (language-centred when centring is on)
    documents: list[str]  # document id of each row
    languages: list[str]  # passage language of each row
    _stats: LanguageStats | None = field(default=None, repr=False)
    _centroids: tuple[list[str], np.ndarray] | None = field(default=None, repr=False)
    _hubs: np.ndarray | None = field(default=None, repr=False)

    def language_stats(self) -> LanguageStats:
        """Mean and covariance of each language's passage vectors."""
        if self._stats is None:
            self._stats = LanguageStats.build(self.ids, self.matrix, self.languages)
        return self._stats

    def centroids(self) -> tuple[list[str], np.ndarray]:
        """(document ids, unit centroid of each document's passage vectors): a document is
        represented by all of its passages, not by its first 512 tokens."""
        import numpy as np

        if self._centroids is None:
            doc_ids = sorted(set(self.documents))
            row = {d: i for i, d in enumerate(doc_ids)}
            dim = self.matrix.shape[1] if self.matrix.ndim == 2 else 0
            sums = np.zeros((len(doc_ids), dim), dtype=np.float64)
            if doc_ids:
                rows = np.fromiter(
                    (row[d] for d in self.documents), dtype=np.int64, count=len(self.documents)
                )
                np.add.at(sums, rows, self.matrix)
            self._centroids = (doc_ids, normalize_rows(sums) if doc_ids else sums.astype(np.float32))
        return self._centroids

    def _all_hubs(self) -> np.ndarray:
        if self._hubs is None:
            self._hubs = hub_scores(self.matrix, self.languages)
        return self._hubs

    def hub_scores(self, vector_ids: np.ndarray | list[int]) -> np.ndarray:
        """Hub score (see search.hubness) of each given vector id; 0 for ids not in this snapshot."""
        import numpy as np

        wanted = np.asarray(vector_ids, dtype=np.int64)
        out = np.zeros(len(wanted), dtype=np.float32)
        if not len(self.ids) or not len(wanted):
            return out
        pos = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        found = self.ids[pos] == wanted
        out[found] = self._all_hubs()[pos[found]]
        return out

    def min_hub_score(self) -> float:
        hubs = self._all_hubs()
        return float(hubs.min()) if len(hubs) else 0.0

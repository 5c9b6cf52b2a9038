"""Corpus-wide statistics over every passage's (centred) vector, at one store generation.

Document centroids (similar cases) need the whole matrix; they are computed lazily from one
snapshot and the snapshot is replaced when the store's generation moves on. Hub scores, which
every dense search needs, are not here: they are kept in the store at write time
(search.hubness.HubReference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nordsearch.search.embedder import normalize_rows

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np

    from nordsearch.search.similar_match import PairCalibration


@dataclass(slots=True)
class CorpusView:
    generation: int
    ids: np.ndarray  # vector ids, ascending
    matrix: np.ndarray  # the vectors as FAISS holds them (language-centred when centring is on)
    documents: list[str]  # document id of each row
    languages: list[str]  # passage language of each row
    _centroids: tuple[list[str], np.ndarray] | None = field(default=None, repr=False)
    _rows: dict[str, np.ndarray] | None = field(default=None, repr=False)
    _calibration: PairCalibration | None = field(default=None, repr=False)

    def document_rows(self) -> dict[str, np.ndarray]:
        """{document id: the rows of its passages}, computed once per snapshot."""
        import numpy as np

        if self._rows is None:
            grouped: dict[str, list[int]] = {}
            for i, d in enumerate(self.documents):
                grouped.setdefault(d, []).append(i)
            self._rows = {d: np.asarray(r, dtype=np.int64) for d, r in grouped.items()}
        return self._rows

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

    def calibration(self, document_language: Mapping[str, str]) -> PairCalibration:
        """How document pairs of each two languages match (similar cases), computed once per
        snapshot: ~0.2 s on the dev corpus, bounded by PAIRS_PER_LANGUAGE_PAIR at any size."""
        from nordsearch.search.similar_match import PairCalibration

        if self._calibration is None:
            self._calibration = PairCalibration.build(self, document_language)
        return self._calibration

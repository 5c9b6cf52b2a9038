"""One index's language centring: its offsets (search.centering), kept in the store, applied to
stored vectors on their way into FAISS.

The offsets are read from the store; a process finding none for the current parallel text
computes them in memory, and only the writer stores them (``store_offsets``), so readers never write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nordsearch.search.centering import LanguageOffsets, parallel_texts, texts_fingerprint

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.model_cache import ModelCache
    from nordsearch.search.store import Store

OFFSETS_META = "language_offsets"  # the store's meta key holding LanguageOffsets.to_json()


class IndexCentering:
    def __init__(self, store: Store, fixed_texts: ModelCache, *, enabled: bool) -> None:
        self.store = store
        self._fixed_texts = fixed_texts
        self.enabled = enabled
        self._offsets: LanguageOffsets | None = None
        self._stored = False
        self._transform: str | None = None

    def transform(self) -> str:
        """The centring part of the transform id FAISS rows are labelled with."""
        if self._transform is None:
            self._transform = f"center-{texts_fingerprint(parallel_texts())}" if self.enabled else ""
        return self._transform

    def offsets(self) -> LanguageOffsets | None:
        """Per-language offsets of this index's model; None when centring is off or the index is empty."""
        if not self.enabled or self.store.model() is None:
            return None
        if self._offsets is not None:
            return self._offsets
        fingerprint = texts_fingerprint(parallel_texts())
        raw = self.store.get_meta(OFFSETS_META)
        if raw:
            try:
                offsets = LanguageOffsets.from_json(raw)
                if offsets.fingerprint == fingerprint:
                    self._offsets, self._stored = offsets, True
                    return offsets
            except (ValueError, KeyError, TypeError):
                pass  # unreadable: recompute below
        fixed = self._fixed_texts
        self._offsets = LanguageOffsets.compute(
            lambda texts: fixed.embed("passage", texts), lambda texts: fixed.embed("query", texts)
        )
        return self._offsets

    def store_offsets(self) -> None:
        """Keep computed offsets in the store, so no later process computes them again. Writer only."""
        offsets = self.offsets()
        if offsets is not None and not self._stored:
            self.store.put_meta(OFFSETS_META, offsets.to_json())
            self._stored = True

    def center(self, matrix: np.ndarray, languages: list[str]) -> np.ndarray:
        """Vectors of passages in ``languages`` as FAISS holds them."""
        offsets = self.offsets()
        if offsets is None or not len(matrix):
            return matrix
        return offsets.center_passages(matrix, languages)

    def prepare(self, ids: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Stored vectors of passages ``ids`` -> the vectors FAISS holds."""
        if self.offsets() is None or not len(ids):
            return matrix
        info = self.store.passage_info(ids.tolist())
        return self.center(matrix, [info.get(int(i), ("", ""))[1] for i in ids])

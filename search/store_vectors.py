"""Passage vector reads (search.store): the float32 blobs FAISS (search.vectors) is built and kept
current from. Vectors are written with their passage (search.store_writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.store_database import StoreDatabase


class VectorStore:
    """The passages' vector column, decoded to numpy at the dimension the model recorded."""

    def __init__(self, db: StoreDatabase) -> None:
        self._db = db

    def all_passage_vectors(self) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        """(vector ids, float32 matrix, document ids, languages) of every passage, in id order, from
        one read (separate queries could straddle a write and misalign)."""
        rows = self._db.query("SELECT rowid, vector, document_id, language FROM passages ORDER BY rowid")
        ids, matrix = self._decode_vectors(rows)
        return ids, matrix, [r[2] for r in rows], [r[3] for r in rows]

    def vector_ids(self) -> np.ndarray:
        """Every passage's vector id (int64, sorted): lets a reader catch up without re-reading vectors."""
        import numpy as np

        rows = self._db.query("SELECT rowid FROM passages ORDER BY rowid")
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(vector ids int64, float32 matrix) of every passage, in id order."""
        return self._vectors("SELECT rowid, vector FROM passages ORDER BY rowid", [])

    def vectors_for(self, vector_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        ids = [int(i) for i in vector_ids]
        parts = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            parts.append(self._vectors(f"SELECT rowid, vector FROM passages WHERE rowid IN ({marks})", chunk))
        import numpy as np

        dim = (self._db.model() or ("", 0))[1]
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _vectors(self, sql: str, params: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        return self._decode_vectors(self._db.query(sql, params))

    def _decode_vectors(self, rows: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, matrix) from rows whose first two columns are rowid and the vector blob."""
        import numpy as np

        dim = (self._db.model() or ("", 0))[1]
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.empty((len(rows), dim), dtype=np.float32)
        for i, r in enumerate(rows):
            matrix[i] = np.frombuffer(r[1], dtype=np.float32)
        return ids, matrix

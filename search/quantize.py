"""Compact storage of many unit vectors: int8 rows with one float16 scale each.

Used for sentence vectors, which are only ever compared with a query to pick a hit's best
sentence: 4 bytes per dimension would make them the largest thing in the store, and int8 with a
per-row scale keeps cosines within ~0.01 (tests/search/test_quantize.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def pack(matrix: np.ndarray) -> bytes:
    """rows (float) -> bytes: n float16 scales, then n x dim int8 values."""
    import numpy as np

    m = np.asarray(matrix, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"expected a matrix, got shape {m.shape}")
    peak = np.abs(m).max(axis=1) if m.size else np.zeros(len(m), dtype=np.float32)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float16)
    q = np.clip(np.rint(m / scale.astype(np.float32)[:, None]), -127, 127).astype(np.int8)
    return scale.tobytes() + q.tobytes()


def unpack(blob: bytes, dimension: int) -> np.ndarray:
    """bytes from pack() -> float32 rows (n x dimension)."""
    import numpy as np

    n = len(blob) // (2 + dimension)
    if n * (2 + dimension) != len(blob):
        raise ValueError(f"blob of {len(blob)} bytes does not hold rows of dimension {dimension}")
    scale = np.frombuffer(blob, dtype=np.float16, count=n).astype(np.float32)
    q = np.frombuffer(blob, dtype=np.int8, offset=2 * n).reshape(n, dimension)
    return q.astype(np.float32) * scale[:, None]

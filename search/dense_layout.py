"""How passages and queries are laid out for FAISS, and what a saved FAISS file must match.

Shared by the vector space (search.vector_space), which builds and searches the rows, and the
writer (search.indexer), which adds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nordsearch.search.vector_manifest import MANIFEST_FILE, Manifest
from nordsearch.search.vectors import FLAT, HNSW

if TYPE_CHECKING:
    import numpy as np

# A few extra neighbours so that equal scores (duplicate boilerplate passages) cut at the page edge
# are ordered by id, not by FAISS's arbitrary pick: pages then never overlap.
TIE_MARGIN = 16
# FAISS holds each passage as [its language-centred vector, -(hub - mean hub)] and a query as
# [its vector, hub_weight], so the inner product FAISS ranks by is already the dense score
# cos - hub_weight * hub (plus the constant hub_weight * mean, taken off again): one search returns
# the exact top k, where ranking by cosine and re-scoring needed ever wider fetches when cosines
# are flat (a 100k-passage index fetched ~2,000 candidates and their hub scores per query).
# Centring the hub column keeps it small beside the vector, so the HNSW graph built over these
# rows is a graph of the vectors' own neighbourhoods.
HUB_COLUMNS = 1


def faiss_rows(centred: np.ndarray, hubs: np.ndarray, hub_mean: float) -> np.ndarray:
    """Centred vectors with their hub column, as FAISS holds them (see HUB_COLUMNS)."""
    import numpy as np

    column = -(np.asarray(hubs, dtype=np.float32) - np.float32(hub_mean))
    return np.hstack([np.asarray(centred, dtype=np.float32), column.reshape(-1, 1)])


def wanted_kind(count: int, current: str, threshold: int) -> str:
    """Flat below the HNSW threshold, HNSW from it on; an HNSW index stays HNSW until the count
    falls under half the threshold, so a collection hovering at the edge is not rebuilt each time."""
    if count >= threshold:
        return HNSW
    if current == HNSW and count >= threshold // 2:
        return HNSW
    return FLAT


def read_manifest(path: Path) -> Manifest | None:
    try:
        return Manifest.read(path / MANIFEST_FILE)
    except (OSError, ValueError, KeyError, TypeError):
        return None

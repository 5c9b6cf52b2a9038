"""The FAISS vector index: a cache derived from the store's vectors, saved atomically with a manifest.

Inner product on L2-normalised vectors (= cosine). Ids are the store's passage rowids, so a hit
maps straight back to its passage. Small collections use an exact flat index; past
``hnsw_threshold`` passages an HNSW graph keeps queries fast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.errors import IndexMismatchError
from search.fsutil import atomic_write, atomic_write_text

if TYPE_CHECKING:
    import numpy as np

VECTORS_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
DEFAULT_HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# Filters admitting at most this many passages are scored exactly (a dot product over just those
# vectors): cheaper than a filtered scan, and exact even where HNSW's filtered graph walk would miss.
EXACT_SEARCH_MAX = 4096
FLAT, HNSW = "flat", "hnsw"
COMPACT_FRACTION = 0.2  # rebuild an HNSW index once this share of its vectors are deleted


@dataclass(slots=True)
class Manifest:
    model: str
    dimension: int
    count: int
    index_type: str
    generation: int
    created: str
    version: int = MANIFEST_VERSION
    # HNSW cannot delete: removed passages stay in vectors.faiss, masked out at search time.
    # Their ids are listed here; a rebuild compacts them away past COMPACT_FRACTION.
    deleted_ids: list[int] = field(default_factory=list)
    # How stored vectors were transformed before going into FAISS (e.g. language centring with
    # given offsets); a file built with another transform is stale and rebuilt from the store.
    transform: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            model=str(data["model"]), dimension=int(data["dimension"]), count=int(data["count"]),
            index_type=str(data["index_type"]), generation=int(data["generation"]), created=str(data["created"]),
            version=int(data.get("version", MANIFEST_VERSION)),
            deleted_ids=[int(i) for i in data.get("deleted_ids", [])],
            transform=str(data.get("transform", "")),
        )  # fmt: skip


def check_manifest(manifest: Manifest, model: str, dimension: int, generation: int, count: int) -> bool:
    """True if the saved vectors are current for the store; False if stale (rebuild from the store).

    A different model or dimension is not staleness but a configuration error: the stored vectors
    themselves are from another model, so rebuilding the FAISS file cannot fix it.
    """
    if manifest.model != model or manifest.dimension != dimension:
        raise IndexMismatchError(
            f"the vector index was built with model {manifest.model!r} (dimension {manifest.dimension}) but the "
            f"store holds vectors of {model!r} (dimension {dimension}); re-index with --rebuild or use the "
            "right model"
        )
    return manifest.generation == generation and manifest.count == count


class VectorIndex:
    """An ``IndexIDMap2`` over ``IndexFlatIP`` or ``IndexHNSWFlat`` (inner product)."""

    def __init__(self, index: Any, kind: str, deleted: np.ndarray | None = None) -> None:
        self._index = index
        self.kind = kind
        self._deleted = deleted  # sorted int64 ids masked out (HNSW only); None when there are none

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def build(
        cls, ids: np.ndarray, matrix: np.ndarray, *, dimension: int | None = None,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
    ) -> VectorIndex:  # fmt: skip
        import faiss
        import numpy as np

        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        dim = int(matrix.shape[1]) if matrix.ndim == 2 and matrix.shape[1] else int(dimension or 0)
        if dim <= 0:
            raise ValueError("cannot build a vector index without a dimension")
        if len(ids) >= hnsw_threshold:
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = HNSW_EF_SEARCH
            kind = HNSW
        else:
            inner = faiss.IndexFlatIP(dim)
            kind = FLAT
        index = faiss.IndexIDMap2(inner)
        if len(ids):
            index.add_with_ids(matrix.reshape(len(ids), dim), np.ascontiguousarray(ids, dtype=np.int64))
        return cls(index, kind)

    @property
    def count(self) -> int:
        """Live vectors (deleted-but-masked HNSW vectors excluded)."""
        return int(self._index.ntotal) - self.deleted_count

    @property
    def deleted_count(self) -> int:
        return 0 if self._deleted is None else len(self._deleted)

    @property
    def needs_compaction(self) -> bool:
        return self.deleted_count > COMPACT_FRACTION * max(int(self._index.ntotal), 1)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def ids(self) -> np.ndarray:
        """Live vector ids, sorted."""
        import faiss
        import numpy as np

        all_ids = np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False))
        if self._deleted is None:
            return all_ids
        return np.setdiff1d(all_ids, self._deleted, assume_unique=True)

    def add(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        import numpy as np

        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(matrix, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
            )

    def remove(self, ids: np.ndarray) -> None:
        """Delete ids: in place for flat, masked for HNSW (whose graph cannot drop nodes)."""
        import faiss
        import numpy as np

        ids = np.intersect1d(np.asarray(ids, dtype=np.int64), self.ids())
        if not len(ids):
            return
        if self.kind == FLAT:
            self._index.remove_ids(faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids)))
        else:
            self._deleted = ids if self._deleted is None else np.union1d(self._deleted, ids)

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        import numpy as np

        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(ids), dtype=np.float32).reshape(
            len(ids), self.dimension
        )

    # -- search ---------------------------------------------------------------------------------

    def search(
        self, query_vecs: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k), best first; missing slots have id -1 and score -inf.

        ``allowed_ids`` restricts the search *during* the scan, so a strict filter still returns
        its k best rather than the few survivors of a global top-k.
        """
        import faiss
        import numpy as np

        q = np.ascontiguousarray(np.atleast_2d(query_vecs), dtype=np.float32)
        nq = q.shape[0]
        scores = np.full((nq, k), -np.inf, dtype=np.float32)
        labels = np.full((nq, k), -1, dtype=np.int64)
        if k <= 0 or self.count == 0:
            return scores, labels
        if allowed_ids is None and self._deleted is None:
            kk = min(k, self.count)
            params = (
                faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, kk)) if self.kind == HNSW else None
            )
            d, i = self._index.search(q, kk, params=params)
            scores[:, :kk], labels[:, :kk] = d, i
            return _clean(scores, labels)
        if allowed_ids is None:  # HNSW with masked deletions: everything live is allowed
            allowed_ids = self.ids()
        allowed = np.intersect1d(np.asarray(allowed_ids, dtype=np.int64), self.ids())  # drops masked ids
        if len(allowed) == 0:
            return scores, labels
        # Exact scoring when few passages qualify, and always for HNSW filters admitting under a
        # fifth of the index (its filtered graph walk loses recall when most nodes are excluded).
        if len(allowed) <= EXACT_SEARCH_MAX or (self.kind == HNSW and len(allowed) < self.count // 5):
            return self._exact(q, k, allowed, scores, labels)
        kk = min(k, len(allowed))
        sel = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
        if self.kind == HNSW:
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, 2 * kk))
        else:
            params = faiss.SearchParameters(sel=sel)
        d, i = self._index.search(q, kk, params=params)
        scores[:, :kk], labels[:, :kk] = d, i
        if self.kind == HNSW and (labels[:, :kk] < 0).any():  # graph walk came up short: be exact
            return self._exact(q, k, allowed, scores, labels)
        return _clean(scores, labels)

    def _exact(
        self, q: np.ndarray, k: int, allowed: np.ndarray, scores: np.ndarray, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        sims = q @ self.reconstruct(allowed).T  # (nq, n_allowed)
        kk = min(k, len(allowed))
        top = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
        scores[:, :kk] = np.take_along_axis(sims, top, axis=1)
        labels[:, :kk] = allowed[top]
        return scores, labels

    # -- persistence ----------------------------------------------------------------------------

    def save(self, directory: Path, *, model: str, generation: int, transform: str = "") -> Manifest:
        """Write vectors.faiss then manifest.json, each atomically. The manifest goes last: if we die
        between the two, the old manifest's generation/count no longer match and load rebuilds."""
        import faiss

        directory = Path(directory)
        atomic_write(directory / VECTORS_FILE, lambda tmp: faiss.write_index(self._index, str(tmp)))
        manifest = Manifest(
            model=model, dimension=self.dimension, count=self.count, index_type=self.kind,
            generation=generation, created=datetime.now(UTC).isoformat(timespec="seconds"),
            deleted_ids=[] if self._deleted is None else self._deleted.tolist(), transform=transform,
        )  # fmt: skip
        atomic_write_text(directory / MANIFEST_FILE, manifest.to_json())
        return manifest

    @classmethod
    def load(cls, directory: Path) -> tuple[VectorIndex, Manifest] | None:
        """The saved index and its manifest, or None if absent or unreadable (rebuild from the store)."""
        import faiss

        directory = Path(directory)
        vec_path, man_path = directory / VECTORS_FILE, directory / MANIFEST_FILE
        if not vec_path.exists() or not man_path.exists():
            return None
        try:
            manifest = Manifest.read(man_path)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            index = faiss.read_index(str(vec_path))
        except RuntimeError:
            return None
        import numpy as np

        # the kind comes from the file itself, not from what the manifest claims
        kind = HNSW if isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW) else FLAT
        deleted = np.asarray(sorted(manifest.deleted_ids), dtype=np.int64) if manifest.deleted_ids else None
        vi = cls(index, kind, deleted)
        # Manifest and file disagree (crash between the two replaces): report as stale via count.
        if vi.count != manifest.count:
            manifest.count = -1
        return vi, manifest


def _clean(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    scores[labels < 0] = -np.inf
    return scores, labels

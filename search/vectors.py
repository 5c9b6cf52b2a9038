"""The FAISS vector index: a cache derived from the store's vectors, saved atomically with a manifest.

Inner product on L2-normalised vectors (= cosine). Ids are the store's passage rowids, so a hit
maps straight back to its passage. Small collections use an exact flat index; past
``hnsw_threshold`` passages an HNSW graph keeps queries fast, over vectors stored as float16
(half the memory; scores differ from float32 by ~1e-4, far below the gaps that decide a top ten:
bench/bench_scale.py measures recall against exact float32 search).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nordsearch.search.fsutil import atomic_write, atomic_write_text
from nordsearch.search.vector_manifest import MANIFEST_FILE, VECTORS_FILE, Manifest

if TYPE_CHECKING:
    import numpy as np

DEFAULT_HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# efSearch grows with the collection, from HNSW_EF_SEARCH to HNSW_EF_SEARCH_MAX (one more per
# HNSW_PASSAGES_PER_EF passages). Measured on passages grown from the shared corpus
# (bench/bench_scale.py, 100 queries), recall@10 against exact: 100k 0.86 at 128, 0.91 at 256,
# 0.96 at 512; 1M 0.82 at 512, 0.89 at 1024, 0.97 at 2048 (11 ms a query). The grown collection
# is the hard case: each real passage has hundreds of noisy copies, so a query's ten nearest are
# near-ties in one tight cluster.
HNSW_EF_SEARCH = 512
HNSW_PASSAGES_PER_EF = 400
# Filters admitting at most this many passages are scored exactly (a dot product over just those
# vectors): cheaper than a filtered scan, and exact even where HNSW's filtered graph walk would miss.
EXACT_SEARCH_MAX = 4096
# An HNSW filter admitting under this share of the index is scanned exactly instead of walked.
HNSW_FILTER_MIN_SHARE = 0.2
# A filtered walk's k-th admitted hit is trusted within this leading share of the unfiltered
# beam (or twice as deep as it would sit were the filter blind to the query); deeper, the
# filtered walk runs as well. Measured under a theme filter keeping 63 %
# (bench/bench_scale.py): recall@10 0.913 -> 0.972 at 100k (p95 18 -> 29 ms), 0.863 -> 0.882 at
# 1M; 0.25 gave 0.952 / 0.876, 0.05 gave 0.978 / 0.888 for a few ms more. The "twice as deep"
# bound is for the hybrid pool (k=50), which 0.1 x a 512 beam sent down the filtered walk almost
# every time: at 100k under that filter, k=50 p50 41.7 -> 8.8 ms, recall@50 0.987 -> 0.967; k=10
# unchanged (an A/B in one process, 200 queries).
WALK_TRUSTED_DEPTH = 0.1
HNSW_EF_SEARCH_MAX = 4096
FLAT, HNSW = "flat", "hnsw"
COMPACT_FRACTION = 0.2  # rebuild an HNSW index once this share of its vectors are deleted
# An id -> FAISS position table (4 bytes an id) is kept while the largest id is below this many
# times the live count plus SLOT_TABLE_MIN.
SLOT_TABLE_SPARSITY = 4
SLOT_TABLE_MIN = 1 << 16


class VectorIndex:
    """An ``IndexIDMap2`` over ``IndexFlatIP`` or ``IndexHNSWFlat`` (inner product)."""

    def __init__(self, index: Any, kind: str, deleted: np.ndarray | None = None) -> None:
        self._index = index
        self.kind = kind
        self._deleted = deleted  # sorted int64 ids masked out (HNSW only); None when there are none
        self._order: _Live | None = None

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
            inner = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = HNSW_EF_SEARCH
            inner.train(matrix[:1])  # float16 learns nothing; FAISS still wants the call
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
        return self._live().ids

    def _live(self) -> _Live:
        """Which ids the index holds and where: computed once per change, not per query."""
        if self._order is None:
            import faiss
            import numpy as np

            stored = faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False)
            positions = np.argsort(stored, kind="stable")
            if self._deleted is not None:
                positions = positions[~np.isin(stored[positions], self._deleted, assume_unique=True)]
            self._order = _Live(stored[positions], positions, stored)
        return self._order

    def live_subset(self, ids: np.ndarray) -> np.ndarray:
        """The ids among ``ids`` this index holds and has not deleted, sorted and unique."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            ids = np.unique(ids)
        return self._live().subset(ids)

    def add(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        import numpy as np

        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(matrix, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
            )
            self._order = None

    def remove(self, ids: np.ndarray) -> None:
        """Delete ids: in place for flat, masked for HNSW (whose graph cannot drop nodes)."""
        import faiss
        import numpy as np

        ids = self.live_subset(ids)
        if not len(ids):
            return
        if self.kind == FLAT:
            self._index.remove_ids(faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids)))
        else:
            self._deleted = ids if self._deleted is None else np.union1d(self._deleted, ids)
        self._order = None

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
            params = faiss.SearchParametersHNSW(efSearch=max(self._ef(), kk)) if self.kind == HNSW else None
            d, i = self._index.search(q, kk, params=params)
            scores[:, :kk], labels[:, :kk] = d, i
            return _clean(scores, labels)
        order = self._live()
        allowed = order.ids if allowed_ids is None else self.live_subset(allowed_ids)  # drops masked ids
        if len(allowed) == 0:
            return scores, labels
        kk = min(k, len(allowed))
        if self.kind == FLAT or len(allowed) <= EXACT_SEARCH_MAX:
            # flat: FAISS scans only the admitted vectors; a handful: score them directly
            if len(allowed) <= EXACT_SEARCH_MAX:
                return self._exact(q, k, allowed, scores, labels)
            bitmap, _ = _bitmap(allowed)
            d, i = self._index.search(q, kk, params=faiss.SearchParameters(sel=bitmap))
        elif len(allowed) < HNSW_FILTER_MIN_SHARE * len(order.ids):
            # a strict filter: the graph walk would wade through excluded nodes and lose recall,
            # while an exact scan of just the admitted vectors is cheap (a dot product each)
            d, i = self._scan(q, kk, order.positions_of(allowed), order.id_map)
        else:
            d, i = self._walk_admitted(q, kk, allowed, order)
        scores[:, :kk], labels[:, :kk] = d, i
        return _clean(scores, labels)

    def _ef(self) -> int:
        """efSearch for this collection's size (see HNSW_EF_SEARCH)."""
        return int(min(HNSW_EF_SEARCH_MAX, max(HNSW_EF_SEARCH, self.count // HNSW_PASSAGES_PER_EF)))

    def _walk_admitted(
        self, q: np.ndarray, k: int, allowed: np.ndarray, order: _Live
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top k among ``allowed`` (a fifth of the index or more) by HNSW: the unfiltered walk's
        whole beam (at least twice k admitted ones expected), keeping the admitted (FAISS's filtered
        walk alone lost recall: 0.89 at 1M for a filter keeping 63%, as excluded nodes still fill
        its beam). When the k-th admitted lies deep in the beam, where the walk is least accurate
        (or beyond it: the filter excludes the query's neighbourhood), the filtered walk runs too
        and the best of both is kept (an exact scan of 600k vectors would cost ~300 ms); an exact
        scan only if both together come back short."""
        import faiss
        import numpy as np

        # where the k-th admitted would sit in the beam if the filter were blind to the query
        expected = k * len(order.id_map) / len(allowed)
        # the walk's cost is its beam (efSearch), not how many of the beam it returns: take it all
        ef = max(self._ef(), int(np.ceil(2 * expected)) + k)
        want = min(int(self._index.ntotal), ef)
        trusted = max(WALK_TRUSTED_DEPTH * want, 2 * expected)
        d, i = self._index.search(q, want, params=faiss.SearchParametersHNSW(efSearch=ef))
        out_d = np.full((len(q), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(q), k), -1, dtype=np.int64)
        for row in range(len(q)):
            at = np.minimum(np.searchsorted(allowed, i[row]), len(allowed) - 1)
            keep = np.flatnonzero(allowed[at] == i[row])
            if len(keep) >= k and keep[k - 1] < trusted:
                out_d[row], out_i[row] = d[row, keep[:k]], i[row, keep[:k]]
                continue
            bitmap, _keep = _bitmap(allowed)
            params = faiss.SearchParametersHNSW(sel=bitmap, efSearch=HNSW_EF_SEARCH_MAX)
            wd, wi = self._index.search(q[row : row + 1], k, params=params)
            found = wi[0] >= 0
            ids, first = np.unique(np.concatenate([i[row, keep], wi[0, found]]), return_index=True)
            if len(ids) < k:  # both walks came up short: be exact
                wd, wi = self._scan(q[row : row + 1], k, order.positions_of(allowed), order.id_map)
                out_d[row], out_i[row] = wd[0], wi[0]
                continue
            scores = np.concatenate([d[row, keep], wd[0, found]])[first]
            best = np.argsort(-scores, kind="stable")[:k]  # ties by id: ids come sorted
            out_d[row], out_i[row] = scores[best], ids[best]
        return out_d, out_i

    def _scan(
        self, q: np.ndarray, k: int, inside: np.ndarray, id_map: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top k among the HNSW graph's stored vectors at FAISS positions ``inside``."""
        import faiss
        import numpy as np

        bitmap, _keep = _bitmap(inside)
        storage = faiss.downcast_index(faiss.downcast_index(self._index.index).storage)
        d, at = storage.search(q, k, params=faiss.SearchParameters(sel=bitmap))
        return d, np.where(at >= 0, id_map[np.maximum(at, 0)], -1)

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


@dataclass(frozen=True, slots=True)
class _Live:
    """The live ids (sorted), the FAISS position of each, and the id at every FAISS position.

    ``subset`` and ``positions_of`` are on every filtered search's path: at 1M passages a theme
    filter admits ~600k ids, and two binary searches of those into the live ids cost ~40 ms a
    query. A table from id to position (4 bytes an id up to the largest) answers both by one
    gather; ids far sparser than the count (heavy churn) keep the binary searches.
    """

    ids: np.ndarray
    positions: np.ndarray
    id_map: np.ndarray
    slots: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        import numpy as np

        top = int(self.ids[-1]) if len(self.ids) else -1
        if 0 <= top < SLOT_TABLE_SPARSITY * len(self.ids) + SLOT_TABLE_MIN:
            slots = np.full(top + 2, -1, dtype=np.int32)  # the last slot catches ids beyond the top
            slots[self.ids] = self.positions
            object.__setattr__(self, "slots", slots)

    def subset(self, ids: np.ndarray) -> np.ndarray:
        """The live ones of ``ids`` (sorted, unique), in order."""
        import numpy as np

        if not len(self.ids) or not len(ids):
            return ids[:0]
        if self.slots is not None:
            return ids[self.slots[np.clip(ids, -1, len(self.slots) - 1)] >= 0]
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return ids[self.ids[at] == ids]

    def positions_of(self, ids: np.ndarray) -> np.ndarray:
        """FAISS positions of live ``ids``."""
        import numpy as np

        if self.slots is not None:
            return self.slots[ids].astype(np.int64)
        return self.positions[np.searchsorted(self.ids, ids)]


def _bitmap(ids: np.ndarray) -> tuple[Any, np.ndarray]:
    """A FAISS selector admitting exactly ``ids`` (non-negative), and the bit array it points into
    (keep it alive as long as the selector)."""
    import faiss
    import numpy as np

    bits = np.zeros(int(ids.max()) + 1 if len(ids) else 1, dtype=bool)
    bits[ids] = True
    packed = np.packbits(bits, bitorder="little")
    return faiss.IDSelectorBitmap(len(packed), faiss.swig_ptr(packed)), packed  # n counts bytes


def _clean(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    scores[labels < 0] = -np.inf
    return scores, labels

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nordsearch.search import vectors as vmod
from nordsearch.search.vector_manifest import MANIFEST_FILE, VECTORS_FILE, Manifest, check_manifest
from nordsearch.search.vectors import FLAT, HNSW, VectorIndex


def _data(n: int = 500, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, d)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    ids = np.arange(1000, 1000 + n, dtype=np.int64)  # ids are store rowids, not positions
    return ids, m


def _brute(q: np.ndarray, ids: np.ndarray, m: np.ndarray, k: int, allowed=None) -> list[int]:
    mask = np.ones(len(ids), bool) if allowed is None else np.isin(ids, allowed)
    sims = m[mask] @ q
    return list(ids[mask][np.argsort(-sims, kind="stable")[:k]])


def test_flat_search_is_exact():
    ids, m = _data()
    vi = VectorIndex.build(ids, m)
    assert vi.kind == FLAT and vi.count == 500
    scores, labels = vi.search(m[:3], 5)
    for row in range(3):
        assert list(labels[row]) == _brute(m[row], ids, m, 5)
        assert labels[row, 0] == ids[row] and scores[row, 0] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("exact_max", [0, 10_000])  # 0 forces the bitmap-selector scan
def test_filtered_search_returns_k_best_of_allowed(monkeypatch, exact_max):
    monkeypatch.setattr(vmod, "EXACT_SEARCH_MAX", exact_max)
    ids, m = _data()
    vi = VectorIndex.build(ids, m)
    q = m[0]
    # a strict filter that excludes the global top 50 entirely
    top50 = _brute(q, ids, m, 50)
    allowed = np.array([i for i in ids if i not in top50][::7], dtype=np.int64)
    _, labels = vi.search(q[None, :], 10, allowed)
    assert list(labels[0]) == _brute(q, ids, m, 10, allowed)
    assert all(lab in set(allowed) for lab in labels[0])


def test_filter_smaller_than_k_pads_with_minus_one():
    ids, m = _data(50)
    vi = VectorIndex.build(ids, m)
    scores, labels = vi.search(m[:1], 10, np.array([ids[3], ids[7], 99999], dtype=np.int64))
    assert sorted(labels[0, :2]) == [ids[3], ids[7]] and (labels[0, 2:] == -1).all()
    assert np.isneginf(scores[0, 2:]).all()
    _, labels = vi.search(m[:1], 10, np.array([], dtype=np.int64))
    assert (labels == -1).all()


@pytest.mark.parametrize("exact_max", [0, 10_000])
def test_hnsw_past_threshold_and_filtered(monkeypatch, exact_max):
    monkeypatch.setattr(vmod, "EXACT_SEARCH_MAX", exact_max)
    ids, m = _data(2000)
    vi = VectorIndex.build(ids, m, hnsw_threshold=1000)
    assert vi.kind == HNSW
    _, labels = vi.search(m[5:6], 10)
    assert labels[0, 0] == ids[5]
    allowed = ids[::3]  # a third of the index: selector path when exact_max == 0
    _, labels = vi.search(m[5:6], 10, allowed)
    assert (labels[0] >= 0).all() and set(labels[0]) <= set(allowed)
    strict = ids[1::97]  # ~20 passages: always exact
    _, labels = vi.search(m[5:6], 10, strict)
    assert list(labels[0]) == _brute(m[5], ids, m, 10, strict)


def test_hnsw_filter_keeping_a_large_share_finds_the_admitted_best_even_far_from_the_query():
    ids, m = _data(2000)
    vi = VectorIndex.build(ids, m, hnsw_threshold=1000)
    q = m[5]
    half = ids[::2]  # near the query and far: the over-fetched walk finds twice k of them
    _, labels = vi.search(q[None, :], 10, half)
    assert set(labels[0]) <= set(half) and len(set(labels[0]) & set(_brute(q, ids, m, 10, half))) >= 9
    # the 30% farthest from the query: the walk's candidates are all excluded, so it scans them
    far = np.sort(np.asarray(_brute(-q, ids, m, 600), dtype=np.int64))
    scores, labels = vi.search(q[None, :], 10, far)
    exact = np.sort(m[np.searchsorted(ids, far)] @ q)[::-1][:10]
    assert set(labels[0]) <= set(far)
    np.testing.assert_allclose(scores[0], exact, atol=2e-3)  # float16 storage


@pytest.mark.parametrize("share", [2, 3, 97])  # walk (merged with the filtered walk), scan, exact
def test_sparse_ids_search_as_dense_ones(share):
    """Ids far sparser than their count (heavy churn) are looked up by binary search instead of
    the id -> position table: the same filtered answers, the same masked deletions."""
    ids, m = _data(3000)
    sparse = ids * 100_000 + 7
    near, far = (
        VectorIndex.build(ids, m, hnsw_threshold=1000),
        VectorIndex.build(sparse, m, hnsw_threshold=1000),
    )
    near.remove(ids[5::50])
    far.remove(sparse[5::50])
    assert near._live().slots is not None and far._live().slots is None
    for q in (m[5], m[6], -m[6]):
        allowed = ids[::share]
        a_scores, a = near.search(q[None, :], 10, allowed)
        b_scores, b = far.search(q[None, :], 10, allowed * 100_000 + 7)
        assert (a >= 0).all() and not set(a[0]) & set(ids[5::50])
        assert list(b[0]) == [i * 100_000 + 7 for i in a[0]]
        np.testing.assert_array_equal(a_scores, b_scores)
    assert list(far.live_subset(sparse[:4])) == list(sparse[:4]) and not len(far.live_subset(sparse[5:6]))


def test_add_and_remove_flat():
    ids, m = _data(20)
    vi = VectorIndex.build(ids[:10], m[:10])
    vi.add(ids[10:], m[10:])
    vi.remove(ids[:5])
    assert vi.count == 15 and vi.deleted_count == 0
    _, labels = vi.search(m[:1], 20)
    assert ids[0] not in set(labels[0])
    np.testing.assert_allclose(vi.reconstruct(ids[12:14]), m[12:14])


def test_hnsw_remove_masks_and_survives_save(tmp_path: Path):
    ids, m = _data(300)
    vi = VectorIndex.build(ids, m, hnsw_threshold=100)
    vi.remove(ids[:30])
    vi.remove(ids[:10])  # removing twice changes nothing
    assert vi.kind == HNSW and vi.count == 270 and vi.deleted_count == 30 and not vi.needs_compaction
    _, labels = vi.search(m[:1], 10)
    assert (labels[0] >= 0).all() and not set(labels[0]) & set(ids[:30])
    assert list(vi.ids()) == list(ids[30:])
    _, labels = vi.search(m[:1], 20, ids[:40])  # a filter naming deleted ids never returns them
    assert sorted(labels[0][labels[0] >= 0]) == list(ids[30:40])
    vi.save(tmp_path, model="fake", generation=3)
    loaded, man = VectorIndex.load(tmp_path)
    assert man.deleted_ids == list(ids[:30]) and man.count == 270 and loaded.count == 270
    _, labels = loaded.search(m[:1], 10)
    assert not set(labels[0]) & set(ids[:30])
    loaded.remove(ids[30:70])
    assert loaded.needs_compaction


def test_empty_index():
    vi = VectorIndex.build(np.zeros(0, np.int64), np.zeros((0, 8), np.float32), dimension=8)
    assert vi.count == 0
    _, labels = vi.search(np.ones((1, 8), np.float32), 3)
    assert (labels == -1).all()


def test_save_is_atomic_and_roundtrips(tmp_path: Path):
    ids, m = _data(30)
    vi = VectorIndex.build(ids, m)
    man = vi.save(tmp_path, model="fake", generation=7)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_FILE, VECTORS_FILE]  # no temp files left
    data = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert data["model"] == "fake" and data["dimension"] == 16 and data["count"] == 30
    assert data["generation"] == 7 and data["index_type"] == FLAT and data["created"]
    loaded, man2 = VectorIndex.load(tmp_path)
    assert man2 == man and loaded.count == 30
    assert check_manifest(man2, "fake", 16, 7, 30, "")


def test_failed_write_leaves_previous_file(tmp_path: Path, monkeypatch):
    ids, m = _data(30)
    VectorIndex.build(ids, m).save(tmp_path, model="fake", generation=1)
    before = (tmp_path / VECTORS_FILE).read_bytes()
    import faiss

    def broken(index, path):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken)
    with pytest.raises(RuntimeError):
        VectorIndex.build(ids[:5], m[:5]).save(tmp_path, model="fake", generation=2)
    assert (tmp_path / VECTORS_FILE).read_bytes() == before
    assert Manifest.read(tmp_path / MANIFEST_FILE).generation == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_FILE, VECTORS_FILE]


def test_load_missing_or_corrupt(tmp_path: Path):
    assert VectorIndex.load(tmp_path) is None
    (tmp_path / VECTORS_FILE).write_bytes(b"garbage")
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    assert VectorIndex.load(tmp_path) is None

"""Crash safety of `nordsearch index`: SIGKILLed at random moments, the index still opens with FAISS,
the lexical index and the store in exact agreement, and a re-run ends where an uninterrupted run
ends (the session's corpus_index): the same documents, passages and search results."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nordsearch.search import SearchIndex
from nordsearch.search.lexical_index import LexicalIndex
from nordsearch.search.query import SearchRequest
from nordsearch.search.vectors import VectorIndex
from tests.conftest import CORPUS, nordsearch_cli

pytestmark = pytest.mark.slow

QUERIES = [
    "Miten kaupunki varautuu rankkasateisiin?",
    "cykelbanor vintertid",
    "utslippsfrie byggeplasser",
    "social housing renewal plan",
]


def _index_command(index_dir: Path, model_dir: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NORDSEARCH_MODEL": str(model_dir)}
    return [*nordsearch_cli(), "index", str(CORPUS), "--index", str(index_dir), "--quiet"], env


def _kill_during_run(index_dir: Path, model_dir: Path, after: float) -> bool:
    """Start indexing, SIGKILL its whole process group (workers too) ``after`` seconds in; False
    when it had finished by then."""
    cmd, env = _index_command(index_dir, model_dir)
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        proc.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def _assert_consistent(index_dir: Path) -> int:
    """The store, FAISS and the lexical index hold exactly the same passages, in memory after
    opening; a saved file is either current with the store or older (never newer, never broken).
    Returns the number of documents."""
    with SearchIndex.open(index_dir) as index:
        store_ids = np.sort(index.store.vector_ids())
        generation = index.store.generation()
        assert np.array_equal(index.space.vectors().ids(), store_ids)
        assert np.array_equal(index.space.lexical_index().ids(), store_ids)
        passages = sum(len(index.passages(d.document_id)) for d in index.documents(limit=1000))
        assert passages == len(store_ids)
        documents = index.count_documents()
    saved = VectorIndex.load(index_dir)
    if saved is not None:
        vectors, manifest = saved
        assert manifest.generation <= generation
        if manifest.generation == generation:
            assert np.array_equal(vectors.ids(), store_ids)
    if (index_dir / "lexical.npz").exists():
        assert LexicalIndex.load(index_dir / "lexical.npz") is not None  # whole, as saved atomically
    return documents


def _snapshot(index_dir: Path) -> dict[str, object]:
    with SearchIndex.open(index_dir) as index:
        docs = {d.document_id: d.source for d in index.documents(limit=1000)}
        passages = {doc_id: [(p.passage_id, p.text) for p in index.passages(doc_id)] for doc_id in docs}
        results = {
            q: [(h.passage_id, round(h.score, 4)) for h in index.search(SearchRequest(q=q, k=10)).results]
            for q in QUERIES
        }
    return {"documents": docs, "passages": passages, "results": results}


def test_index_killed_three_times_then_rerun_matches_an_uninterrupted_run(
    tmp_path: Path, e5_model_dir: Path, corpus_index: Path
) -> None:
    index_dir = tmp_path / "index"
    reference = _snapshot(corpus_index)
    total = len(reference["documents"])
    rng = random.Random(15)
    kills, seen_documents, attempts = 0, [], 0
    delay = 4.0  # seconds into a run: past the start-up, into extraction, encoding and writes
    # at least three kills, and at least one of them mid-batch (some documents committed, not all)
    while kills < 3 or not any(0 < n < total for n in seen_documents):
        attempts += 1
        assert attempts <= 15, (
            f"no kill fell mid-run in {attempts - 1} runs: {seen_documents}, delay {delay:.1f} s"
        )
        if _kill_during_run(index_dir, e5_model_dir, after=delay + rng.uniform(0, 4)):
            kills += 1
            n = _assert_consistent(index_dir) if index_dir.joinpath("store.sqlite").exists() else 0
            seen_documents.append(n)
            if n == 0:  # a loaded machine had committed nothing yet: kill later next time
                delay *= 1.5
        else:  # it finished before the kill: start over on a fresh index, killing sooner
            for path in index_dir.iterdir():
                path.unlink()
            kills, seen_documents, delay = 0, [], max(1.0, delay / 2)
    cmd, env = _index_command(index_dir, e5_model_dir)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    _assert_consistent(index_dir)
    assert _snapshot(index_dir) == reference
    # what a killed run committed was kept: counts never go down (the loop saw a kill mid-batch)
    assert seen_documents == sorted(seen_documents), seen_documents

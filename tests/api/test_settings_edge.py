"""Settings are built once at the edge and handed down: an indexing job of the service extracts with
the settings given to create_app, in the worker processes too, never with the process's global
(environment) settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordsearch.api.http import create_app
from nordsearch.ingest.settings import Settings, get_settings
from nordsearch.search import SearchIndex
from tests.search.search_helpers import FakeEmbedder

SENTENCES = [
    "Kommunen prioriterar cykelbanor vid snöröjning och sandning under hela vintern.",
    "Huvudstråken plogas före klockan sju på morgonen så att fler kan cykla till arbetet.",
    "Sopsaltning används på de viktigaste pendlingsstråken sedan försöket började för tre år sedan.",
    "Antalet cyklister under vintern har ökat med en tredjedel enligt kommunens mätningar.",
    "Olyckorna på is har minskat tydligt sedan kommunen började sopsalta cykelbanorna.",
    "Nästa steg är att låta busshållplatserna och cykelparkeringarna vid stationerna ingå i planen.",
]


def _write(folder: Path, name: str, title: str) -> Path:
    path = folder / name
    path.write_text(f"# {title}\n\n" + " ".join(SENTENCES * 2) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("workers", [1, 2])  # 2: extraction in worker processes (pickled settings)
def test_an_indexing_job_extracts_with_the_settings_given_to_create_app(tmp_path: Path, workers: int):
    settings = Settings(
        passage_min_words=5,
        passage_max_words=20,
        passage_overlap_sentences=0,
        workers=workers,
        index_roots=str(tmp_path),  # a server-side job reads only inside the roots
    )
    assert get_settings().passage_max_words > 150  # the global settings would make one passage a file
    folder = tmp_path / "docs"
    folder.mkdir()
    files = [_write(folder, "a.md", "Vintercykling"), _write(folder, "b.md", "Snöröjning")]
    index_dir = tmp_path / "index"
    app = create_app(index_dir, settings=settings)
    index = SearchIndex.open(index_dir, embedder=FakeEmbedder(), create=True)
    app.state.holder.index = index  # no lifespan: no model is loaded for this
    jobs = app.state.jobs
    try:
        job = jobs.wait(jobs.submit("paths", files).id, 300)
        assert job.finished, "the job did not finish"
        assert job.status == "done" and job.error is None, job.to_dict()
        assert [o.status for o in job.outcomes] == ["indexed", "indexed"]
        for outcome in job.outcomes:
            passages = index.passages(outcome.document_id)
            assert len(passages) >= 5
            assert all(len(p.text.split()) <= 20 for p in passages), [len(p.text.split()) for p in passages]
    finally:
        jobs.stop()
        index.close()

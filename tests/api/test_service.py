from __future__ import annotations

from pathlib import Path

import pytest

from nordsearch.api.service import open_index, warm_model_cache
from nordsearch.ingest.settings import Settings


@pytest.mark.slow
def test_a_warmed_model_cache_spares_a_new_index_all_embedding(
    tmp_path: Path, e5_model_dir: Path, monkeypatch
):
    """`nordsearch model build` warms the cache: a new index's one-time work (centring offsets,
    theme definitions) then embeds nothing."""
    from nordsearch.search.embedder import get_embedder

    settings = Settings(data_dir=tmp_path / "data", model=str(e5_model_dir))
    warm_model_cache(settings)
    assert sorted(p.suffix for p in (settings.cache_dir / "vectors").iterdir()) == [".npy"] * 3
    calls: list[int] = []
    embedder = get_embedder(settings)
    for name in ("embed_passages", "embed_queries"):
        monkeypatch.setattr(embedder, name, lambda texts: calls.append(len(texts)))
    index = open_index(tmp_path / "index", settings)
    try:
        index.prepare()
        assert (
            index.space.centering.offsets() is not None
            and index.indexer.tagger()._definition_anchors() is not None
        )
    finally:
        index.close()
    assert calls == []

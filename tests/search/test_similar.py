"""search.similar: the document alignment score on its own, and similar cases on the shared corpus
with the real model, where three party programmes exist in Finnish, Swedish and English."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from nordsearch.search.similar import alignment_score


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_alignment_of_a_document_with_itself_in_any_order_is_one():
    a = _unit(np.random.default_rng(0).standard_normal((7, 16)))
    assert alignment_score(a, a) == pytest.approx(1.0)
    assert alignment_score(a, a[::-1]) == pytest.approx(1.0)  # passage order does not matter


def test_alignment_is_symmetric_and_prefers_a_translation_to_a_topical_neighbour():
    rng = np.random.default_rng(1)
    source = _unit(rng.standard_normal((10, 32)))
    # a "translation": every passage has its own counterpart, moved a little
    translation = _unit(source + 0.3 * rng.standard_normal(source.shape))
    # a "same-language neighbour": close to the document as a whole (its mean), not passage by passage
    topical = _unit(source.mean(axis=0) + 0.35 * rng.standard_normal((10, 32)))
    assert alignment_score(source, translation) == pytest.approx(alignment_score(translation, source))
    assert alignment_score(source, topical) == pytest.approx(alignment_score(topical, source))
    # the centroids say the opposite: the neighbour's centroid is the closer one
    centroid = lambda m: m.mean(axis=0) / np.linalg.norm(m.mean(axis=0))  # noqa: E731
    assert centroid(source) @ centroid(topical) > centroid(source) @ centroid(translation)
    assert alignment_score(source, translation) > alignment_score(source, topical)


def test_alignment_of_disjoint_or_empty_documents_is_zero():
    a = np.eye(4, dtype=np.float32)[:2]
    b = np.eye(4, dtype=np.float32)[2:]
    assert alignment_score(a, b) == 0.0
    assert alignment_score(a, np.zeros((0, 4), dtype=np.float32)) == 0.0


# -- the shared corpus, real model ------------------------------------------------------------------

PROGRAMME = re.compile(
    r"(fi_vihreat_kunnallisvaaliohjelma|sv_grona_kommunalvals?program|en_greens_local_elections?_manifesto)"
    r"_(\d{4})(_text_twin)?\.(md|pdf)$"
)


@pytest.fixture(scope="module")
def shared_search(shared_index: Path, e5_model_dir: Path):
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.embedder import get_embedder
    from nordsearch.search.index import SearchIndex

    idx = SearchIndex.open(shared_index, get_embedder(Settings(model=str(e5_model_dir))), create=False)
    yield idx
    idx.close()


@pytest.mark.slow
def test_each_programme_finds_its_translation_first(shared_search):
    """../shared/parallel/README.md: the 1996, 2008 and 2012 programmes are translations of each
    other. Ranked by centroids, none had a translation first (mean rank 9)."""
    year = {}
    for doc in shared_search.documents(limit=10_000):
        m = PROGRAMME.search(Path(doc.source).name)
        if m:
            year[doc.document_id] = (m.group(2), m.group(3) is None, doc.language)
    sources = [d for d, (_, original, _) in year.items() if original]
    assert len(sources) == 8, "the shared corpus has eight programmes with a translation"
    for doc_id in sources:
        y, _, lang = year[doc_id]
        for other_languages in (False, True):
            items = shared_search.similar_documents(doc_id, k=5, other_languages=other_languages)
            assert len(items) == 5
            first = items[0].document_id
            # a translation, or a copy of one in another file (the PDFs have Markdown text twins)
            assert first in year and year[first][0] == y and year[first][2] != lang, (doc_id, items[0].source)
            if other_languages:
                assert all(i.language != lang for i in items)

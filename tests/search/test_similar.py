"""search.similar_match: the document match score and its calibration on their own, and similar cases on the shared corpus
with the real model, where three party programmes exist in Finnish, Swedish and English."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from nordsearch.search.similar_match import PAIRS_PER_LANGUAGE_PAIR, PairCalibration, match, match_score


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_match_of_a_document_with_itself_in_any_order_is_one():
    a = _unit(np.random.default_rng(0).standard_normal((7, 16)))
    assert match_score(a, a) == pytest.approx(1.0)
    assert match_score(a, a[::-1]) == pytest.approx(1.0)  # passage order does not matter


def test_match_is_symmetric_and_prefers_a_translation_to_a_topical_neighbour():
    rng = np.random.default_rng(1)
    source = _unit(rng.standard_normal((10, 32)))
    # a "translation": every passage has its own counterpart, moved a little
    translation = _unit(source + 0.3 * rng.standard_normal(source.shape))
    # a "same-language neighbour": close to the document as a whole (its mean), not passage by passage
    topical = _unit(source.mean(axis=0) + 0.35 * rng.standard_normal((10, 32)))
    assert match_score(source, translation) == pytest.approx(match_score(translation, source))
    assert match_score(source, topical) == pytest.approx(match_score(topical, source))
    # the centroids say the opposite: the neighbour's centroid is the closer one
    centroid = lambda m: m.mean(axis=0) / np.linalg.norm(m.mean(axis=0))  # noqa: E731
    assert centroid(source) @ centroid(topical) > centroid(source) @ centroid(translation)
    assert match_score(source, translation) > match_score(source, topical)


def test_match_names_the_passage_that_matches_best_and_is_zero_for_disjoint_or_empty_documents():
    a = np.eye(4, dtype=np.float32)[:2]
    b = np.eye(4, dtype=np.float32)[[3, 1, 2]]
    assert match(a, b) == (pytest.approx((0.5 + 1 / 3) / 2), 1)  # b's row 1 is a's passage 1
    assert match_score(a, np.eye(4, dtype=np.float32)[2:]) == 0.0
    assert match(a, np.zeros((0, 4), dtype=np.float32)) == (0.0, -1)


def _view(docs: dict[str, np.ndarray]):
    from nordsearch.search.corpus_view import CorpusView

    names = [d for d, m in docs.items() for _ in range(len(m))]
    matrix = np.concatenate(list(docs.values()))
    return CorpusView(0, np.arange(len(matrix)), matrix, names, [""] * len(matrix))


def test_calibration_reads_a_score_against_pairs_of_the_same_two_languages():
    """Same-language pairs sit higher (the bias calibration removes): the same raw score is a high
    percentile between languages and a low one within a language."""
    rng = np.random.default_rng(2)
    accent = {"fi": rng.standard_normal(16), "sv": rng.standard_normal(16)}
    docs, language = {}, {}
    for lang in ("fi", "sv"):
        for i in range(6):
            docs[f"{lang}{i}"] = _unit(accent[lang] + 0.8 * rng.standard_normal((3, 16)))
            language[f"{lang}{i}"] = lang
    cal = PairCalibration.build(_view(docs), language)
    assert len(cal.by_pair[("fi", "fi")]) == 15 and len(cal.by_pair[("fi", "sv")]) == 36
    within, across = np.median(cal.by_pair[("fi", "fi")]), np.median(cal.by_pair[("fi", "sv")])
    assert within > across
    middle = float((within + across) / 2)
    assert cal.percentile("sv", "fi", middle) > 0.7 > 0.3 > cal.percentile("fi", "fi", middle)
    assert cal.percentile("fi", "sv", 2.0) == 1.0 and cal.percentile("fi", "sv", -2.0) == 0.0
    # a pair of languages with too few documents is read on every pair
    assert cal.percentile("fi", "da", middle) == pytest.approx(
        np.searchsorted(cal.pooled, middle) / len(cal.pooled)
    )


def test_a_pair_of_languages_with_few_documents_is_read_on_all_pairs_shifted_to_its_mean():
    from nordsearch.search.similar_match import MIN_PAIRS

    cal = PairCalibration({("da", "da"): np.array([0.8, 0.9])}, np.linspace(0.0, 0.5, 101))
    assert MIN_PAIRS > 2
    # 0.85 is the mean of the two Danish pairs: the middle of all pairs (mean 0.25), not above them all
    assert cal.percentile("da", "da", 0.85) == pytest.approx(0.5, abs=0.01)
    assert cal.percentile("fi", "sv", 0.85) == 1.0  # no sample of its own: all pairs as they are


def test_calibration_samples_a_bounded_number_of_pairs_deterministically():
    rng = np.random.default_rng(3)
    docs = {f"d{i:02d}": _unit(rng.standard_normal((2, 8))) for i in range(30)}  # 435 pairs
    view = _view(docs)
    a = PairCalibration.build(view, dict.fromkeys(docs, "fi"))
    b = PairCalibration.build(view, dict.fromkeys(docs, "fi"))
    assert len(a.by_pair[("fi", "fi")]) == PAIRS_PER_LANGUAGE_PAIR
    assert np.array_equal(a.by_pair[("fi", "fi")], b.by_pair[("fi", "fi")])


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

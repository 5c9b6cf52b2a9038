"""A BERT encoder in plain torch, read straight from a sentence-transformers model directory.

Why not ``transformers``: importing it costs ~3.5 s before a single weight is read, which is most of
a cold ``nordsearch search`` on a 2-core machine. The encoder stack is a few dozen lines of torch,
so for the model layout nordsearch ships (BertModel, absolute positions, mean pooling, see
``local_layout``) we run it ourselves: ``tokenizers`` + ``safetensors`` + torch load in about a
second. Any other layout goes through sentence-transformers unchanged (search.embedder).
tests/search/test_bert.py holds it to sentence-transformers' output.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, slots=True)
class Layout:
    """What a model directory must say for this encoder to stand in for sentence-transformers."""

    directory: Path
    max_length: int
    prompts: dict[str, str]
    normalize: bool


def local_layout(model: str) -> Layout | None:
    """The layout of a local model directory if it is Transformer(BertModel, absolute positions)
    -> mean pooling with the prompt included [-> Normalize]; else None."""
    root = Path(model).expanduser()
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or kinds[2:] not in ([], ["Normalize"]):
            return None
        if modules[0].get("path", "") != "" or not (root / "tokenizer.json").exists():
            return None
        pooling = json.loads((root / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        st_config = root / "sentence_bert_config.json"
        bert_config = json.loads(st_config.read_text(encoding="utf-8")) if st_config.exists() else {}
        st_prompts = root / "config_sentence_transformers.json"
        prompts = (
            json.loads(st_prompts.read_text(encoding="utf-8")).get("prompts", {})
            if st_prompts.exists()
            else {}
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
    )
    if (
        config.get("model_type") != "bert"
        or config.get("position_embedding_type", "absolute") != "absolute"
        or config.get("hidden_act") != "gelu"
        or not mean_only
        or not pooling.get("include_prompt", True)
        or bert_config.get("do_lower_case")
        or not (root / "model.safetensors").exists()
    ):
        return None
    limit = int(bert_config.get("max_seq_length") or config.get("max_position_embeddings", 512))
    return Layout(
        root, min(limit, int(config.get("max_position_embeddings", 512))), prompts, "Normalize" in kinds
    )


class BertEncoder:
    """Token ids -> last hidden states, the same computation as transformers' BertModel (eval)."""

    def __init__(self, layout: Layout) -> None:
        from tokenizers import Tokenizer

        config = json.loads((layout.directory / "config.json").read_text(encoding="utf-8"))
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.pad_id = int(config.get("pad_token_id") or 0)
        self.layout = layout
        weights = _mapped_safetensors(layout.directory / "model.safetensors")
        self.w = {k.removeprefix("bert."): v for k, v in weights.items()}
        self.tokenizer = Tokenizer.from_file(str(layout.directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(layout.max_length)

    @property
    def prompts(self) -> dict[str, str]:
        return self.layout.prompts

    def get_embedding_dimension(self) -> int:
        return self.hidden

    def encode(self, texts: list[str]) -> list[Any]:
        """tokenizers Encodings (ids, offsets) with the model's special tokens, truncated."""
        return self.tokenizer.encode_batch(texts)

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F  # noqa: N812

        w, h = self.w, self.hidden
        n, width = input_ids.shape
        positions = torch.arange(width).unsqueeze(0)
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][positions]
        )
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = F.layer_norm(x, (h,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        heads, size = self.heads, h // self.heads
        # additive mask over keys: padding never attends
        bias = ((1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min).to(x.dtype)
        scale = 1.0 / math.sqrt(size)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(t: torch.Tensor, name: str, p: str = p) -> torch.Tensor:
                return F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])

            q = lin(x, "attention.self.query").view(n, width, heads, size).transpose(1, 2)
            k = lin(x, "attention.self.key").view(n, width, heads, size).transpose(1, 2)
            v = lin(x, "attention.self.value").view(n, width, heads, size).transpose(1, 2)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=scale)
            ctx = ctx.transpose(1, 2).reshape(n, width, h)
            x = F.layer_norm(
                lin(ctx, "attention.output.dense") + x, (h,), w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"], self.eps,
            )  # fmt: skip
            ff = F.gelu(lin(x, "intermediate.dense"))
            x = F.layer_norm(
                lin(ff, "output.dense") + x, (h,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                self.eps,
            )  # fmt: skip
        return x


_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def _mapped_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file as views of a read-only memory map: nothing is copied,
    so opening costs no reading of the ~470 MB (mostly the vocabulary's embeddings, of which a
    query touches a few rows) and processes share the page cache."""
    import mmap
    import warnings

    import torch

    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    size = int.from_bytes(mapped[:8], "little")
    header = json.loads(mapped[8 : 8 + size])
    base = 8 + size
    out: dict[str, torch.Tensor] = {}
    with warnings.catch_warnings():  # torch warns that the buffer is read-only: we never write
        warnings.simplefilter("ignore", UserWarning)
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = getattr(torch, _DTYPES[info["dtype"]])
            start, end = info["data_offsets"]
            count = math.prod(info["shape"])
            tensor = torch.frombuffer(mapped, dtype=dtype, count=count, offset=base + start)
            assert end - start == count * tensor.element_size(), name
            out[name] = tensor.view(info["shape"])
    return out

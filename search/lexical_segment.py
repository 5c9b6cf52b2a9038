"""One segment of the lexical index (search.lexical_index): a CSR over its own passages, built
from their analysed texts, and the merge compact() turns many segments into one with.

A segment holds sorted ids (int64), token counts (int32), a vocabulary term -> row, ``indptr``
(int64) into postings of positions (int32, into the segment's ids) and term frequencies (uint16,
clipped at 65535), and a live mask: removing a passage only clears its live bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

MAX_FREQ = 65535  # uint16 term frequencies; a term repeated more often in one passage is clipped


@dataclass(slots=True, eq=False)
class Segment:
    ids: np.ndarray  # int64, sorted
    lengths: np.ndarray  # int32 tokens per passage (FTS5's D)
    vocab: dict[
        str, int
    ]  # term -> row of indptr; insertion order is row order (LexicalIndex.save relies on it)
    indptr: np.ndarray  # int64, len(vocab) + 1: row r's postings are [indptr[r], indptr[r + 1])
    positions: np.ndarray  # int32 index into ids
    freqs: np.ndarray  # uint16 occurrences of the term in that passage
    live: np.ndarray  # bool per passage
    dead: int = 0  # passages masked out by remove()

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(positions, frequencies) of the live passages holding ``term``."""
        row = self.vocab.get(term)
        if row is None:
            return None
        start, end = self.indptr[row], self.indptr[row + 1]
        pos, freq = self.positions[start:end], self.freqs[start:end]
        if self.dead:
            keep = self.live[pos]
            pos, freq = pos[keep], freq[keep]
        return pos, freq


def _segment(
    ids: np.ndarray, lengths: np.ndarray, vocab: dict[str, int], rows: np.ndarray, positions: np.ndarray,
    freqs: np.ndarray,
) -> Segment:  # fmt: skip
    """A segment from its postings given as (term row, position, frequency), sorted by row."""
    import numpy as np

    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(vocab)), out=indptr[1:])
    return Segment(
        ids=ids, lengths=lengths.astype(np.int32), vocab=vocab, indptr=indptr,
        positions=positions.astype(np.int32), freqs=np.minimum(freqs, MAX_FREQ).astype(np.uint16),
        live=np.ones(len(ids), dtype=bool),
    )  # fmt: skip


def build_segment(ids: np.ndarray, texts: Sequence[str]) -> Segment | None:
    """A segment of passages ``ids`` (unique, any order) with space-separated terms ``texts``;
    None when there are none."""
    import numpy as np

    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
    if not len(ids):
        return None
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if bool(np.any(ids[1:] == ids[:-1])):
        raise ValueError("duplicate ids in a lexical index build")
    # Python touches each token once (a dict lookup); counting and sorting are numpy's.
    vocab: dict[str, int] = {}
    setdefault = vocab.setdefault
    lengths: list[int] = []
    term_ids: list[int] = []
    for i in order.tolist():
        tokens = texts[i].split()
        lengths.append(len(tokens))
        term_ids.extend([setdefault(t, len(vocab)) for t in tokens])
    n = len(ids)
    length_arr = np.asarray(lengths, dtype=np.int64)
    # one key per (term, passage) occurrence; sorted unique keys are the CSR order, counts the tf
    keys = np.asarray(term_ids, dtype=np.int64) * n + np.repeat(np.arange(n, dtype=np.int64), length_arr)
    keys, freqs = np.unique(keys, return_counts=True)
    return _segment(ids, length_arr, vocab, keys // n, keys % n, freqs)


def merge_segments(segments: list[Segment]) -> Segment | None:
    """One segment holding the live passages of ``segments`` (vectorised; no re-tokenising)."""
    import numpy as np

    ids = np.concatenate([s.ids[s.live] for s in segments]) if segments else np.zeros(0, np.int64)
    if not len(ids):
        return None
    lengths = np.concatenate([s.lengths[s.live] for s in segments])
    order = np.argsort(ids, kind="stable")
    ids, lengths = ids[order], lengths[order]
    terms = sorted(set().union(*(s.vocab for s in segments)))
    term_row = {t: i for i, t in enumerate(terms)}
    rows, positions, freqs = [], [], []
    for s in segments:
        new_pos = np.full(len(s.ids), -1, dtype=np.int64)
        new_pos[s.live] = np.searchsorted(ids, s.ids[s.live])
        to_row = np.fromiter((term_row[t] for t in s.vocab), dtype=np.int64, count=len(s.vocab))
        posting_rows = np.repeat(to_row, np.diff(s.indptr))
        keep = s.live[s.positions]
        rows.append(posting_rows[keep])
        positions.append(new_pos[s.positions[keep]])
        freqs.append(s.freqs[keep])
    row, pos, freq = np.concatenate(rows), np.concatenate(positions), np.concatenate(freqs)
    order = np.lexsort((pos, row))
    row, pos, freq = row[order], pos[order], freq[order]
    used = np.bincount(row, minlength=len(terms)) > 0
    if not used.all():  # terms only deleted passages held
        row = (np.cumsum(used) - 1)[row]
        terms = [t for t, u in zip(terms, used.tolist(), strict=True) if u]
    return _segment(ids, lengths, {t: i for i, t in enumerate(terms)}, row, pos, freq)

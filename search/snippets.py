"""Result presentation: the best sentence of a passage, a snippet around it, highlighted terms
(near-duplicates: search.duplicates).

The best sentence is chosen by meaning (cosine between the query and each sentence embedded as a
passage), so it works when the query and the passage are in different languages; matched terms
only nudge ties. Highlights use the same analysis as BM25 (the passage's own stemmer against the
query analysed in every language), so what is marked is what the lexical index matched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from nordsearch.search import lexical

SNIPPET_CHARS = 360  # target snippet length: the best sentence plus context on both sides
MAX_SENTENCE_CHARS = 600  # longer "sentences" (tables, lists) are cut for the embedder
TERM_BONUS = 0.02  # per matched query term: breaks near-ties in favour of the sentence with the words
_WORD_RE = re.compile(r"[^\W_]+")
# whitespace _squash must rewrite: at either end, runs of two or more, and lone non-space characters
# (a single plain space, by far the most common, stays as it is and costs nothing)
_SQUASH_RE = re.compile(r"^\s+|\s+$|\s{2,}|[^\S ]")
_SPLIT_RE = re.compile(r"(?<=[.!?…])\s+(?=[\"'“(\[]?[A-ZÅÄÖÆØ0-9])|\n\s*\n")


def sentence_spans(text: str, language: str) -> list[tuple[int, int]]:
    """[start, end) sentence offsets: ingest's sentence splitter, or a regex one if that fails."""
    try:
        from nordsearch.ingest.sentences import sentence_spans as spans

        out = spans(text, language)
    except Exception:  # a splitter failure must never fail a search: fall back to punctuation
        out = []
        start = 0
        for m in _SPLIT_RE.finditer(text):
            if text[start : m.start()].strip():
                out.append((start, m.start()))
            start = m.end()
        if text[start:].strip():
            out.append((start, len(text)))
    return out or ([(0, len(text))] if text.strip() else [])


def matched_spans(text: str, language: str, query_terms: set[str]) -> list[list[int]]:
    """[start, end) of the words of ``text`` whose analysed terms (in ``language``) are query terms."""
    return TermMatcher(query_terms).spans(text, language)


class TermMatcher:
    """matched_spans for many passages of one search: each distinct word of a language is judged
    against the query's terms once for the whole page of hits, not once per passage (the hits of
    a search share most of their words; this runs for every hit of every search)."""

    def __init__(self, query_terms: set[str]) -> None:
        self.terms = query_terms
        self._judged: dict[str, tuple[set[str], set[str]]] = {}  # language -> (matching, not)

    def spans(self, text: str, language: str) -> list[list[int]]:
        if not self.terms:
            return []
        lang = language if language in lexical.LANGUAGES else "en"
        lowered = text.lower()
        if len(lowered) != len(text) or not unicodedata.is_normalized("NFKC", text):
            return _matched_spans_wordwise(text, lang, self.terms)
        # the common case: offsets of the lowered text are the text's
        matching, other = self._judged.setdefault(lang, (set(), set()))
        words = set(_WORD_RE.findall(lowered))
        for word in words - matching - other:
            (other if self.terms.isdisjoint(lexical.word_terms(word, lang)) else matching).add(word)
        hits = words & matching
        return _occurrences(lowered, hits) if hits else []


def _occurrences(lowered: str, words: set[str]) -> list[list[int]]:
    """[start, end) of every whole-word occurrence of ``words`` in ``lowered``, in text order: a
    few str.find scans instead of walking every word of the passage in Python. A whole word is a
    maximal run of characters that str.isalnum accepts: exactly the characters _WORD_RE matches."""
    out: list[list[int]] = []
    n = len(lowered)
    for word in words:
        size = len(word)
        at = lowered.find(word)
        while at >= 0:
            end = at + size
            if (at == 0 or not lowered[at - 1].isalnum()) and (end == n or not lowered[end].isalnum()):
                out.append([at, end])
            at = lowered.find(word, at + 1)
    out.sort()
    return out


def _matched_spans_wordwise(text: str, lang: str, query_terms: set[str]) -> list[list[int]]:
    """matched_spans for text whose lowercasing or NFKC form changes lengths: word by word."""
    spans: list[list[int]] = []
    for m in _WORD_RE.finditer(text):
        word = unicodedata.normalize("NFKC", m.group()).lower()
        if not query_terms.isdisjoint(lexical.word_terms(word, lang)):
            spans.append([m.start(), m.end()])
    return spans


def query_terms(query: str) -> set[str]:
    return set(lexical.analyze_query(query))


def shorten_around(text: str, start: int, end: int, limit: int = SNIPPET_CHARS) -> tuple[str, int]:
    """A window of ``text`` of about ``limit`` characters containing [start, end), cut at word
    boundaries with "…" where text was dropped. Returns (snippet, offset of the window in text),
    where offset counts the leading "… " so spans map as ``span - offset``."""
    lo, hi = _cut(text, start, end, limit)
    return _windowed(text, lo, hi)


def _cut(text: str, start: int, end: int, limit: int) -> tuple[int, int]:
    """[lo, hi) of the text shorten_around keeps."""
    n = len(text)
    if n <= limit:
        return 0, n
    length = end - start
    room = max(limit - length, 0)
    lo = max(0, start - room // 3)  # a third of the context before, two thirds after
    hi = min(n, max(end, lo + limit))
    if hi - lo < limit:
        lo = max(0, hi - limit)
    if lo > 0:
        space = text.find(" ", lo, start) if lo < start else -1
        lo = space + 1 if space >= 0 else lo
    if hi < n:
        space = text.rfind(" ", end, hi)
        hi = space if space > end else hi
    return lo, hi


def _windowed(text: str, lo: int, hi: int) -> tuple[str, int]:
    prefix = "… " if lo > 0 else ""
    suffix = " …" if hi < len(text) else ""
    return prefix + text[lo:hi] + suffix, lo - len(prefix)


@dataclass(slots=True)
class Snippet:
    text: str
    highlights: list[list[int]]
    best_sentence: str
    best_span: list[int] | None


def choose_best(sentence_texts: Sequence[str], sims: Sequence[float], term_counts: Sequence[int]) -> int:
    """Index of the best sentence: highest cosine, plus a small bonus per matched query term."""
    best, best_score = 0, float("-inf")
    for i, (sim, terms) in enumerate(zip(sims, term_counts, strict=True)):
        score = float(sim) + TERM_BONUS * min(terms, 5)
        if score > best_score and sentence_texts[i].strip():
            best, best_score = i, score
    return best


def build_snippet(
    text: str, spans: list[tuple[int, int]], best: int | None, terms: set[str], language: str,
    limit: int = SNIPPET_CHARS, matches: list[list[int]] | None = None,
) -> Snippet:  # fmt: skip
    """Whitespace-normalised snippet around sentence ``best`` with highlight spans relative to it.
    ``matches``: matched_spans(text, language, terms), when the caller has them already."""
    if best is None or not spans:
        start, end = 0, min(len(text), limit)
    else:
        start, end = spans[best]
    # normalise whitespace first, keeping a map from old to new offsets
    flat, mapping = _squash(text)
    s, e = mapping[start], mapping[end]
    lo, hi = _cut(flat, s, e, limit)
    window, offset = _windowed(flat, lo, hi)
    best_text = flat[s:e].strip()
    best_span = [s - offset, e - offset] if best is not None and best_text else None
    if matches is None:
        matches = matched_spans(text, language, terms)
    # a word holds no whitespace, so it keeps its length in the squashed text: the highlights
    # are the passage's matched words that lie wholly inside the kept text, moved by the offset
    highlights = [
        [mapping[a] - offset, mapping[a] - offset + (b - a)]
        for a, b in matches
        if lo <= mapping[a] and mapping[a] + (b - a) <= hi
    ]
    return Snippet(window, highlights, best_text if best is not None else "", best_span)


def _squash(text: str) -> tuple[str, list[int]]:
    """``text`` with whitespace runs collapsed to one space and trimmed, plus mapping[i] = the new
    offset of old offset i (len(text)+1 entries)."""
    out: list[str] = []
    mapping: list[int] = []
    n = 0  # length of the output so far
    pos = 0
    # run by run, only where whitespace changes: this is on every hit's path
    for m in _SQUASH_RE.finditer(text):
        kept = text[pos : m.start()]
        mapping.extend(range(n, n + len(kept)))
        out.append(kept)
        n += len(kept)
        gap = m.end() - m.start()
        if n and m.end() < len(text):  # an inner run becomes one space (after it: the next word)
            mapping.append(n)
            mapping.extend([n + 1] * (gap - 1))
            out.append(" ")
            n += 1
        else:  # leading or trailing whitespace is dropped
            mapping.extend([n] * gap)
        pos = m.end()
    kept = text[pos:]
    mapping.extend(range(n, n + len(kept)))
    out.append(kept)
    n += len(kept)
    mapping.append(n)
    return "".join(out), mapping

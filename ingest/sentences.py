"""Sentence segmentation: spaCy's rule-based sentencizer per language, repaired after
abbreviations and ordinal numbers, which the sentencizer takes for sentence ends.

``spacy.blank(lang)`` needs no model download; pipelines are cached per language.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from nordsearch.ingest.records import normalize_language

# spaCy language codes for our product languages ("nb" is spaCy's Norwegian bokmål).
_SPACY_LANG = {"fi": "fi", "sv": "sv", "nb": "nb", "da": "da", "en": "en"}

# Abbreviations (lower case, without the final period) after which a period never ends a
# sentence in practice, whatever follows ("Dr. Smith", "esim. Helsinki", "f.eks. Oslo").
ABBREVIATIONS: frozenset[str] = frozenset(
    [
        "esim",
        "mm",
        "ns",
        "ks",
        "vrt",
        "klo",
        "ts",
        "puh",
        "ko",
        "yo",
        "huom",
        "tms",
        "tmv",
        "kpl",
        "prof",
        "dos",
        "toim",
        "nk",
        "vs",
        "n",
        "noin",
        "s",
        "milj",
        "mrd",
        "bl.a",
        "t.ex",
        "d.v.s",
        "dvs",
        "s.k",
        "sk",
        "resp",
        "jfr",
        "kap",
        "st",
        "nr",
        "f.d",
        "fr.o.m",
        "t.o.m",
        "p.g.a",
        "pga",
        "kl",
        "kr",
        "mkr",
        "tel",
        "obs",
        "ca",
        "f.eks",
        "iht",
        "jf",
        "ift",
        "pr",
        "mio",
        "mia",
        "mill",
        "min",
        "maks",
        "inkl",
        "ekskl",
        "vedr",
        "tlf",
        "pkt",
        "stk",
        "ang",
        "jvf",
        "mht",
        "hhv",
        "evt",
        "bla",
        "e.g",
        "i.e",
        "dr",
        "mr",
        "mrs",
        "ms",
        "cf",
        "fig",
        "figs",
        "approx",
        "incl",
        "pp",
        "ch",
        "sec",
        "art",
        "para",
        "no",
        "vol",
        "ed",
        "eds",
        "dept",
        "est",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "okt",
        "nov",
        "dec",
        "tammik",
        "helmik",
        "maalisk",
        "huhtik",
        "toukok",
        "kesäk",
        "heinäk",
        "elok",
        "syysk",
        "lokak",
        "marrask",
        "jouluk",
    ]
)
# Abbreviations that also commonly end a sentence ("... och bostäder m.m."): the period is
# kept as a boundary unless the next sentence starts in lower case or with a digit.
AMBIGUOUS_ABBREVIATIONS: frozenset[str] = frozenset(
    [
        "etc",
        "jne",
        "ym",
        "yms",
        "ym",
        "mv",
        "m.v",
        "osv",
        "o.s.v",
        "m.m",
        "m.fl",
        "mfl",
        "o.l",
        "ol",
        "o.d",
        "m.fl",
    ]
)
_LAST_WORD_RE = re.compile(r"(\S+)\.\s*$")
_ORDINAL_RE = re.compile(r"^\d{1,4}$")

_lock = threading.Lock()


@lru_cache(maxsize=8)
def get_nlp(language: str) -> Any:
    """A blank spaCy pipeline with a sentencizer for a product language (cached per process)."""
    import spacy

    code = _SPACY_LANG.get(normalize_language(language) or "", "xx")
    with _lock:
        nlp = spacy.blank(code)
        nlp.add_pipe("sentencizer")
    return nlp


def _continues(previous: str, following: str) -> bool:
    """True if the boundary between two sentinel-split pieces is a false one."""
    m = _LAST_WORD_RE.search(previous)
    if not m or not following:
        return False
    word = m.group(1).lstrip("([\"'«“").casefold()
    first = following.lstrip("([\"'«“")[:1]
    lower_next = bool(first) and (first.islower() or first.isdigit() or first in ",;:§%)")
    if word in ABBREVIATIONS:
        return True
    if word in AMBIGUOUS_ABBREVIATIONS:
        return lower_next
    # "16. luvun", "27. august", "1. päivä": an ordinal number followed by a lower-case word.
    if _ORDINAL_RE.match(word):
        return lower_next
    # A single letter ("A. Aalto", "s. 12") is an initial or an abbreviation.
    if len(word) == 1 and word.isalpha():
        return True
    return lower_next and len(word) <= 4 and "." in word  # "o.s.", "p.o." followed by lower case


def _merge(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and _continues(text[merged[-1][0] : merged[-1][1]], text[start:end]):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# "... skolor m.m. Nästa steg", "kl. 16. Næste møde": a period the tokenizer keeps inside a token
# ("m.m.", "16.") that still ends the sentence, because a capitalised word follows.
_HIDDEN_END_RE = re.compile(r"(?:(?<=\s)|^)([^\s.]+(?:\.[^\s.]+)*)\.(\s+)(?=[\"'«“(]?[^\W\d_])")
# An enumeration before "m.m." / "osv." / "etc.": a comma or a conjunction.
_LIST_RE = re.compile(r",|\b(?:och|og|ja|sekä|samt|and|eller|tai|or)\b", re.IGNORECASE)


def _split_hidden_ends(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split spans at sentence ends hidden inside a token: an abbreviation that also ends
    sentences (after a list) or a number, followed by a capitalised word."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        piece = text[start:end]
        cut_from = 0
        for m in _HIDDEN_END_RE.finditer(piece):
            following = piece[m.end() :].lstrip("\"'«“(")
            if not following[:1].isupper():
                continue
            word = m.group(1).lstrip("([\"'«“").casefold()
            if word in AMBIGUOUS_ABBREVIATIONS:
                if not _LIST_RE.search(piece[cut_from : m.start(1)]):
                    continue
            elif not _ORDINAL_RE.match(word):
                continue
            cut = m.start(2)
            out.append((start + cut_from, start + cut))
            cut_from = m.end()
        out.append((start + cut_from, end))
    return out


def trimmed_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """[start, end) without the white space at either end; None when nothing else is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _spans_from_doc(doc: Any) -> list[tuple[int, int]]:
    text = doc.text  # spaCy joins every token again on each access: once, not once per sentence
    spans = (trimmed_span(text, sent.start_char, sent.end_char) for sent in doc.sents)
    return [span for span in spans if span]


def sentence_spans(text: str, language: str) -> list[tuple[int, int]]:
    """[start, end) offsets of the sentences of ``text`` (whitespace trimmed)."""
    if not text.strip():
        return []
    return _split_hidden_ends(text, _merge(text, _spans_from_doc(get_nlp(language)(text))))


MAX_PIECE_CHARS = 100_000  # spaCy refuses texts over 1M characters; a block this long has no structure left


def sentence_spans_many(
    texts: Iterable[str], language: str, batch_size: int = 256
) -> list[list[tuple[int, int]]]:
    """sentence_spans for many texts at once (nlp.pipe is much faster than one call per text).
    A text longer than MAX_PIECE_CHARS (a file with no paragraph breaks) is segmented in pieces
    cut at whitespace, so it is split like any other text instead of failing."""
    texts = list(texts)
    pieces = [(i, offset, piece) for i, text in enumerate(texts) for offset, piece in _pieces(text)]
    nlp = get_nlp(language)
    out: list[list[tuple[int, int]]] = [[] for _ in texts]
    docs = nlp.pipe((piece for _, _, piece in pieces), batch_size=batch_size)
    for (i, offset, piece), doc in zip(pieces, docs, strict=True):
        if piece.strip():
            spans = _split_hidden_ends(piece, _merge(piece, _spans_from_doc(doc)))
            out[i].extend((offset + s, offset + e) for s, e in spans)
    return out


def _pieces(text: str, limit: int = MAX_PIECE_CHARS) -> list[tuple[int, str]]:
    """``text`` as (offset, piece) pieces of at most ``limit`` characters, cut after whitespace
    (or hard at the limit when there is none)."""
    out: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        end = cut + 1 if cut >= 0 else start + limit
        out.append((start, text[start:end]))
        start = end
    out.append((start, text[start:]))
    return out


def split_sentences(text: str, language: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text, language)]

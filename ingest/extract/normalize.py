"""Text normalisation shared by every extractor: NFC, no invisible characters, tidy whitespace.

Offsets everywhere refer to the text *after* this normalisation, so extractors normalise
each piece before appending it (never after the offsets have been recorded).
"""

from __future__ import annotations

import re
import unicodedata

# Characters that carry no visible text but break words apart for search and embeddings:
# zero-width space/joiners, word joiner, BOM, soft hyphen, bidi marks, invisible operators.
INVISIBLE_CHARS = "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u202a\u202b\u202c\u202d\u202e\u180e"
_INVISIBLE_RE = re.compile(f"[{INVISIBLE_CHARS}]")
# Every horizontal whitespace (tabs, NBSP, thin spaces...) becomes one plain space.
_HSPACE_RE = re.compile(r"[^\S\n]+")
# Control characters other than newline and tab (tab is handled as whitespace above).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MANY_BLANK_LINES_RE = re.compile(r"\n{3,}")
# Table-of-contents dot leaders ("Title ........ 3") are noise for search.
_DOT_LEADER_RE = re.compile(r"(?:\s?[.\u2026]){5,}\s?")


def remove_invisible(text: str) -> str:
    return _INVISIBLE_RE.sub("", text)


def normalize_line(line: str) -> str:
    """Normalise one line: NFC, invisible/control chars removed, whitespace runs collapsed, stripped."""
    line = unicodedata.normalize("NFC", line)
    line = _INVISIBLE_RE.sub("", line)
    line = _CONTROL_RE.sub(" ", line)
    line = _DOT_LEADER_RE.sub(" … ", line)
    return _HSPACE_RE.sub(" ", line).strip()


def normalize_text(text: str) -> str:
    """Normalise a multi-line text: every line via normalize_line, CRLF -> LF, at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [normalize_line(line) for line in text.split("\n")]
    return _MANY_BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip("\n")


def word_count(text: str) -> int:
    return len(text.split())

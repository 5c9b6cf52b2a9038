"""Language detection for the five product languages (fi, sv, nb, da, en) with lingua.

The detector knows only the languages we index (plus German, which absorbs noise such as
names, code and tables so it doesn't get forced onto a Nordic language) and is built once
per process with preloaded models: building it costs seconds, detecting costs milliseconds.
Short or ambiguous passages inherit the document language instead of a wild guess.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from nordsearch.ingest.records import LANGUAGES, normalize_language

# Passages shorter than this (words) inherit the document language: too little evidence to
# tell Norwegian, Danish and Swedish apart.
MIN_PASSAGE_WORDS = 25
# A passage's own language must be at least this confident to override the document's.
MIN_PASSAGE_CONFIDENCE = 0.80
# Switching between the close Scandinavian languages needs even stronger evidence.
MIN_SCANDINAVIAN_SWITCH_CONFIDENCE = 0.95
# ...and the other language must cover at least this share of the passage's characters.
MIN_SWITCH_SHARE = 0.6
_SCANDINAVIAN = frozenset({"sv", "nb", "da"})
# Document detection looks at evenly spaced windows instead of the whole text (speed; robust
# to a foreign abstract or a list of names).
_DOC_WINDOWS = 24
_WINDOW_CHARS = 800
# The sidecar/metadata hint wins unless the text plainly says otherwise.
_HINT_MIN_SHARE = 0.25

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _code_map() -> dict[Any, str | None]:
    from lingua import Language

    return {
        Language.FINNISH: "fi",
        Language.SWEDISH: "sv",
        Language.BOKMAL: "nb",
        Language.NYNORSK: "nb",
        Language.DANISH: "da",
        Language.ENGLISH: "en",
        Language.GERMAN: None,
    }


def _build_detector(*, low_accuracy: bool) -> Any:
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_languages(*_code_map().keys()).with_preloaded_language_models()
    with _lock:
        return (builder.with_low_accuracy_mode() if low_accuracy else builder).build()


@lru_cache(maxsize=1)
def get_detector() -> Any:
    """The process-wide lingua detector for passages and documents (built on first use, ~0.7 s)."""
    return _build_detector(low_accuracy=False)


@lru_cache(maxsize=1)
def get_query_detector() -> Any:
    """The detector for queries: lingua's low-accuracy mode (trigram models only).

    It builds in ~0.03 s instead of ~0.7 s, which was most of a cold `nordsearch search`, and on
    the 6,000 short Tatoeba sentences (fi/sv/da/nb/nn/en) its confidences centre a query *better*
    than the full detector's: mean distance to the right language's offset 0.022 vs 0.033, lower in
    every language (bench/bench_query_language.py). Passages keep the full detector.
    """
    return _build_detector(low_accuracy=True)


def _to_scores(values: Any) -> dict[str, float]:
    codes = _code_map()
    scores: dict[str, float] = {}
    for v in values:
        code = codes.get(v.language)
        if code is not None:
            scores[code] = scores.get(code, 0.0) + float(v.value)
    return scores


def language_scores(text: str) -> dict[str, float]:
    """Confidence per product language (nb = bokmål + nynorsk); German noise is left out."""
    return _to_scores(get_detector().compute_language_confidence_values(text))


def query_language_scores(text: str) -> dict[str, float]:
    """language_scores for a search query, from the query detector (see get_query_detector)."""
    return _to_scores(get_query_detector().compute_language_confidence_values(text))


def language_scores_many(texts: list[str]) -> list[dict[str, float]]:
    """language_scores for many texts.

    Deliberately sequential: lingua's *_in_parallel methods run on a Rust thread pool, which
    does not survive fork() — ingestion workers forked after a parallel call could hang.
    """
    detector = get_detector()
    return [_to_scores(detector.compute_language_confidence_values(t)) for t in texts]


def detect_language(text: str) -> tuple[str | None, float]:
    """Best product language for a text and its confidence (None, 0.0 when nothing fits)."""
    if not text.strip():
        return None, 0.0
    scores = language_scores(text)
    if not scores:
        return None, 0.0
    code = max(scores, key=lambda c: scores[c])
    return code, scores[code]


def _windows(text: str) -> list[str]:
    if len(text) <= _WINDOW_CHARS * _DOC_WINDOWS:
        size = _WINDOW_CHARS
        starts = range(0, len(text), size)
    else:
        step = len(text) / _DOC_WINDOWS
        starts = (int(i * step) for i in range(_DOC_WINDOWS))
        size = _WINDOW_CHARS
    out = []
    for s in starts:
        chunk = text[s : s + size]
        # Cut at word boundaries so half-words don't look foreign.
        chunk = chunk.split(" ", 1)[-1].rsplit(" ", 1)[0] if s else chunk.rsplit(" ", 1)[0]
        if len(chunk.split()) >= 8:
            out.append(chunk)
    return out or [text]


def document_language_scores(text: str) -> dict[str, float]:
    """Share of evidence per language over windows of the document (sums to ~1)."""
    totals: dict[str, float] = {}
    windows = _windows(text)
    for window in windows:
        scores = language_scores(window)
        weight = min(len(window.split()), 120)
        for code, value in scores.items():
            totals[code] = totals.get(code, 0.0) + value * weight
    mass = sum(totals.values())
    return {c: v / mass for c, v in totals.items()} if mass else {}


def detect_document_language(text: str, hint: str | None = None) -> str | None:
    """The document's language, from the text; ``hint`` (e.g. sidecar) breaks close calls.

    Returns a code from records.LANGUAGES, or the hint (or None) when the text gives no evidence.
    """
    hint = normalize_language(hint)
    if not text.strip():
        return hint
    shares = document_language_scores(text)
    if not shares:
        return hint
    best = max(shares, key=lambda c: shares[c])
    if hint and hint != best and shares.get(hint, 0.0) >= _HINT_MIN_SHARE:
        return hint
    return best if best in LANGUAGES else hint


def language_shares(text: str) -> dict[str | None, float]:
    """Share of the text's characters per language, from lingua's mixed-language spans."""
    spans = get_detector().detect_multiple_languages_of(text)
    codes = _code_map()
    counts: dict[str | None, int] = {}
    for span in spans:
        code = codes.get(span.language)
        counts[code] = counts.get(code, 0) + span.end_index - span.start_index
    total = sum(counts.values())
    return {c: n / total for c, n in counts.items()} if total else {}


def _decide(text: str, scores: dict[str, float], fallback: str) -> str:
    if not scores:
        return fallback
    code = max(scores, key=lambda c: scores[c])
    if code == fallback:
        return fallback
    needed = (
        MIN_SCANDINAVIAN_SWITCH_CONFIDENCE if {code, fallback} <= _SCANDINAVIAN else MIN_PASSAGE_CONFIDENCE
    )
    if scores[code] < needed:
        return fallback
    # lingua's confidences are relative: an English list of Norwegian company names scores
    # 1.0 Norwegian. Switch only if the other language covers most of the passage.
    return code if language_shares(text).get(code, 0.0) >= MIN_SWITCH_SHARE else fallback


def detect_passage_language(text: str, document_language: str | None) -> str:
    """A passage's language; short or uncertain passages inherit the document language."""
    fallback = normalize_language(document_language) or "en"
    if len(text.split()) < MIN_PASSAGE_WORDS:
        return fallback
    return _decide(text, language_scores(text), fallback)


def detect_passage_languages(texts: list[str], document_language: str | None) -> list[str]:
    """detect_passage_language for many passages (same rules)."""
    fallback = normalize_language(document_language) or "en"
    long_enough = [i for i, t in enumerate(texts) if len(t.split()) >= MIN_PASSAGE_WORDS]
    out = [fallback] * len(texts)
    for i, scores in zip(long_enough, language_scores_many([texts[i] for i in long_enough]), strict=True):
        out[i] = _decide(texts[i], scores, fallback)
    return out

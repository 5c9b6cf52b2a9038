"""Text analysis for BM25: tokenise, drop stopwords, Snowball-stem by language; FTS5 query building.

Passages are indexed with the stemmer of *their* language. Queries are analysed with the
stemmers of *all* languages and the variants OR-ed, so lexical matching never depends on
guessing the language of a three-word query.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

from nordsearch.ingest.records import LANGUAGES, normalize_language
from nordsearch.search.stopwords import STOPWORDS

# Bump when analysis output changes: the store re-analyses every passage when it sees a new value.
ANALYZER_VERSION = "1"

_SNOWBALL = {"fi": "finnish", "sv": "swedish", "nb": "norwegian", "da": "danish", "en": "english"}
# Letters and digits, no underscore: FTS5's unicode61 tokenizer treats "_" as a separator, and the
# stored text must split into exactly the tokens we produced.
_TOKEN_RE = re.compile(r"[^\W_]+")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_MIN_FOLD_LEN = 4
_FI_VOWELISH_TAIL = set("aeiouyäönst")
_GEMINATE_RE = re.compile(r"([bcdfghjklmnpqrstvwxz])\1")
_local = threading.local()  # PyStemmer objects are not thread-safe; one set per thread


def _stemmer(language: str) -> Any:
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        import Stemmer

        stemmers = {lang: Stemmer.Stemmer(algo) for lang, algo in _SNOWBALL.items()}
        _local.stemmers = stemmers
    return stemmers[language]


@lru_cache(maxsize=4096)
def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def tokenize(text: str) -> list[str]:
    """Unicode words, NFKC-normalised and lowercased; digits kept ("2030", "e18")."""
    text = unicodedata.normalize("NFKC", text).lower()
    # Drop stray combining marks NFKC could not compose: FTS5 would tokenise them differently.
    # Only the distinct non-ASCII characters are looked up (a passage has a handful), not every one.
    marks = {ord(ch): None for ch in set(_NON_ASCII_RE.findall(text)) if _is_mark(ch)}
    if marks:
        text = text.translate(marks)
    return _TOKEN_RE.findall(text)


@lru_cache(maxsize=65536)
def finnish_fold(stem: str) -> str:
    """A coarser Finnish key that undoes consonant gradation Snowball leaves in place.

    Snowball stems joukkoliikenne -> "joukkoliik" but joukkoliikenteen -> "joukkoliikent"
    (nn/nt gradation), kaupunki/kaupungin -> "kaupunk"/"kaupung", katu/kadun -> "katu"/"kadu".
    Folding ng->nk, d->t, geminates to single consonants and trimming the inflection residue
    maps those pairs to one key. It over-conflates a little (liike/liikenne), which is why it is
    indexed *next to* the exact stem: exact matches still score higher.
    """
    s = stem.replace("ng", "nk").replace("d", "t")
    s = _GEMINATE_RE.sub(r"\1", s)
    if s.endswith("ks") and len(s) - 2 >= _MIN_FOLD_LEN:  # -us/-uks (rakennus/rakennuksen)
        s = s[:-2]
    while len(s) > _MIN_FOLD_LEN and s[-1] in _FI_VOWELISH_TAIL:
        s = s[:-1]
    return s


@functools.lru_cache(maxsize=262_144)  # words repeat: snippets and indexing stem each word once
def word_terms(word: str, language: str) -> tuple[str, ...]:
    """Index/query terms for one lowercased surface word in one language (() for a stopword)."""
    if word in STOPWORDS[language]:
        return ()
    if word.isdigit():
        return (word,)
    stem = _stemmer(language).stemWord(word)
    if language == "fi":
        folded = finnish_fold(stem)
        if folded != stem:
            return (stem, folded)
    return (stem,)


def analyze(text: str, language: str | None) -> list[str]:
    """Terms of a passage in ``language`` (unknown languages are analysed as English)."""
    lang = normalize_language(language) or "en"
    terms: list[str] = []
    for word in tokenize(text):
        terms.extend(word_terms(word, lang))
    return terms


def analyze_passage(text: str, language: str | None) -> str:
    """The string stored in the FTS5 column: analysed terms joined by spaces."""
    return " ".join(analyze(text, language))


def analyze_query(text: str, languages: tuple[str, ...] = LANGUAGES) -> list[str]:
    """Distinct terms of a query under every language's analysis (a word that is a stopword
    in one language still contributes its variants from the others, e.g. Danish "by")."""
    seen: dict[str, None] = {}
    for word in tokenize(text):
        for lang in languages:
            for term in word_terms(word, lang):
                seen.setdefault(term, None)
    return list(seen)


def query_word_variants(text: str, languages: tuple[str, ...] = LANGUAGES) -> list[frozenset[str]]:
    """Per distinct query word (stopwords in every language dropped), its terms under every
    language's analysis: a word counts as matched in a passage when any variant is there."""
    out: list[frozenset[str]] = []
    seen: set[str] = set()
    for word in tokenize(text):
        if word in seen:
            continue
        seen.add(word)
        variants = frozenset(t for lang in languages for t in word_terms(word, lang))
        if variants:
            out.append(variants)
    return out


def coverage(words: list[frozenset[str]], passage_terms: set[str]) -> float:
    """Share of the query's words matched by a passage's analysed terms (0 when the query has none)."""
    if not words:
        return 0.0
    return sum(1 for variants in words if variants & passage_terms) / len(words)

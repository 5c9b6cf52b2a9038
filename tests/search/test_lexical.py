from __future__ import annotations

import re
import sqlite3
import unicodedata

import Stemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from nordsearch.search.lexical import (
    analyze,
    analyze_passage,
    analyze_query,
    finnish_fold,
    tokenize,
)
from tests.search.search_helpers import fts_match_expression


def test_tokenize_unicode_lowercase_digits():
    assert tokenize("Joukkoliikenne 2030: Östersjön, E18-tien_varsi!") == [
        "joukkoliikenne", "2030", "östersjön", "e18", "tien", "varsi",
    ]  # fmt: skip


def _tokenize_reference(text: str) -> list[str]:
    """The definition tokenize() implements faster: every character's category checked."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("M"))
    return re.findall(r"[^\W_]+", text)


def test_tokenize_drops_combining_marks_nfkc_left():
    assert tokenize("Kaupunkiq\u0301 o\u0338slo x\u20dd") == ["kaupunkiq", "oslo", "x"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_tokenize_matches_its_reference_definition(text: str):
    assert tokenize(text) == _tokenize_reference(text)


def test_finnish_inflections_share_a_term():
    # Plain Snowball does NOT conflate these (nn/nt consonant gradation) -- this is why finnish_fold exists.
    fi = Stemmer.Stemmer("finnish")
    assert fi.stemWord("joukkoliikenteen") != fi.stemWord("joukkoliikenne")
    assert set(analyze("joukkoliikenteen", "fi")) & set(analyze("joukkoliikenne", "fi"))
    for forms in (
        ["kaupunki", "kaupungin", "kaupungissa"],
        ["katu", "kadun"],
        ["asemakaava", "asemakaavojen"],
    ):
        shared = set.intersection(*(set(analyze(w, "fi")) for w in forms))
        assert shared, forms


def test_exact_stem_is_kept_next_to_the_fold():
    terms = analyze("joukkoliikenteen", "fi")
    assert terms[0] == Stemmer.Stemmer("finnish").stemWord("joukkoliikenteen")
    assert terms[1] == finnish_fold(terms[0])


def test_stopwords_dropped_per_language():
    assert analyze("the plan and the city", "en") == ["plan", "citi"]
    assert "och" not in analyze_passage("planen och staden", "sv")
    # "by" (= city) is an English stopword but a Danish content word
    assert analyze("by", "en") == []
    assert analyze("by", "da") == ["by"]


def test_unknown_language_falls_back_to_english():
    assert analyze("planning", None) == analyze("planning", "en")


def test_query_is_analysed_in_every_language():
    terms = analyze_query("joukkoliikenteen kollektivtrafiken")
    assert set(analyze("joukkoliikenteen", "fi")) <= set(terms)
    assert "kollektivtrafik" in terms  # Swedish stem
    assert len(terms) == len(set(terms))
    # Danish "by" survives although English drops it
    assert "by" in analyze_query("by")


def test_query_matches_passages_in_any_language():
    for text, lang in [("Kollektivtrafiken i staden", "sv"), ("Joukkoliikenteen kehittäminen", "fi")]:
        indexed = set(analyze_passage(text, lang).split())
        assert indexed & set(analyze_query(text))


def test_fts_expression_quotes_terms():
    assert fts_match_expression(["a", "b"]) == '"a" OR "b"'
    assert fts_match_expression([]) is None
    assert fts_match_expression(['x"y']) == '"x""y"'


def _fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 0')")
    conn.execute("INSERT INTO t(x) VALUES (?)", (analyze_passage("and or not near planning", "sv"),))
    return conn


def test_fts_operators_in_user_input_are_literal():
    conn = _fts()
    for q in ['"AND OR NOT ( * :', "NEAR(a b)", "x:y", "*", "a AND", '""', "^start", "- - -", "OR"]:
        expr = fts_match_expression(analyze_query(q))
        if expr:
            conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_fts_expression_never_raises_on_any_input(text: str):
    conn = _fts()
    expr = fts_match_expression(analyze_query(text))
    if expr:
        conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()


def test_indexed_terms_survive_fts_tokenizer():
    # what we store must split into exactly our terms, so quoted query terms match them
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 0')")
    text = "Ålesund ønsker grønne byrom; Määräykset ja åtgärder för ödemarken"
    for lang in ("nb", "fi", "sv"):
        conn.execute("INSERT INTO t(x) VALUES (?)", (analyze_passage(text, lang),))
    for lang in ("nb", "fi", "sv"):
        for term in analyze(text, lang):
            rows = conn.execute("SELECT count(*) FROM t WHERE t MATCH ?", (f'"{term}"',)).fetchone()
            assert rows[0] >= 1, term

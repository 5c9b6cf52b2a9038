"""Snippets, highlights, best sentence and near-duplicate detection (pure functions)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nordsearch.search.duplicates import DuplicateFinder, normalized_text_key, signature
from nordsearch.search.snippets import (
    build_snippet,
    choose_best,
    matched_spans,
    query_terms,
    sentence_spans,
    shorten_around,
)


def test_highlights_follow_the_passage_language_stemmer():
    text = "Talvipyöräily lisääntyi, kun pyöräteiden talvikunnossapito parani."
    spans = matched_spans(text, "fi", query_terms("pyöräteiden kunnossapito"))
    marked = [text[s:e] for s, e in spans]
    assert "pyöräteiden" in marked
    # a Swedish query word matches a Swedish passage through the Swedish stemmer
    sv = "Cykelbanorna snöröjs först i Umeå."
    assert [sv[s:e] for s, e in matched_spans(sv, "sv", query_terms("cykelbana snöröjning"))] == [
        "Cykelbanorna"
    ]


def test_shorten_around_keeps_the_span_and_marks_cuts():
    text = " ".join(f"w{i}" for i in range(400))
    start = text.index("w200")
    end = start + len("w200 w201")
    snippet, offset = shorten_around(text, start, end, limit=80)
    assert snippet.startswith("… ") and snippet.endswith(" …") and len(snippet) <= 90
    assert snippet[start - offset : end - offset] == "w200 w201"
    assert shorten_around("short", 0, 5) == ("short", 0)


def test_build_snippet_marks_best_sentence_and_terms_in_snippet_coordinates():
    text = "Intro sentence here.\n\n  The city ploughs cycle lanes first.  Another   sentence follows."
    spans = sentence_spans(text, "en")
    assert len(spans) == 3
    snip = build_snippet(text, spans, 1, query_terms("ploughs cycle lanes"), "en")
    assert snip.best_sentence == "The city ploughs cycle lanes first."
    s, e = snip.best_span
    assert snip.text[s:e] == snip.best_sentence and "  " not in snip.text
    assert [snip.text[a:b] for a, b in snip.highlights] == ["ploughs", "cycle", "lanes"]


def test_choose_best_prefers_meaning_and_breaks_ties_with_terms():
    texts = ["a", "b", "c"]
    assert choose_best(texts, [0.2, 0.9, 0.5], [3, 0, 0]) == 1
    assert choose_best(texts, [0.5, 0.5, 0.2], [0, 2, 0]) == 1


def test_duplicate_finder_same_text_and_near_copies_but_not_different_figures():
    base = " ".join(f"word{i}" for i in range(60))
    finder = DuplicateFinder()
    finder.add(base, "first")
    assert finder.find("  " + base.upper() + " ") == "first"  # layout and case do not matter
    assert finder.find(base + " page 12", signature(base + " page 12")) == "first"  # a near copy
    assert finder.find("bus lanes in the city center number 47") is None
    finder.add("bus lanes in the city center number 47", "bus47")
    assert finder.find("bus lanes in the city center number 48") is None  # different figures
    # the estimate only proposes: a pair below the threshold is never collapsed, however short
    short = [f"tram line {i} runs north" for i in range(30)]
    finder = DuplicateFinder()
    for text in short:
        assert finder.find(text) is None
        finder.add(text, text)
    assert normalized_text_key("A, b!\n c") == "a b c"


def test_minhash_estimates_the_trigram_jaccard():
    import numpy as np

    from nordsearch.search.duplicates import _KEY_BYTES, shingles

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    errors = []
    for _ in range(40):
        a = " ".join(rng.choice(words, 120))
        b = a.split()
        for i in rng.choice(len(b), int(rng.integers(1, 30)), replace=False):
            b[i] = "x"
        b = " ".join(b)
        ga, gb = shingles(normalized_text_key(a)), shingles(normalized_text_key(b))
        exact = len(ga & gb) / len(ga | gb)
        sa, sb = (np.frombuffer(signature(t), dtype=np.uint32, offset=_KEY_BYTES) for t in (a, b))
        errors.append(float(np.mean(sa == sb)) - exact)
    assert abs(float(np.mean(errors))) < 0.03 and float(np.std(errors)) < 0.08  # unbiased, ~1/sqrt(64)


def _squash_reference(text: str) -> tuple[str, list[int]]:
    """The plain character loop _squash must agree with."""
    out: list[str] = []
    mapping: list[int] = []
    prev_space = True
    for ch in text:
        mapping.append(len(out))
        if ch.isspace():
            if not prev_space:
                out.append(" ")
            prev_space = True
        else:
            out.append(ch)
            prev_space = False
    mapping.append(len(out))
    while out and out[-1] == " ":
        out.pop()
    return "".join(out), [min(m, len(out)) for m in mapping]


@given(st.text(alphabet="ab \n\t\u00a0", max_size=40))
def test_squash_collapses_whitespace_and_maps_every_offset(text):
    from nordsearch.search.snippets import _squash

    assert _squash(text) == _squash_reference(text)


_WORDS = [
    "cykelbana",
    "snöröjning",
    "vinter",
    "staden",
    "och",
    "i",
    "plogas",
    "bussar",
    "Cykelbanor",
    "tidigt",
]


@given(
    st.lists(
        st.tuples(st.sampled_from(_WORDS), st.sampled_from([" ", " ", " ", "  ", "\n", ". ", ".\n\n"])),
        max_size=120,
    ),
    st.integers(min_value=0, max_value=200),
)
def test_highlights_are_the_matched_words_of_the_snippet_itself(words, pick):
    """build_snippet maps the passage's matched words into the window; the definition is the
    words matched in the window's own text."""
    text = "".join(w + sep for w, sep in words)
    spans = sentence_spans(text, "sv") if text.strip() else []
    best = pick % len(spans) if spans else None
    terms = query_terms("cykelbana snöröjning i staden")
    snip = build_snippet(text, spans, best, terms, "sv")
    assert snip.highlights == matched_spans(snip.text, "sv", terms)


def _wordwise_reference(text: str, language: str, terms: set[str]) -> list[list[int]]:
    """The definition: every word NFKC-normalised and lowercased on its own, judged by its terms."""
    import re
    import unicodedata

    from nordsearch.search import lexical

    out = []
    for m in re.finditer(r"[^\W_]+", text):
        word = unicodedata.normalize("NFKC", m.group()).lower()
        if set(lexical.word_terms(word, language)) & terms:
            out.append([m.start(), m.end()])
    return out


@given(
    st.lists(
        st.sampled_from(
            [*_WORDS, "Cykelbanorna", "CYKELBANA", "İzmir", "ﬁlen", "Å", "Å", "ẞtraße", "staden."]
        ),
        max_size=40,
    ),
    st.sampled_from(["sv", "fi", "en", "xx"]),
)
def test_matched_spans_equal_the_word_by_word_definition(words, language):
    # "İ" lowercases to two characters, "ﬁ" and a decomposed "Å" change under NFKC: the fast
    # path's offsets would shift, so such texts must take the word-by-word way
    text = " ".join(words)
    terms = query_terms("cykelbana snöröjning i staden filen izmir straße å")
    lang = language if language != "xx" else "en"
    assert matched_spans(text, language, terms) == _wordwise_reference(text, lang, terms)


def test_matched_spans_of_real_passages_equal_the_definition():
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[2] / "corpus"
    texts = [p.read_text(encoding="utf-8") for p in sorted(corpus.glob("*.md"))[:6]]
    assert texts, "the sample corpus has Markdown documents"
    terms = query_terms("joukkoliikenne kollektivtrafik housing kaavoitus byudvikling")
    for text in texts:
        for lang in ("fi", "sv", "en", "da", "nb"):
            assert matched_spans(text, lang, terms) == _wordwise_reference(text, lang, terms)

"""Sentence segmentation and passage splitting (unit tests and hypothesis properties)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nordsearch.ingest.extract.builder import TextBuilder
from nordsearch.ingest.passages import split_passages
from nordsearch.ingest.records import ExtractedDocument, passage_id_for
from nordsearch.ingest.sentences import split_sentences
from nordsearch.ingest.settings import Settings

DOC_ID = "ab" * 32
SMALL = Settings(passage_min_words=12, passage_max_words=30, passage_overlap_sentences=1)


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        (
            "fi",
            "Tämä koskee esim. Helsinkiä. Lain 16. luvun mukaan näin. Se on mm. hyvä ns. malli. Loppu.",
            [
                "Tämä koskee esim. Helsinkiä.",
                "Lain 16. luvun mukaan näin.",
                "Se on mm. hyvä ns. malli.",
                "Loppu.",
            ],
        ),
        (
            "sv",
            "Det gäller bl.a. Malmö, t.ex. Hyllie. Nästa mening.",
            ["Det gäller bl.a. Malmö, t.ex. Hyllie.", "Nästa mening."],
        ),
        (
            "nb",
            "Det gjelder f.eks. Asker. Min. 2 plasser pr. leilighet. Neste.",
            ["Det gjelder f.eks. Asker.", "Min. 2 plasser pr. leilighet.", "Neste."],
        ),
        (
            "da",
            "Det gælder bl.a. Aarhus. Mødet den 27. august blev holdt. Næste.",
            ["Det gælder bl.a. Aarhus.", "Mødet den 27. august blev holdt.", "Næste."],
        ),
        (
            "en",
            "See e.g. Oslo, i.e. a city. Dr. Smith agreed. It was 2024. Next.",
            ["See e.g. Oslo, i.e. a city.", "Dr. Smith agreed.", "It was 2024.", "Next."],
        ),
    ],
)
def test_sentences_respect_abbreviations(lang: str, text: str, expected: list[str]) -> None:
    assert split_sentences(text, lang) == expected


def _doc(blocks: list[tuple[str, str]], pages: list[int] | None = None) -> ExtractedDocument:
    """Build a document from (kind, text) blocks; kind h1/h2/h3, p, lines; optional page per block."""
    b = TextBuilder()
    current = None
    for i, (kind, text) in enumerate(blocks):
        if pages is not None and pages[i] != current:
            current = pages[i]
            b.start_page(current)
        if kind.startswith("h"):
            b.add_heading(text, int(kind[1]))
        elif kind == "lines":
            b.add_lines(text.split("\n"))
        else:
            b.add_paragraph(text)
    return b.build("mem", "txt")


def _sentences(n: int, prefix: str = "Lause") -> str:
    return " ".join(f"{prefix} numero {i} kertoo kaupungin suunnittelusta." for i in range(n))


def test_passage_invariants_and_overlap() -> None:
    doc = _doc([("h1", "Yleiskaava"), ("p", _sentences(12))])
    ps = split_passages(doc, DOC_ID, "fi", SMALL)
    assert len(ps) > 2
    for i, p in enumerate(ps):
        assert p.passage_id == passage_id_for(DOC_ID, i) and p.ordinal == i
        assert p.text == doc.text[p.char_start : p.char_end]
        assert p.text.endswith(".")  # never cuts a sentence
        assert len(p.text.split()) <= SMALL.passage_max_words + 1
        assert p.language == "fi"  # short passages inherit the document language
        assert p.section == "Yleiskaava"
    assert ps[0].text.startswith("Yleiskaava")
    # One sentence of overlap: each passage starts with the previous passage's last sentence.
    for prev, nxt in zip(ps, ps[1:], strict=False):
        last_sentence = split_sentences(prev.text, "fi")[-1]
        assert nxt.text.startswith(last_sentence)


def test_heading_never_ends_a_passage_and_sections_stay_apart() -> None:
    doc = _doc(
        [
            ("h1", "Liikenne"),
            ("p", _sentences(3)),
            ("h1", "Asuminen"),
            ("p", _sentences(3, "Asunto")),
            ("h2", "Vuokra-asunnot"),
            ("p", _sentences(1, "Vuokra")),
        ]
    )
    ps = split_passages(doc, DOC_ID, "fi", SMALL)
    headings = {h.text for h in doc.headings}
    for p in ps:
        last_block = p.text.split("\n\n")[-1]
        assert last_block not in headings
    starts = [p.text.split("\n\n")[0] for p in ps]
    assert "Liikenne" in starts and "Asuminen" in starts
    asuminen = next(p for p in ps if p.text.startswith("Asuminen"))
    assert asuminen.section == "Asuminen"
    assert "Lause" not in asuminen.text  # no overlap across a section start
    assert ps[-1].section in ("Asuminen > Vuokra-asunnot", "Asuminen")


def test_a_short_section_is_its_own_passage_with_its_own_section_and_page() -> None:
    """Issue 12: in the Lapua technical board minutes § 147 (a few lines) and the start of § 148 (a
    school's demolition, next page) were one passage labelled § 147, pages 5-6, so a hit for the
    demolition cited the wrong item and page."""
    doc = _doc(
        [
            ("h1", "Pöytäkirja"),
            ("h2", "§ 147 Pöytäkirjan tarkastus"),
            ("p", _sentences(2, "Tarkastus")),
            ("h2", "§ 148 Rakennuksen purkaminen"),
            ("p", _sentences(3, "Purku")),
        ],
        pages=[5, 5, 5, 6, 6],
    )
    ps = split_passages(doc, DOC_ID, "fi", Settings())  # the product's sizes: 80-250 words
    assert [p.section for p in ps] == [
        "Pöytäkirja > § 147 Pöytäkirjan tarkastus",
        "Pöytäkirja > § 148 Rakennuksen purkaminen",
    ]
    assert ps[0].text.startswith("Pöytäkirja\n\n§ 147")  # the parent heading joins its first child
    assert "Purku" not in ps[0].text and "Tarkastus" not in ps[1].text
    assert (ps[0].page_start, ps[0].page_end, ps[1].page_start, ps[1].page_end) == (5, 5, 6, 6)


def test_a_passage_knows_where_each_of_its_pages_begins() -> None:
    """Issue 12, point 6: the page a hit cites is the page of its matching text. A passage over
    pages 5-6 records where page 6 begins, so a sentence there is cited as page 6."""
    doc = _doc(
        [("h1", "Kaava"), ("p", "Alku on sivulla viisi."), ("p", "Purku on sivulla kuusi.")], pages=[5, 5, 6]
    )
    (p,) = split_passages(doc, DOC_ID, "fi", Settings())
    assert (p.page_start, p.page_end) == (5, 6)
    six = p.text.index("Purku")
    assert p.page_breaks == [(doc.pages[1].start - p.char_start, 6)] and doc.page_at(p.char_start + six) == 6
    assert p.page_at(p.text.index("Alku")) == 5 and p.page_at(six) == 6
    assert split_passages(_doc([("p", "Ei sivuja.")]), DOC_ID, "fi", SMALL)[0].page_breaks == []


def test_long_sentence_split_at_word_boundaries() -> None:
    words = [f"sana{i}" for i in range(75)]
    doc = _doc([("p", " ".join(words) + ".")])
    ps = split_passages(doc, DOC_ID, "fi", SMALL)
    assert len(ps) >= 3
    for p in ps:
        assert len(p.text.split()) <= SMALL.passage_max_words
        assert p.text.split()[0] in words or p.text.split()[0].rstrip(".") in words
    assert " ".join(p.text for p in ps).count("sana74") >= 1


def test_table_kept_whole_when_it_fits() -> None:
    table = "Alue | Asunnot\nKalasatama | 25 000\nJätkäsaari | 21 000"
    doc = _doc([("p", _sentences(2)), ("lines", table), ("p", _sentences(2, "Loppu"))])
    ps = split_passages(doc, DOC_ID, "fi", SMALL)
    assert any(table in p.text for p in ps)


def test_pages_from_page_spans() -> None:
    doc = _doc(
        [("p", _sentences(3)), ("p", _sentences(3, "Toinen")), ("p", _sentences(3, "Kolmas"))],
        pages=[1, 2, 3],
    )
    ps = split_passages(doc, DOC_ID, "fi", SMALL)
    assert ps[0].page_start == 1
    assert ps[-1].page_end == 3
    for p in ps:
        assert p.page_start == doc.page_at(p.char_start) and p.page_end == doc.page_at(p.char_end - 1)


def test_unpaged_and_empty() -> None:
    assert split_passages(_doc([]), DOC_ID, "fi", SMALL) == []
    ps = split_passages(_doc([("p", "Lyhyt.")]), DOC_ID, "sv", SMALL)
    assert len(ps) == 1 and ps[0].page_start is None and ps[0].language == "sv"


# --- properties --------------------------------------------------------------------------------
_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöå", min_size=1, max_size=10)
_sentence = st.lists(_word, min_size=1, max_size=40).map(lambda ws: " ".join(ws).capitalize() + ".")
_paragraph = st.lists(_sentence, min_size=1, max_size=6).map(" ".join)
_block = st.one_of(
    st.tuples(st.sampled_from(["h1", "h2", "h3"]), st.lists(_word, min_size=1, max_size=5).map(" ".join)),
    st.tuples(st.just("p"), _paragraph),
    st.tuples(
        st.just("lines"),
        st.lists(st.lists(_word, min_size=1, max_size=8).map(" ".join), min_size=2, max_size=6).map(
            "\n".join
        ),
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(_block, min_size=1, max_size=14),
    page_breaks=st.lists(st.booleans(), min_size=14, max_size=14),
    sizes=st.tuples(st.integers(3, 30), st.integers(0, 40), st.integers(0, 2)),
)
def test_passage_properties(
    blocks: list[tuple[str, str]], page_breaks: list[bool], sizes: tuple[int, int, int]
) -> None:
    pages, page = [], 1
    for i in range(len(blocks)):
        if i and page_breaks[i]:
            page += 1
        pages.append(page)
    doc = _doc(blocks, pages)
    min_words, extra, overlap = sizes
    cfg = Settings(
        passage_min_words=min_words, passage_max_words=min_words + extra, passage_overlap_sentences=overlap
    )
    ps = split_passages(doc, DOC_ID, "fi", cfg)
    heading_words = {h.start: len(h.text.split()) for h in doc.headings}
    covered = bytearray(len(doc.text))
    for i, p in enumerate(ps):
        assert p.ordinal == i
        assert p.text == doc.text[p.char_start : p.char_end]
        assert p.text.strip() == p.text and p.text
        assert 1 <= p.page_start <= p.page_end <= page
        if i:
            assert p.char_start > ps[i - 1].char_start and p.char_end > ps[i - 1].char_end  # in order
        headings_inside = sum(n for s, n in heading_words.items() if p.char_start <= s < p.char_end)
        assert len(p.text.split()) - headings_inside <= cfg.passage_max_words + 40  # + one overlap sentence
        for k in range(p.char_start, p.char_end):
            covered[k] = 1
    # No passage but the last ends with a heading (a heading stays with the text that follows it).
    heading_ends = {h.start + len(h.text) for h in doc.headings}
    for p in ps[:-1]:
        assert p.char_end not in heading_ends, p.text[-60:]
    # Every non-space character of the document is in some passage.
    assert all(covered[m.start()] for m in re.finditer(r"\S", doc.text))


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        (
            "da",
            "Mødet starter kl. 16. Næste møde holdes i maj.",
            ["Mødet starter kl. 16.", "Næste møde holdes i maj."],
        ),
        ("nb", "Møtet er kl. 10. Alle er velkomne.", ["Møtet er kl. 10.", "Alle er velkomne."]),
        (
            "sv",
            "Vi bygger bostäder, skolor m.m. Nästa steg är detaljplanen.",
            ["Vi bygger bostäder, skolor m.m.", "Nästa steg är detaljplanen."],
        ),
        (
            "sv",
            "Vi bygger bostäder och skolor osv. Sedan kommer vägarna.",
            ["Vi bygger bostäder och skolor osv.", "Sedan kommer vägarna."],
        ),
        (
            "da",
            "Vi planter træer, buske mv. Derefter kommer vejene.",
            ["Vi planter træer, buske mv.", "Derefter kommer vejene."],
        ),
        (
            "fi",
            "Rakennetaan kouluja, päiväkoteja jne. Seuraavaksi kaavoitetaan.",
            ["Rakennetaan kouluja, päiväkoteja jne.", "Seuraavaksi kaavoitetaan."],
        ),
        (
            "fi",
            "Kaupunki, seutu ym. Toimijat sopivat asiasta.",
            ["Kaupunki, seutu ym.", "Toimijat sopivat asiasta."],
        ),
        (
            "en",
            "Roads, parks etc. The next step is funding.",
            ["Roads, parks etc.", "The next step is funding."],
        ),
        # Not sentence ends: an abbreviation or ordinal followed by lower case or a number.
        ("da", "Mødet starter kl. 16 i rådhuset.", ["Mødet starter kl. 16 i rådhuset."]),
        ("da", "Den 16. maj 2024 blev planen vedtaget.", ["Den 16. maj 2024 blev planen vedtaget."]),
        ("sv", "Det gäller t.ex. Stockholm och Malmö.", ["Det gäller t.ex. Stockholm och Malmö."]),
        ("sv", "Vi bygger skolor m.m. och förskolor.", ["Vi bygger skolor m.m. och förskolor."]),
    ],
)
def test_sentence_ends_hidden_in_abbreviations_and_numbers(
    language: str, text: str, expected: list[str]
) -> None:
    from nordsearch.ingest.sentences import sentence_spans_many, split_sentences

    assert split_sentences(text, language) == expected
    assert [[text[s:e] for s, e in spans] for spans in sentence_spans_many([text], language)] == [expected]

"""PDF extraction: generated PDFs (running header/footer, page numbers, hyphenation, no text
layer, corrupt bytes) and the real PDFs of the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nordsearch.ingest.extract import extract
from nordsearch.ingest.extract.pdf_layout import (
    guess_heading_level,
    join_hyphenated,
    line_key,
    rebuild_paragraphs,
    remove_running_lines,
)
from nordsearch.ingest.records import IngestError
from tests.ingest.ingest_testutils import make_blank_pdf, make_pdf, make_two_column_pdf

HEADER = "Lapuan kaupunki – Yleiskaavan selostus 2025"
FOOTER = "Ympäristölautakunta 16.04.2024 – sivu {n} / {total}"

PAGE_1 = [
    "1 Johdanto",
    "Tämä selostus kuvaa yleiskaavan tavoitteet ja keskeiset ratkaisut. Kaupunki-",
    "suunnittelu ohjaa maankäyttöä pitkällä aikavälillä, ja kaavan valmistelussa on",
    "kuultu asukkaita useissa tilaisuuksissa eri puolilla kaupunkia vuoden aikana.",
    "Ensimmäinen kappale päättyy tähän.",
    "",
    "Toinen kappale käsittelee rakennusten lämpö- ja kosteusteknistä toimivuutta sekä",
    "energiatehokkuutta. Rakennusten lämpö-",
    "ja kosteustekninen toimivuus tarkistetaan aina rakennuslupavaiheessa huolellisesti.",
]
PAGE_2 = [
    "2 Liikenne",
    "Joukkoliikenteen runkolinjat kulkevat keskustasta asemalle ja edelleen uusille",
    "asuinalueille. Pyöräilyn pääreitit erotetaan autoliikenteestä koko matkalta.",
    "Liikenneturvallisuutta parannetaan koulujen ympäristössä hidasteilla.",
]
PAGE_3 = [
    "3 Viherverkosto",
    "Virkistysalueet muodostavat yhtenäisen verkoston, joka yhdistää kaupunginosat",
    "toisiinsa ja ulkoilureitteihin. Metsäiset alueet säilytetään luonnontilaisina.",
]


@pytest.fixture(scope="module")
def generated_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "selostus.pdf"
    path.write_bytes(
        make_pdf(
            [PAGE_1, PAGE_2, PAGE_3], header=HEADER, footer=FOOTER, numbers=True, title="Yleiskaavan selostus"
        )
    )
    return path


def test_pages_and_spans(generated_pdf: Path) -> None:
    doc = extract(generated_pdf)
    assert doc.format == "pdf"
    assert [p.number for p in doc.pages] == [1, 2, 3]
    for page, first_line in zip(doc.pages, ["1 Johdanto", "2 Liikenne", "3 Viherverkosto"], strict=True):
        assert doc.text[page.start : page.end].startswith(first_line)
    assert doc.page_at(doc.text.index("Joukkoliikenteen")) == 2
    assert doc.title == "Yleiskaavan selostus"


def test_running_header_footer_and_page_numbers_removed(generated_pdf: Path) -> None:
    doc = extract(generated_pdf)
    assert "Lapuan kaupunki" not in doc.text
    assert "sivu" not in doc.text
    for page in doc.pages:
        body = doc.text[page.start : page.end]
        assert not body.rstrip().endswith(str(page.number)), body[-40:]
    # Real unique content survives.
    assert "Liikenneturvallisuutta parannetaan koulujen ympäristössä hidasteilla." in doc.text


def test_hyphenation_joined_but_elided_compounds_kept(generated_pdf: Path) -> None:
    doc = extract(generated_pdf)
    assert "Kaupunkisuunnittelu ohjaa" in doc.text
    assert "Kaupunki-" not in doc.text
    assert "lämpö- ja kosteustekninen toimivuus" in doc.text


def test_paragraphs_rebuilt(generated_pdf: Path) -> None:
    doc = extract(generated_pdf)
    first = doc.text.index("Tämä selostus")
    paragraph = doc.text[first : doc.text.index("\n\n", first)]
    assert "\n" not in paragraph
    assert paragraph.endswith("Ensimmäinen kappale päättyy tähän.")


def test_numbered_headings_found(generated_pdf: Path) -> None:
    doc = extract(generated_pdf)
    assert [(h.level, h.text) for h in doc.headings] == [
        (1, "1 Johdanto"),
        (1, "2 Liikenne"),
        (1, "3 Viherverkosto"),
    ]
    for h in doc.headings:
        assert doc.text[h.start : h.start + len(h.text)] == h.text


def test_invisible_characters_removed(tmp_path: Path) -> None:
    path = tmp_path / "zw.pdf"
    # Helvetica cannot draw U+200B, so build the text layer with a soft hyphen (in WinAnsi).
    path.write_bytes(make_pdf([["Asemakaava\u00ad muutos koskee korttelia 12 ja sen ympäristöä."]]))
    doc = extract(path)
    assert "\u00ad" not in doc.text and "\u200b" not in doc.text
    assert "Asemakaava muutos" in doc.text


def test_no_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(make_blank_pdf())
    with pytest.raises(IngestError) as err:
        extract(path)
    assert err.value.code == "no_text_layer"


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_pdf_is_corrupt(tmp_path: Path, generated_pdf: Path, keep: float) -> None:
    data = generated_pdf.read_bytes()
    path = tmp_path / "broken.pdf"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(IngestError) as err:
        extract(path)
    assert err.value.code == "corrupt_file"


def test_not_a_pdf_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"this is not a PDF at all\n" * 20)
    with pytest.raises(IngestError) as err:
        extract(path)
    assert err.value.code == "corrupt_file"


# --- pure layout helpers -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("previous", "following", "expected"),
    [
        ("kaupunki-", "suunnittelu on", "kaupunkisuunnittelu on"),
        ("ELY-", "keskus", "ELY-keskus"),
        ("linja-", "auto", "linja-auto"),
        ("lämpö-", "ja kosteustekninen", None),
        ("bostads-", "och arbetsplatser", None),
        ("bolig-", "og næringsbygg", None),
        ("2020-", "2030", None),
        ("text", "more", None),
    ],
)
def test_join_hyphenated(previous: str, following: str, expected: str | None) -> None:
    assert join_hyphenated(previous, following) == expected


def test_rebuild_paragraphs_keeps_short_lines_apart() -> None:
    lines = [
        "Juha Kattelus, puheenjohtaja",
        "Markku Keskikallio, varapuheenjohtaja",
        "",
        "Lapuan kaupungin hallintosäännön mukaan toimielin pitää kokouksensa päättämänään",
        "aikana ja paikassa. Kokous pidetään myös, milloin puheenjohtaja katsoo sen",
        "tarpeelliseksi.",
    ]
    blocks = rebuild_paragraphs(lines, full_width=80)
    assert blocks[0].kind == "lines" and blocks[0].lines == lines[:2]
    assert blocks[-1].kind == "para"
    assert blocks[-1].text.endswith("katsoo sen tarpeelliseksi.")


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2.1 Liikenne ja pysäköinti", 2),
        ("3 Viherverkosto", 1),
        ("YLEISKAAVAN TAVOITTEET", 1),
        ("Tämä on tavallinen lause.", None),
        ("12 paikallista ratkaisua ilmastokriisiin", None),
        ("2024", None),
        ("1. päivä kesäkuuta oli kaunis ja lämmin päivä", None),
    ],
)
def test_guess_heading_level(line: str, level: int | None) -> None:
    assert guess_heading_level(line) == level


def test_running_lines_with_changing_page_numbers() -> None:
    letters = "abcdefghijklmnop"
    pages = [
        [
            f"Kaupunginhallitus pöytäkirja {n} (12)",
            f"Unique body line number {letters[n]} here",
            f"Another body line {letters[n]}x",
            f"yet another body {letters[n]}y",
            f"and more {letters[n]}z",
            f"{n}",
        ]
        for n in range(1, 13)
    ]
    cleaned, removed = remove_running_lines(pages)
    assert removed == 24
    assert all(not any("pöytäkirja" in line for line in page) for page in cleaned)
    assert all(page[-1] != "" and not page[-1].isdigit() for page in cleaned)
    assert cleaned[0][0].startswith("Unique body line")


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöå", min_size=2, max_size=9)
_line = st.lists(_word, min_size=1, max_size=8).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(
    pages=st.lists(st.lists(_line, min_size=0, max_size=12), min_size=1, max_size=8),
    header=st.one_of(st.none(), _line),
)
def test_running_lines_never_drop_a_line_that_appears_once(
    pages: list[list[str]], header: str | None
) -> None:
    if header is not None:
        pages = [[header, *p] for p in pages]
    cleaned, _ = remove_running_lines(pages)
    counts: dict[str, int] = {}
    for page in pages:
        for line in page:
            counts[line_key(line)] = counts.get(line_key(line), 0) + 1
    for before, after in zip(pages, cleaned, strict=True):
        for line in before:
            if counts[line_key(line)] == 1:
                assert line in after
        # Order is preserved: the cleaned page is a subsequence of the original.
        it = iter(before)
        assert all(any(x == y for y in it) for x in after)


# --- real documents --------------------------------------------------------------------------
def test_real_minutes_pdf(shared_corpus: Path) -> None:
    doc = extract(shared_corpus / "fi_lapua_ymparistolautakunta_poytakirja_2024-04-16.pdf")
    assert len(doc.pages) == 34
    # Running header "Lapuan kaupunki Pöytäkirja 2/2024 N (34)" removed from every page but content kept.
    assert "Pöytäkirja 2/2024" not in doc.text
    assert "Kokouksen laillisuus ja päätösvaltaisuus" in doc.text
    assert "\u200b" not in doc.text
    # Outline entries become headings placed in the text.
    heading = next(h for h in doc.headings if h.text.startswith("§ 9"))
    assert doc.text[heading.start : heading.start + 3] == "§ 9"
    assert doc.page_at(heading.start) == 4


def test_real_programme_pdf_against_text_twin(shared_corpus: Path) -> None:
    doc = extract(shared_corpus / "sv_grona_kommunalvalsprogram_2012.pdf")
    twin = (shared_corpus / "sv_grona_kommunalvalsprogram_2012_text_twin.md").read_text(encoding="utf-8")
    assert len(doc.pages) == 3
    # Most words of the publisher's text version are found in the extracted text.
    words = {w.strip(".,:;!?()*#\"'") for w in twin.split()[80:]} - {""}
    found = sum(1 for w in words if w in doc.text)
    assert found / len(words) > 0.9


# --- two-column pages, font headings, list markers -------------------------------------------
LEFT_COLUMN = [
    "Vänster spalt börjar här med en lång mening om",
    "dagvatten och skyfall som fortsätter över flera",
    "rader i samma spalt utan att blandas med den",
    "högra spalten på något sätt alls i texten som",
    "extraheras från sidan av vårt verktyg idag.",
]
RIGHT_COLUMN = [
    "Höger spalt handlar i stället om cykelvägar och",
    "vinterväghållning med sopsaltning på stråken",
    "mellan centrum och de nya bostadsområdena i",
    "norr, där pendlingen ökar varje år sedan den",
    "nya bron öppnades för gång och cykel i fjol.",
]


def test_two_column_reading_order(tmp_path: Path) -> None:
    path = tmp_path / "two.pdf"
    path.write_bytes(
        make_two_column_pdf(
            LEFT_COLUMN,
            RIGHT_COLUMN,
            heading=["Skyfallsplan", "Bilaga"],
            footer="Älvstad kommun sida {n}",
            pages=2,
        )
    )
    doc = extract(path)
    assert doc.metadata.get("two_column_pages") == 2
    page1 = doc.text[doc.pages[0].start : doc.pages[0].end]
    left = " ".join(LEFT_COLUMN)
    right = " ".join(RIGHT_COLUMN)
    # Each column is one whole paragraph, and the left one comes entirely before the right one.
    assert left in page1 and right in page1
    assert page1.index(left) + len(left) <= page1.index(right)
    assert page1.startswith("Skyfallsplan")
    assert "Älvstad kommun" not in doc.text  # running footer still removed
    # The larger bold line is a heading (the PDF has no outline).
    assert [h.text for h in doc.headings][:1] == ["Skyfallsplan"]


def test_single_column_interleaved_lines_not_split_into_columns(tmp_path: Path) -> None:
    # A two-column *table* (short cells) must not be read as two text columns.
    rows = [f"Kvarter {i}" for i in range(12)]
    values = [f"{i * 10} m³" for i in range(12)]
    path = tmp_path / "table.pdf"
    path.write_bytes(make_two_column_pdf(rows, values))
    doc = extract(path)
    assert "two_column_pages" not in doc.metadata
    # Read row by row, as the content stream has it.
    assert (
        doc.text.index("0 m³")
        < doc.text.index("Kvarter 1")
        < doc.text.index("10 m³")
        < doc.text.index("Kvarter 11")
    )


def test_corpus_two_column_pdf() -> None:
    corpus = Path(__file__).resolve().parents[2] / "corpus" / "da_skybrudsplan.pdf"
    doc = extract(corpus)
    assert doc.metadata.get("two_column_pages", 0) >= 2
    expected = [
        "Indledning",
        "Hvad er et skybrud?",
        "Mål for serviceniveau",
        "Princippet: vandet skal ledes på overfladen",
        "Skybrudsveje",
        "Forsinkelsesveje og grønne veje",
        "Skybrudsbassiner i parker",
        "Projekter 2024–2035",
        "Klimatilpasning i lokalplaner",
        "Borgere og grundejere",
        "Erfaringer",
        "Opfølgning",
    ]
    titles = [h.text for h in doc.headings if h.level > 1]
    assert titles == expected
    starts = [h.start for h in doc.headings]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for h in doc.headings:
        assert doc.text[h.start : h.start + len(h.text)] == h.text
    # Paragraphs wrapped by the column width are whole again; list markers stay with their items.
    assert "Lindegården blev oversvømmet, og forsikringsskaderne blev opgjort" in doc.text
    assert "– Ved et 100-års skybrud må der højst stå 10 centimeter vand" in doc.text
    assert "\n–\n" not in doc.text and "\n\n–\n\n" not in doc.text
    assert "Side 2" not in doc.text and "fiktivt eksempel)" not in doc.text.split("\n\n", 3)[-1]


def test_bookmark_matches_whole_words_only() -> None:
    corpus = Path(__file__).resolve().parents[2] / "corpus" / "fi_mal_sopimus_tiivistelma.pdf"
    doc = extract(corpus)
    for h in doc.headings:
        assert doc.text[h.start : h.start + len(h.text)] == h.text
        end = h.start + len(h.text)
        assert end == len(doc.text) or not doc.text[end].isalnum()
    assert "– Liikenteen kasvihuonekaasupäästöt" in doc.text


def test_font_size_headings_without_outline() -> None:
    corpus = Path(__file__).resolve().parents[2] / "corpus" / "nb_kommuneplan_fortetting_stasjoner.pdf"
    doc = extract(corpus)
    titles = [h.text for h in doc.headings]
    assert "Hovedgrep" in titles and "Videre arbeid" in titles
    for h in doc.headings:
        assert len(h.text) <= 100
        assert doc.text[h.start : h.start + len(h.text)] == h.text


def test_attach_bullets() -> None:
    from nordsearch.ingest.extract.pdf_layout import attach_bullets

    assert attach_bullets(["Intro:", "–", "first item", "•", "", "second"]) == [
        "Intro:",
        "– first item",
        "",
        "• second",
    ]
    assert attach_bullets(["–", "first item", "text"]) == ["– first item", "text"]


def test_gutter_detection_pure() -> None:
    from nordsearch.ingest.extract.pdf_runs import Line, find_gutter, order_lines

    lines = []
    for i in range(12):
        y = 700 - 13 * i
        lines.append(Line(60, 280, y, 10, False, f"left column line number {i} with words"))
        lines.append(Line(310, 530, y, 10, False, f"right column line number {i} with words"))
    gutter = find_gutter(lines, 595, 842)
    assert gutter is not None and 280 < gutter <= 310
    ordered = [x for x in order_lines(lines, gutter, 842) if x]
    text = " ".join(ordered)
    assert text.index("left column line number 11") < text.index("right column line number 0")


@settings(max_examples=40, deadline=None)
@given(
    left=st.lists(_line, min_size=0, max_size=25),
    right=st.lists(_line, min_size=0, max_size=25),
    split=st.booleans(),
)
def test_order_lines_keeps_every_word(left: list[str], right: list[str], split: bool) -> None:
    from collections import Counter

    from nordsearch.ingest.extract.pdf_runs import Line, find_gutter, order_lines

    lines = [Line(60, 60 + 5 * len(t), 760 - 13 * i, 10, False, t) for i, t in enumerate(left)]
    lines += [Line(310, 310 + 5 * len(t), 760 - 13 * i, 10, False, t) for i, t in enumerate(right)]
    gutter = find_gutter(lines, 595, 842) if split else None
    out = order_lines(lines, gutter, 842)
    assert Counter(" ".join(out).split()) == Counter(" ".join(left + right).split())


@pytest.mark.parametrize(
    "name",
    [
        "da_skybrudsplan.pdf",
        "en_state_city_partnerships.pdf",
        "fi_mal_sopimus_tiivistelma.pdf",
        "nb_kommuneplan_fortetting_stasjoner.pdf",
        "sv_skyfallsplan.pdf",
    ],
)
def test_corpus_pdf_headings_placed_in_order(name: str) -> None:
    doc = extract(Path(__file__).resolve().parents[2] / "corpus" / name)
    starts = [h.start for h in doc.headings]
    assert len(doc.headings) >= 5
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # every heading found in the text
    for h in doc.headings:
        assert doc.text[h.start : h.start + len(h.text)] == h.text
    assert "\n–\n" not in f"\n{doc.text}\n"  # list markers stay with their items


def test_parser_noise_becomes_the_documents_warnings_not_terminal_output(tmp_path: Path, capfd) -> None:
    """Issue 12: pypdf's messages about a damaged file went to the terminal of whoever indexed a
    folder, one line per object. They are the file's warnings now (the --report names them)."""
    import logging
    import re

    from nordsearch.ingest.extract.pdf import extract_pdf

    data = make_pdf([["Kaupunki rakentaa pyöräteitä talvella."] * 20, ["Talvikunnossapito on tärkeää."] * 20])
    path = tmp_path / "damaged.pdf"
    # a wrong startxref offset: pypdf recovers by scanning the file and logs what it did
    path.write_bytes(
        re.sub(rb"startxref\s+(\d+)", lambda m: b"startxref\n" + str(int(m[1]) + 7).encode(), data)
    )
    doc = extract_pdf(path)
    assert "Talvikunnossapito" in doc.text
    assert any(w.startswith("pypdf: incorrect startxref pointer") for w in doc.warnings), doc.warnings
    out, err = capfd.readouterr()
    assert "startxref" not in out + err
    assert logging.getLogger("pypdf").propagate and not logging.getLogger("pypdf").handlers  # restored

"""Plain text and Markdown extraction."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordsearch.ingest.extract import extract, supported_suffixes
from nordsearch.ingest.extract.normalize import normalize_line, normalize_text
from nordsearch.ingest.extract.text import strip_inline_markdown
from nordsearch.ingest.records import IngestError

MARKDOWN = """---
title: "Vihreä kaupunki"
year: 2020
---

# Vihreä kaupunki

Johdanto **lihavoitu** ja *kursiivi* sekä [linkki](https://example.org/x_(y)) ja
![kuva](kuva.png) rivinvaihto.

Alaotsikko
----------

- ensimmäinen kohta
- toinen `koodi` kohta
  jatkuu

| Alue | Asunnot |
| --- | --- |
| Kalasatama | 25 000 |

## Liikenne ##

Snake_case_sana ja 2*3*4 pysyvät.
"""


def test_markdown_structure(tmp_path: Path) -> None:
    path = tmp_path / "ohjelma.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = extract(path)
    assert doc.format == "md"
    assert doc.title == "Vihreä kaupunki"
    assert doc.metadata["year"] == 2020
    assert [(h.level, h.text) for h in doc.headings] == [
        (1, "Vihreä kaupunki"),
        (2, "Alaotsikko"),
        (2, "Liikenne"),
    ]
    for h in doc.headings:
        assert doc.text[h.start : h.start + len(h.text)] == h.text
    assert "Johdanto lihavoitu ja kursiivi sekä linkki ja rivinvaihto." in doc.text
    assert "https://" not in doc.text and "kuva" not in doc.text and "---" not in doc.text
    assert "ensimmäinen kohta\ntoinen koodi kohta jatkuu" in doc.text
    assert "Alue | Asunnot\nKalasatama | 25 000" in doc.text
    assert "Snake_case_sana ja 2*3*4 pysyvät." in doc.text


def test_strip_inline_markdown() -> None:
    assert strip_inline_markdown("a **b** _c_ [d](http://e) ![f](g) `h`") == "a b c d  h"


def test_txt_headings(tmp_path: Path) -> None:
    path = tmp_path / "seed.txt"
    path.write_text(
        "Kestävä kaupunki\n================\n\nTeksti jatkuu tässä\nja tässä.\n\nTAVOITTEET\n\nVähemmän päästöjä.\n",
        encoding="utf-8",
    )
    doc = extract(path)
    assert doc.title == "Kestävä kaupunki"
    assert [(h.level, h.text) for h in doc.headings] == [(1, "Kestävä kaupunki"), (2, "TAVOITTEET")]
    assert "Teksti jatkuu tässä ja tässä." in doc.text


def test_txt_cp1252_and_invisible(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes("Bostäder\u00a0och  arbetsplatser för alla människor i staden.".encode("cp1252"))
    assert extract(path).text == "Bostäder och arbetsplatser för alla människor i staden."


def test_normalisation() -> None:
    assert normalize_line("a\u200bb\u00adc\u2060 d\t\te") == "abc d e"
    assert normalize_line("A\u0308") == "Ä"  # NFC
    assert normalize_text("a\r\n\r\n\r\n\r\nb") == "a\n\nb"


def test_errors(tmp_path: Path) -> None:
    for name, data, code in [
        ("x.xlsx", b"abc", "unsupported_format"),
        ("e.txt", b"", "empty"),
        ("w.md", b"   \n\n  ", "empty"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(IngestError) as err:
            extract(path)
        assert err.value.code == code
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 1000)
    with pytest.raises(IngestError) as err:
        extract(big, max_bytes=100)
    assert err.value.code == "too_large"
    assert ".pdf" in supported_suffixes() and ".markdown" in supported_suffixes()


def test_real_markdown_with_front_matter(shared_corpus: Path) -> None:
    doc = extract(shared_corpus / "fi_vihreat_kunnallisvaaliohjelma_2012_text_twin.md")
    assert doc.title == "Vihreän liiton kunnallisvaaliohjelma 2012: Avoimempi kunta"
    assert not doc.text.startswith("---") and "layout:" not in doc.text
    assert "Millainen on vihreä kunta?" in [h.text for h in doc.headings]


def test_real_txt_seed(shared_corpus: Path) -> None:
    doc = extract(shared_corpus / "sv_seed_000_hallbara_stader.txt")
    assert doc.title == "Vi samarbetar för hållbarare städer"
    assert "bl.a. inriktat" in doc.text


# --- running headers left in text converted from PDF -------------------------------------------
def test_markdown_repeated_page_headers_removed_but_repeated_headings_kept(tmp_path: Path) -> None:
    parts = ["# Action plan", ""]
    for n in range(1, 8):
        parts += [
            "Oslo / Climate Neutrality Action Plan",
            "",
            f"Paragraph {n} explains measure number {n} of the plan in some detail.",
            "",
            "Background" if n <= 3 else f"Section {n}",
            "",
            f"Text under heading {n}, with Oslo mentioned inside a real sentence.",
            "",
            str(n + 10),
            "",
        ]
    path = tmp_path / "plan.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    doc = extract(path)
    assert "Climate Neutrality Action Plan" not in doc.text
    assert "\n17\n" not in f"\n{doc.text}\n" and "\n\n11\n\n" not in doc.text
    assert doc.text.count("Background") == 3  # repeated 3 times: a real heading, kept
    for n in range(1, 8):
        assert f"Paragraph {n} explains measure number {n}" in doc.text
    assert doc.metadata["removed_running_lines"] == 14


def test_repeated_line_inside_prose_is_kept() -> None:
    from nordsearch.ingest.extract.text import remove_repeated_lines

    lines = []
    for _ in range(6):
        lines += ["Kivikoski", "jatkaa kaupunkiseudun yhteistyötä vuonna 2025 ja", "sen jälkeen.", ""]
    kept, removed = remove_repeated_lines(lines)
    assert removed == 0 and kept == lines


def test_shared_corpus_markdown_running_header(shared_corpus: Path) -> None:
    doc = extract(shared_corpus / "en_ccc_2030_climate_neutrality_action_plan_oslo.md")
    assert doc.metadata["removed_running_lines"] > 50
    assert doc.text.count("Climate Neutrality Action Plan") < 10

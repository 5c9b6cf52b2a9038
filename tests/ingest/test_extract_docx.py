"""DOCX extraction on documents generated with python-docx."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from nordsearch.ingest.extract import extract
from nordsearch.ingest.records import IngestError


@pytest.fixture
def docx_path(tmp_path: Path) -> Path:
    d = docx.Document()
    d.core_properties.title = "Kommuneplanens arealdel"
    d.add_heading("Kommuneplan for Asker", 0)
    d.add_heading("1 Formål", 1)
    d.add_paragraph("Bestemmelsene gjelder for hele kommunen. De skal sikre god bokvalitet.")
    d.add_heading("1.1 Parkering", 2)
    table = d.add_table(rows=2, cols=3)
    for i, cell in enumerate(["Boligtype", "Min", "Maks"]):
        table.rows[0].cells[i].text = cell
    for i, cell in enumerate(["Blokk", "1,2", "1,5"]):
        table.rows[1].cells[i].text = cell
    d.add_paragraph("Sykkelparkering skal være under tak.")
    d.add_paragraph("Første punkt", style="List Bullet")
    d.add_paragraph("Andre punkt", style="List Bullet")
    d.add_paragraph("\u200bSlutt\u00ad tekst.")
    path = tmp_path / "plan.docx"
    d.save(str(path))
    return path


def test_docx_order_headings_tables(docx_path: Path) -> None:
    doc = extract(docx_path)
    assert doc.format == "docx"
    assert doc.title == "Kommuneplanens arealdel"
    assert [(h.level, h.text) for h in doc.headings] == [
        (1, "Kommuneplan for Asker"),
        (1, "1 Formål"),
        (2, "1.1 Parkering"),
    ]
    for h in doc.headings:
        assert doc.text[h.start : h.start + len(h.text)] == h.text
    text = doc.text
    # The table stays between the paragraphs around it, one row per line.
    assert (
        text.index("1.1 Parkering")
        < text.index("Boligtype | Min | Maks\nBlokk | 1,2 | 1,5")
        < text.index("Sykkelparkering")
    )
    assert "Første punkt\nAndre punkt" in text
    assert text.endswith("Slutt tekst.")


def test_docx_title_falls_back_to_heading(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_heading("Trafikkplan", 1)
    d.add_paragraph("Tekst.")
    path = tmp_path / "t.docx"
    d.save(str(path))
    assert extract(path).title == "Trafikkplan"


def test_corrupt_docx(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(IngestError) as err:
        extract(path)
    assert err.value.code == "corrupt_file"


def test_empty_docx(tmp_path: Path) -> None:
    path = tmp_path / "empty.docx"
    docx.Document().save(str(path))
    with pytest.raises(IngestError) as err:
        extract(path)
    assert err.value.code == "empty"

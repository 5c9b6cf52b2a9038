"""ingest_file end to end, for every format, with sidecars and errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import docx
import pytest

from nordsearch.ingest.pipeline import ingest_file
from nordsearch.ingest.records import LANGUAGES, IngestError, content_hash
from nordsearch.ingest.settings import Settings
from nordsearch.ingest.sidecar import SidecarWarning, read_sidecar
from tests.ingest.ingest_testutils import make_blank_pdf, make_pdf

SV = (
    "Kommunen ska i översiktsplanen redovisa hur den avser att tillgodose behovet av bostäder och hur "
    "riksintressen ska tillgodoses. "
)


def _check(result, path: Path, fmt: str) -> None:
    doc = result.document
    data = path.read_bytes()
    assert doc.document_id == doc.content_hash == content_hash(data)
    assert doc.size_bytes == len(data)
    assert doc.format == fmt
    assert doc.language in LANGUAGES
    assert doc.passage_count == len(result.passages) > 0
    assert doc.title
    for i, p in enumerate(result.passages):
        assert p.ordinal == i and p.document_id == doc.document_id
        assert p.text.strip() and p.language in LANGUAGES and p.themes == []


def test_all_formats(tmp_path: Path) -> None:
    files = {}
    files["md"] = tmp_path / "plan.md"
    files["md"].write_text("# Översiktsplan\n\n" + SV * 5, encoding="utf-8")
    files["txt"] = tmp_path / "plan.txt"
    files["txt"].write_text(SV * 5, encoding="utf-8")
    files["html"] = tmp_path / "plan.html"
    files["html"].write_text(
        f"<html><head><title>Plan</title></head><body><p>{SV * 5}</p></body></html>", encoding="utf-8"
    )
    files["docx"] = tmp_path / "plan.docx"
    d = docx.Document()
    d.add_heading("Översiktsplan", 1)
    d.add_paragraph(SV * 5)
    d.save(str(files["docx"]))
    files["pdf"] = tmp_path / "plan.pdf"
    files["pdf"].write_bytes(
        make_pdf(
            [
                [
                    "Kommunen ska i översiktsplanen redovisa hur den avser att tillgodose behovet av",
                    "bostäder och hur riksintressen ska tillgodoses i planeringen av hela kommunen.",
                ],
                ["Planen ska vara vägledande för beslut om användningen av mark- och vattenområden."],
            ]
        )
    )
    for fmt, path in files.items():
        result = ingest_file(path, Settings())
        _check(result, path, fmt)
        assert result.document.language == "sv", fmt
    assert ingest_file(files["pdf"], Settings()).document.pages == 2
    assert ingest_file(files["md"], Settings()).document.pages == 0


def test_sidecar_metadata_and_title(tmp_path: Path) -> None:
    path = tmp_path / "raport.txt"
    path.write_text(SV * 3, encoding="utf-8")
    path.with_name("raport.txt.json").write_text(
        json.dumps(
            {
                "title": "Översiktsplan 2030",
                "city": "Malmö",
                "country": "SE",
                "year": "2022",
                "language": "sv",
                "url": "https://malmo.se/op",
            }
        ),
        encoding="utf-8",
    )
    doc = ingest_file(path, Settings()).document
    assert doc.title == "Översiktsplan 2030"
    assert doc.metadata["city"] == "Malmö" and doc.metadata["year"] == 2022
    assert doc.metadata["url"] == "https://malmo.se/op"


def test_sidecar_language_is_only_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text(SV * 3, encoding="utf-8")
    path.with_name("x.txt.json").write_text(json.dumps({"language": "fi"}), encoding="utf-8")
    result = ingest_file(path, Settings())
    assert result.document.language == "sv"
    assert result.document.metadata["language_hint"] == "fi"


def test_invalid_sidecar_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "y.txt"
    path.write_text(SV * 3, encoding="utf-8")
    path.with_name("y.txt.json").write_text("{not json", encoding="utf-8")
    with pytest.warns(SidecarWarning):
        assert read_sidecar(path) == {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SidecarWarning)
        result = ingest_file(path, Settings())
    assert any("sidecar" in w for w in result.warnings)
    assert result.document.title == "y"  # no sidecar title, no document title -> file stem


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("scan.pdf", make_blank_pdf(), "no_text_layer"),
        ("bad.pdf", b"%PDF-1.4\n1 0 obj", "corrupt_file"),
        ("sheet.xlsx", b"data", "unsupported_format"),
        ("empty.md", b"", "empty"),
    ],
)
def test_errors(tmp_path: Path, name: str, data: bytes, code: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(IngestError) as err:
        ingest_file(path, Settings())
    assert err.value.code == code and err.value.source == str(path)


def test_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text(SV * 50, encoding="utf-8")
    with pytest.raises(IngestError) as err:
        ingest_file(path, Settings(max_file_bytes=1000))
    assert err.value.code == "too_large"


def test_deterministic(tmp_path: Path) -> None:
    path = tmp_path / "d.md"
    path.write_text("# Otsikko\n\n" + SV * 8, encoding="utf-8")
    a, b = ingest_file(path, Settings()), ingest_file(path, Settings())
    assert a.document == b.document and a.passages == b.passages


@pytest.mark.parametrize(
    "name",
    [
        "fi_lapua_ymparistolautakunta_poytakirja_2022-06-14.pdf",
        "da_aarhus_teknisk_udvalg_referat_2025-10-01.html",
        "no_asker_kommuneplan_vedlegg3_definisjoner.html",
        "sv_regeringen_rapport_2016_mer_flyg_och_bostader.md",
        "fi_seed_004_mal_verkosto_pohjoismaat.txt",
    ],
)
def test_real_documents(shared_corpus: Path, name: str) -> None:
    path = shared_corpus / name
    result = ingest_file(path, Settings())
    fmt = {".pdf": "pdf", ".html": "html", ".md": "md", ".txt": "txt"}[path.suffix]
    _check(result, path, fmt)
    side = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
    assert result.document.title == side["title"]
    assert result.document.language == {"no": "nb"}.get(side["language"], side["language"])
    if fmt == "pdf":
        assert result.document.pages == side["pdf_pages"]
        assert all(1 <= p.page_start <= p.page_end <= result.document.pages for p in result.passages)


def _scanned_pdf(tmp_path: Path) -> Path:
    """A PDF whose only content is a picture of text (render a text PDF, embed the image)."""
    import io
    import subprocess

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    text_pdf = tmp_path / "text.pdf"
    text_pdf.write_bytes(
        make_pdf(
            [
                [
                    "Kaupunkisuunnittelu ohjaa maankäyttöä pitkällä aikavälillä ja kaavan",
                    "valmistelussa on kuultu asukkaita useissa tilaisuuksissa vuoden aikana.",
                ]
            ]
        )
    )
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", str(text_pdf), str(tmp_path / "img")], check=True
    )
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.drawImage(str(tmp_path / "img.png"), 0, 0, *A4)
    c.showPage()
    c.save()
    path = tmp_path / "scan.pdf"
    path.write_bytes(buf.getvalue())
    return path


def test_scanned_pdf_ocr(tmp_path: Path) -> None:
    from nordsearch.ingest.extract.ocr import installed_languages, ocr_available

    if not ocr_available() or "fin" not in installed_languages():
        pytest.skip("tesseract/pdftoppm with Finnish not installed")
    path = _scanned_pdf(tmp_path)
    with pytest.raises(IngestError) as err:
        ingest_file(path, Settings(ocr=False))
    assert err.value.code == "no_text_layer"
    result = ingest_file(path, Settings(ocr=True))
    assert result.document.language == "fi" and result.document.pages == 1
    assert "Kaupunkisuunnittelu ohjaa maankäyttöä" in result.passages[0].text
    assert any("OCR" in w for w in result.warnings)

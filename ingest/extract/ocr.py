"""OCR for PDFs without a text layer (scans), with the Tesseract and Poppler command-line tools.

Used only when Settings.ocr is on and both tools are installed; pages are rasterised with
pdftoppm and read with tesseract in the product languages whose traineddata is installed.
The page text then goes through the same layout repairs as a text-layer PDF.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from nordsearch.ingest.records import ExtractedDocument, IngestError

# Tesseract language codes for the product languages, in the order we prefer them.
_TESSERACT_LANGS = ("fin", "swe", "nor", "dan", "eng")
DPI = 200
MAX_OCR_PAGES = 300
PAGE_TIMEOUT_S = 120


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None and shutil.which("pdftoppm") is not None


@lru_cache(maxsize=1)
def installed_languages() -> tuple[str, ...]:
    try:
        out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    have = {line.strip() for line in out.splitlines()}
    return tuple(code for code in _TESSERACT_LANGS if code in have)


def _page_number(path: Path) -> int:
    m = re.search(r"(\d+)\.png$", path.name)
    return int(m.group(1)) if m else 0


def ocr_pdf(path: Path, data: bytes | None = None) -> ExtractedDocument:
    """Extract a scanned PDF by OCR; raises IngestError(no_text_layer) if nothing is read."""
    from nordsearch.ingest.extract.pdf import build_from_page_lines

    source = str(path)
    if not ocr_available():
        raise IngestError(
            source, "no_text_layer", "the PDF has no text layer and OCR tools are not installed"
        )
    langs = "+".join(installed_languages()) or "eng"
    with tempfile.TemporaryDirectory(prefix="nordsearch-ocr-") as tmp:
        pdf = Path(tmp) / "in.pdf"
        pdf.write_bytes(data if data is not None else path.read_bytes())
        try:
            subprocess.run(
                [
                    "pdftoppm",
                    "-r",
                    str(DPI),
                    "-gray",
                    "-png",
                    "-l",
                    str(MAX_OCR_PAGES),
                    str(pdf),
                    str(Path(tmp) / "p"),
                ],
                check=True,
                capture_output=True,
                timeout=PAGE_TIMEOUT_S * 4,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise IngestError(source, "corrupt_file", f"cannot rasterise PDF for OCR: {exc}") from exc
        images = sorted(Path(tmp).glob("p*.png"), key=_page_number)
        pages: list[list[str]] = []
        for image in images:
            try:
                result = subprocess.run(
                    ["tesseract", str(image), "stdout", "-l", langs, "--psm", "3"],
                    capture_output=True,
                    text=True,
                    timeout=PAGE_TIMEOUT_S,
                )
                text = result.stdout if result.returncode == 0 else ""
            except (OSError, subprocess.SubprocessError):
                text = ""
            pages.append(text.split("\n"))
    if not any(line.strip() for page in pages for line in page):
        raise IngestError(source, "no_text_layer", "the PDF has no text layer and OCR found no text")
    warnings = [f"OCR used ({langs}, {len(pages)} pages): text may contain recognition errors"]
    doc = build_from_page_lines(source, pages, None, {"ocr": True, "ocr_languages": langs}, warnings)
    return doc

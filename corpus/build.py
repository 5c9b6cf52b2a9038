"""Generate the PDF and DOCX documents of the default corpus from their Markdown sources.

Usage (from the repository root)::

    .venv/bin/python corpus/build.py              # writes corpus/NAME.pdf|docx and NAME.ext.json
    .venv/bin/python corpus/build.py --out DIR    # writes the same files into DIR
    .venv/bin/python corpus/build.py --check      # exit 1 if a committed file differs from a rebuild

Each source ``corpus/src/NAME.md`` starts with a small front-matter block::

    ---
    title: ...
    city: ...
    country: FI
    year: 2024
    publisher: ...
    language: fi
    format: pdf            # or docx
    layout: two-column     # optional, PDF only
    ---

followed by a deliberately small Markdown subset: ``#``/``##``/``###`` headings, paragraphs
separated by blank lines, ``- `` bullet items and ``|``-tables (the second row is the separator).

The output is deterministic: PDFs are written with reportlab's ``invariant=1`` (fixed dates and
document id) and DOCX files get fixed core properties and fixed ZIP entry timestamps, so
re-running the script gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import io
import json
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"

FIXED_DATE = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
SIDECAR_KEYS = ("title", "city", "country", "year", "publisher", "language")
SAMPLE_NOTE = (
    "Sample document written for the nordsearch default corpus. Cities, organisations and "
    "figures are fictional. Licence: CC0 1.0 (public domain dedication)."
)

# Running-footer page label per language.
PAGE_WORD = {"fi": "Sivu", "sv": "Sida", "nb": "Side", "da": "Side", "en": "Page"}
# Cover-page labels per language: publisher, place, year.
COVER_LABELS = {
    "fi": ("Julkaisija", "Paikka", "Vuosi"),
    "sv": ("Utgivare", "Ort", "År"),
    "nb": ("Utgiver", "Sted", "År"),
    "da": ("Udgiver", "Sted", "År"),
    "en": ("Publisher", "Place", "Year"),
}

# Hyphenation points for long Finnish compounds ("-" marks a break point). In the PDF the
# points become soft hyphens, so reportlab may break the word across a line with a hyphen.
FI_HYPHENATION = [
    "joukko-liikenne-järjestelmää",
    "joukko-liikenne-järjestelmän",
    "joukko-liikenteen",
    "täydennys-rakentamis-alueille",
    "täydennys-rakentamisen",
    "täydennys-rakentamista",
    "kasvihuone-kaasu-päästöt",
    "liikenne-järjestelmä-suunnitelmaan",
    "yhdyskunta-rakenteeseen",
    "asemakaava-varantoa",
    "asemakaava-varannon",
    "asunto-poliittisen",
    "asunto-poliittinen",
    "asunto-tuotannon",
    "asunto-tuotantoa",
    "asunto-tuotanto",
    "henkilöauto-liikenteen",
    "henkilöauto-riippuvuutta",
    "kaupunki-seudun",
    "kaupunki-seudulla",
    "kaupunki-seutu-sopimuksia",
    "kunnallis-tekniikka",
    "raitiotie-käytävälle",
    "lähijuna-liikenteen",
    "liikenne-investointeja",
    "liikenne-investointien",
    "pyörä-liikenteen",
    "ennakointi-ryhmä",
    "maan-käytön",
    "seuranta-raportti",
    "seutu-suunnittelijan",
    "aie-sopimus",
    "aseman-seudulle",
    "nolla-kasvu-tavoitteeseen",
    "päästö-vähennyksiä",
    "kulku-tapa-valintoihin",
    "pysäköinti-politiikan",
    "perhe-asuntoja",
    "ympäristö-ministeriö",
    "valtiovarain-ministeriö",
]


# --------------------------------------------------------------------------- parsing


@dataclass
class Block:
    kind: str  # "h1" | "h2" | "h3" | "p" | "ul" | "table"
    text: str = ""
    items: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Source:
    name: str  # file stem, e.g. "da_skybrudsplan"
    meta: dict[str, str]
    blocks: list[Block]

    @property
    def fmt(self) -> str:
        return self.meta["format"]

    @property
    def lang(self) -> str:
        return self.meta["language"]

    @property
    def output_name(self) -> str:
        return f"{self.name}.{self.fmt}"


def _clean_inline(text: str) -> str:
    """Drop the few inline Markdown markers used in the sources (*em*, **strong**)."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"(?<!\w)\*(.+?)\*(?!\w)", r"\1", text)
    return text.strip()


def parse_source(path: Path) -> Source:
    raw = path.read_text(encoding="utf-8")
    if not raw.startswith("---\n"):
        raise ValueError(f"{path}: missing front matter")
    head, body = raw[4:].split("\n---\n", 1)
    meta: dict[str, str] = {}
    for line in head.splitlines():
        if line.strip():
            key, _, value = line.partition(":")
            meta[key.strip()] = value.strip()
    for key in (*SIDECAR_KEYS, "format"):
        if key not in meta:
            raise ValueError(f"{path}: front matter lacks {key!r}")
    if meta["format"] not in ("pdf", "docx"):
        raise ValueError(f"{path}: format must be pdf or docx")

    blocks: list[Block] = []
    para: list[str] = []

    def flush_para() -> None:
        if para:
            blocks.append(Block("p", _clean_inline(" ".join(para))))
            para.clear()

    for line in body.splitlines():
        stripped = line.strip()
        if not stripped:
            flush_para()
            continue
        m = re.match(r"^(#{1,3})\s+(.*)$", stripped)
        if m:
            flush_para()
            blocks.append(Block(f"h{len(m.group(1))}", _clean_inline(m.group(2))))
        elif stripped.startswith("- "):
            flush_para()
            if not blocks or blocks[-1].kind != "ul":
                blocks.append(Block("ul"))
            blocks[-1].items.append(_clean_inline(stripped[2:]))
        elif stripped.startswith("|"):
            flush_para()
            cells = [_clean_inline(c) for c in stripped.strip("|").split("|")]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue  # separator row
            if not blocks or blocks[-1].kind != "table":
                blocks.append(Block("table"))
            blocks[-1].rows.append(cells)
        else:
            para.append(stripped)
    flush_para()
    return Source(path.stem, meta, blocks)


def load_sources(src_dir: Path = SRC) -> list[Source]:
    return [parse_source(p) for p in sorted(src_dir.glob("*.md"))]


def sidecar(source: Source) -> dict[str, object]:
    data: dict[str, object] = {k: source.meta[k] for k in SIDECAR_KEYS}
    data["year"] = int(source.meta["year"])
    data["sample"] = True
    data["note"] = SAMPLE_NOTE
    data["generated_from"] = f"corpus/src/{source.name}.md"
    return data


# --------------------------------------------------------------------------- PDF


def _hyphenate_fi(text: str) -> str:
    for entry in FI_HYPHENATION:
        plain = entry.replace("-", "")
        soft = entry.replace("-", "\u00ad")
        for a, b in ((plain, soft), (plain[:1].upper() + plain[1:], soft[:1].upper() + soft[1:])):
            text = re.sub(rf"(?<![\w\u00ad]){re.escape(a)}", b, text)
    return text


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_pdf(source: Source, out: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        ListFlowable,
        ListItem,
        NextPageTemplate,
        PageBreak,
        PageTemplate,
        Paragraph,
        Spacer,
        Table,
        TableStyle,
    )

    two_col = source.meta.get("layout") == "two-column"  # cover page stays one column
    title = source.meta["title"]
    publisher = source.meta["publisher"]
    page_word = PAGE_WORD[source.lang]
    prep = _hyphenate_fi if source.lang == "fi" else (lambda s: s)

    base = dict(fontName="Helvetica", embeddedHyphenation=1, uriWasteReduce=0.3)
    body_size = 9.5 if two_col else 11
    st_body = ParagraphStyle(
        "body", fontSize=body_size, leading=body_size * 1.38, spaceAfter=6, alignment=TA_LEFT, **base
    )
    st_h1 = ParagraphStyle(
        "h1",
        fontName="Helvetica-Bold",
        fontSize=20,
        leading=25,
        spaceAfter=10,
        textColor=colors.HexColor("#12355b"),
    )
    st_lead = ParagraphStyle("lead", parent=st_body, fontName="Helvetica-Oblique", fontSize=body_size + 0.5)
    st_h2 = ParagraphStyle(
        "h2",
        fontName="Helvetica-Bold",
        fontSize=14 if not two_col else 12.5,
        leading=18 if not two_col else 16,
        spaceBefore=12,
        spaceAfter=5,
        textColor=colors.HexColor("#12355b"),
        keepWithNext=1,
    )
    st_h3 = ParagraphStyle(
        "h3",
        fontName="Helvetica-Bold",
        fontSize=body_size + 1.5,
        leading=(body_size + 1.5) * 1.3,
        spaceBefore=8,
        spaceAfter=3,
        keepWithNext=1,
    )
    cell_size = 7 if two_col else body_size - 2
    st_cell = ParagraphStyle("cell", fontName="Helvetica", fontSize=cell_size, leading=cell_size * 1.3)
    st_head_cell = ParagraphStyle("hcell", parent=st_cell, fontName="Helvetica-Bold")
    st_cell_cover = ParagraphStyle("ccell", fontName="Helvetica", fontSize=10, leading=13)
    st_head_cell_cover = ParagraphStyle("chcell", parent=st_cell_cover, fontName="Helvetica-Bold")

    page_w, page_h = A4
    margin_x, margin_top, margin_bottom = 2.3 * cm, 2.6 * cm, 2.4 * cm
    content_w = page_w - 2 * margin_x
    content_h = page_h - margin_top - margin_bottom
    gap = 0.8 * cm

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor("#8a9bb0"))
        canvas.setLineWidth(0.5)
        # running header: document title
        canvas.setFont("Helvetica", 8)
        head = title
        while stringWidth(head, "Helvetica", 8) > content_w:
            head = head[:-2].rstrip() + "…"
        canvas.drawString(margin_x, page_h - 1.5 * cm, head)
        canvas.line(margin_x, page_h - 1.65 * cm, page_w - margin_x, page_h - 1.65 * cm)
        # footer: publisher and page number
        canvas.line(margin_x, 1.65 * cm, page_w - margin_x, 1.65 * cm)
        canvas.drawString(margin_x, 1.2 * cm, publisher)
        canvas.drawRightString(page_w - margin_x, 1.2 * cm, f"{page_word} {doc.page}")
        canvas.restoreState()

    with_outline = source.meta.get("outline", "yes") != "no"

    class Doc(BaseDocTemplate):
        """Adds a PDF outline (bookmarks) entry for every heading, as report tools do."""

        def afterFlowable(self, flowable) -> None:  # noqa: N802 (reportlab hook name)
            level = getattr(flowable, "outline_level", None)
            if level is None or not with_outline:
                return
            key = f"h{len(self._outline_keys)}"
            self._outline_keys.append(key)
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.outline_text, key, level=level, closed=False)

    def heading(text: str, style, level: int):
        para = Paragraph(_xml(prep(text)), style)
        para.outline_level = level
        para.outline_text = text
        return para

    doc = Doc(
        str(out),
        pagesize=A4,
        leftMargin=margin_x,
        rightMargin=margin_x,
        topMargin=margin_top,
        bottomMargin=margin_bottom,
        title=title,
        author=publisher,
        subject=f"{source.meta['city']} ({source.meta['country']}), {source.meta['year']}. {SAMPLE_NOTE}",
        creator="nordsearch corpus/build.py",
        keywords=f"language={source.lang}; sample document",
        lang=source.lang,
        invariant=1,
    )
    doc._outline_keys = []
    cover = [Frame(margin_x, margin_bottom, content_w, content_h, id="cover")]
    if two_col:
        col_w = (content_w - gap) / 2
        later = [
            Frame(margin_x, margin_bottom, col_w, content_h, id="left"),
            Frame(margin_x + col_w + gap, margin_bottom, col_w, content_h, id="right"),
        ]
        flow_w = col_w
    else:
        later = [Frame(margin_x, margin_bottom, content_w, content_h, id="main")]
        flow_w = content_w
    doc.addPageTemplates(
        [
            PageTemplate(id="cover", frames=cover, onPage=decorate),
            PageTemplate(id="later", frames=later, onPage=decorate),
        ]
    )

    story: list = [Spacer(1, 3 * cm)]
    blocks = list(source.blocks)
    if not blocks or blocks[0].kind != "h1":
        raise ValueError(f"{source.name}: the source must start with a '# ' title heading")
    story.append(heading(blocks.pop(0).text, st_h1, 0))
    if blocks and blocks[0].kind == "p":  # the lead paragraph goes on the cover
        story.append(Paragraph(_xml(prep(blocks.pop(0).text)), st_lead))
    labels = COVER_LABELS[source.lang]
    facts = [
        (labels[0], publisher),
        (labels[1], f"{source.meta['city']} ({source.meta['country']})"),
        (labels[2], source.meta["year"]),
    ]
    story.append(Spacer(1, 1.2 * cm))
    cover_table = Table(
        [[Paragraph(_xml(k), st_head_cell_cover), Paragraph(_xml(v), st_cell_cover)] for k, v in facts],
        colWidths=[4 * cm, content_w - 4 * cm],
        hAlign="LEFT",
    )
    cover_table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#8a9bb0"))]))
    story += [cover_table, NextPageTemplate("later"), PageBreak()]

    for block in blocks:
        if block.kind == "h1":
            raise ValueError(f"{source.name}: only one '# ' heading is allowed")
        if block.kind == "h2":
            story.append(heading(block.text, st_h2, 1))
        elif block.kind == "h3":
            story.append(heading(block.text, st_h3, 2))
        elif block.kind == "p":
            story.append(Paragraph(_xml(prep(block.text)), st_body))
        elif block.kind == "ul":
            items = [ListItem(Paragraph(_xml(prep(i)), st_body), leftIndent=14) for i in block.items]
            story.append(
                ListFlowable(
                    items,
                    bulletType="bullet",
                    start="–",
                    leftIndent=14,
                    bulletFontName="Helvetica",
                    bulletFontSize=body_size,
                )
            )
        elif block.kind == "table":
            widths = _column_widths(block.rows, flow_w, st_cell.fontName, st_cell.fontSize, stringWidth)
            data = [
                [Paragraph(_xml(prep(c)), st_head_cell if r == 0 else st_cell) for c in row]
                for r, row in enumerate(block.rows)
            ]
            table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#8a9bb0")),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("LEFTPADDING", (0, 0), (-1, -1), 3),
                        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                    ]
                )
            )
            story += [Spacer(1, 4), table, Spacer(1, 8)]
    doc.build(story)


def _column_widths(rows, total: float, font: str, size: float, string_width) -> list[float]:
    """Column widths: each column gets room for its longest word, the rest in proportion to its text."""
    ncols = len(rows[0])
    pad = 7.0
    min_w = [
        max(
            string_width(w, font + ("-Bold" if r == 0 else ""), size)
            for r, row in enumerate(rows)
            for w in row[c].split() or [""]
        )
        + pad
        for c in range(ncols)
    ]
    text_w = [sum(string_width(row[c], font, size) for row in rows) + 1 for c in range(ncols)]
    spare = total - sum(min_w)
    if spare <= 0:
        return [total * m / sum(min_w) for m in min_w]
    return [m + spare * t / sum(text_w) for m, t in zip(min_w, text_w, strict=True)]


# --------------------------------------------------------------------------- DOCX


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a ZIP with fixed entry timestamps and order, so equal content gives equal bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info.filename))
    return buf.getvalue()


def build_docx(source: Source, out: Path) -> None:
    from docx import Document
    from docx.shared import Pt

    document = Document()
    props = document.core_properties
    props.title = source.meta["title"]
    props.author = source.meta["publisher"]
    props.last_modified_by = "nordsearch corpus/build.py"
    props.subject = f"{source.meta['city']} ({source.meta['country']}), {source.meta['year']}"
    props.comments = SAMPLE_NOTE
    props.keywords = f"language={source.lang}; sample document"
    props.language = source.lang
    props.category = "sample document"
    props.created = FIXED_DATE
    props.modified = FIXED_DATE
    props.last_printed = FIXED_DATE
    props.revision = 1

    normal = document.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)

    for block in source.blocks:
        if block.kind == "h1":
            document.add_heading(block.text, level=0)  # "Title" style
        elif block.kind == "h2":
            document.add_heading(block.text, level=1)
        elif block.kind == "h3":
            document.add_heading(block.text, level=2)
        elif block.kind == "p":
            document.add_paragraph(block.text)
        elif block.kind == "ul":
            for item in block.items:
                document.add_paragraph(item, style="List Bullet")
        elif block.kind == "table":
            ncols = len(block.rows[0])
            table = document.add_table(rows=len(block.rows), cols=ncols)
            table.style = "Table Grid"
            for r, row in enumerate(block.rows):
                for c, value in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = value
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
            document.add_paragraph()

    buf = io.BytesIO()
    document.save(buf)
    out.write_bytes(_normalise_zip(buf.getvalue()))


# --------------------------------------------------------------------------- main


def build_all(out_dir: Path, src_dir: Path = SRC) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source in load_sources(src_dir):
        target = out_dir / source.output_name
        if source.fmt == "pdf":
            build_pdf(source, target)
        else:
            build_docx(source, target)
        meta_path = out_dir / f"{source.output_name}.json"
        meta_path.write_text(
            json.dumps(sidecar(source), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        written += [target, meta_path]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: corpus/)")
    parser.add_argument(
        "--check", action="store_true", help="rebuild into a temp dir and compare with corpus/"
    )
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            written = build_all(Path(tmp))
            stale = [
                p.name
                for p in written
                if not (HERE / p.name).exists() or not filecmp.cmp(p, HERE / p.name, shallow=False)
            ]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        print(f"{len(written)} generated files are up to date")
        return 0
    for path in build_all(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

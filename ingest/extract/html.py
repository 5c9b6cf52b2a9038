"""HTML extractor (BeautifulSoup + lxml): main content only, headings with offsets.

Boilerplate (navigation, header, footer, cookie banners, forms, scripts) is removed first;
the remaining tree is walked once, turning block elements into builder blocks: headings,
paragraphs, lists (one item per line) and tables (one row per line, cells " | "-joined).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nordsearch.ingest.extract.builder import TextBuilder
from nordsearch.ingest.extract.normalize import normalize_line
from nordsearch.ingest.records import ExtractedDocument, IngestError

_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "button",
    "input",
    "select",
    "textarea",
    "label",
    "iframe",
    "svg",
    "canvas",
    "object",
    "embed",
    "dialog",
    "menu",
    "head",
)
# Class/id tokens of boilerplate: "cookie-banner", "navbar", "main-nav", "dropdown-menu",
# "site-footer", "modal-dialog"... The token must start at a word boundary and "nav"/"menu"
# must end there too (so Norwegian "navn" or "menuetto" are not boilerplate).
_BOILERPLATE_RE = re.compile(
    r"(?:^|[\s_-])(?:cookie|consent|gdpr|banner|breadcrumb|footer|skip-?link|sidebar|modal"
    r"|nav(?:bar|igation)?|menu(?:bar|s)?|share|social)(?=$|[\s_-])",
    re.IGNORECASE,
)
_BOILERPLATE_ROLES = {
    "navigation",
    "banner",
    "contentinfo",
    "search",
    "dialog",
    "alertdialog",
    "menu",
    "menubar",
}
_WS_RE = re.compile(r"\s+")
# Elements nested deeper than this are read as plain text. Real pages stay far below it (the shared
# corpus's deepest is ~30); without a bound a hostile page of 100k nested tags makes the walk
# recurse past Python's limit and the block checks quadratic.
MAX_DEPTH = 100
_HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_PARAGRAPH_TAGS = {
    "p",
    "blockquote",
    "pre",
    "dd",
    "dt",
    "figcaption",
    "caption",
    "address",
    "summary",
    "legend",
}
_BLOCK_TAGS = {
    *_HEADING_TAGS,
    *_PARAGRAPH_TAGS,
    "div",
    "section",
    "article",
    "main",
    "ul",
    "ol",
    "dl",
    "li",
    "table",
    "tr",
    "td",
    "th",
    "thead",
    "tbody",
    "tfoot",
    "figure",
    "hr",
    "body",
    "html",
    "details",
    "fieldset",
    "center",
    "hgroup",
}


def _is_boilerplate(tag: Any) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    if tag.name == "header" and tag.find(["h1"]) is not None and tag.find_parent(["article", "main"]):
        return False  # an article's own header holds its title
    classes = attrs.get("class") or []
    tokens = " ".join([*(classes if isinstance(classes, list) else [classes]), str(attrs.get("id") or "")])
    if tokens.strip() and _BOILERPLATE_RE.search(tokens):
        return True
    return str(attrs.get("role") or "").lower() in _BOILERPLATE_ROLES


def _title(soup: Any) -> str | None:
    og = soup.find("meta", attrs={"property": "og:title"})
    candidates = [
        og.get("content") if og else None,
        soup.title.get_text(" ") if soup.title else None,
    ]
    h1 = soup.find("h1")
    if h1:
        candidates.append(h1.get_text(" "))
    for c in candidates:
        if c and (t := normalize_line(str(c))):
            return t[:300]
    return None


def _meta(soup: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    html = soup.find("html")
    if html is not None and html.get("lang"):
        out["html_lang"] = str(html.get("lang"))
    for name in ("description", "author", "keywords"):
        tag = soup.find("meta", attrs={"name": name})
        if tag and tag.get("content"):
            out[name] = normalize_line(str(tag["content"]))[:500]
    return out


class _Walker:
    """Walks the content tree once, emitting builder blocks in document order."""

    def __init__(self, builder: TextBuilder) -> None:
        self.builder = builder
        self.inline: list[str] = []

    def flush(self) -> None:
        if self.inline:
            text = "".join(self.inline)
            self.inline = []
            lines = [normalize_line(x) for x in text.split("\n")]
            lines = [x for x in lines if x]
            if len(lines) > 1 and all(len(x) < 60 for x in lines):
                self.builder.add_lines(lines)  # <br>-separated short lines (addresses, lists)
            elif lines:
                self.builder.add_paragraph(" ".join(lines))

    def inline_text(self, node: Any) -> str:
        """Text of an inline subtree; <br> becomes a newline."""
        from bs4 import NavigableString, Tag

        if isinstance(node, NavigableString):
            # Source line breaks are just whitespace in HTML; only <br> breaks a line.
            return "" if _is_comment(node) else _WS_RE.sub(" ", str(node))
        if not isinstance(node, Tag):
            return ""
        if node.name == "br":
            return "\n"
        if node.name == "img":
            return ""
        return "".join(self.inline_text(c) for c in node.children)

    def walk(self, node: Any) -> None:
        from bs4 import NavigableString, Tag

        for child in list(node.children):
            if isinstance(child, NavigableString):
                if not _is_comment(child):
                    self.inline.append(_WS_RE.sub(" ", str(child)))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in _HEADING_TAGS:
                self.flush()
                self.builder.add_heading(self.inline_text(child).replace("\n", " "), _HEADING_TAGS[name])
            elif name in ("ul", "ol"):
                self.flush()
                self.builder.add_lines(self.list_items(child))
            elif name == "table":
                self.flush()
                self.table(child)
            elif name in _PARAGRAPH_TAGS:
                self.flush()
                if _has_block_child(child):
                    self.walk(child)
                    self.flush()
                else:
                    self.inline.append(self.inline_text(child))
                    self.flush()
            elif name in _BLOCK_TAGS or _has_block_child(child):
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.inline.append(self.inline_text(child))

    def list_items(self, lst: Any) -> list[str]:
        """One line per item; nested lists follow their parent item as further lines."""
        lines: list[str] = []
        for li in lst.find_all("li", recursive=False):
            own: list[str] = []
            nested: list[str] = []
            for c in li.children:
                if getattr(c, "name", None) in ("ul", "ol"):
                    nested.extend(self.list_items(c))
                elif getattr(c, "name", None) == "table":
                    nested.extend(self.table_rows(c))
                else:
                    own.append(self.inline_text(c))
            text = normalize_line(" ".join("".join(own).split("\n")))
            if text:
                lines.append(text)
            lines.extend(nested)
        return lines

    def table_rows(self, table: Any) -> list[str]:
        rows: list[str] = []
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue  # rows of nested tables are handled with their own table
            cells = [
                normalize_line(" ".join(self.inline_text(td).split("\n")))
                for td in tr.find_all(["td", "th"], recursive=False)
            ]
            cells = [c for c in cells if c]
            if cells:
                rows.append(" | ".join(cells))
        return rows

    def table(self, table: Any) -> None:
        caption = table.find("caption")
        if caption is not None:
            self.builder.add_paragraph(self.inline_text(caption))
        # Data rows stay one line each; a row whose cells hold whole documents (layout tables,
        # agenda items with headings and paragraphs) is read as blocks so its structure survives.
        pending: list[str] = []
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue
            cells = tr.find_all(["td", "th"], recursive=False)
            if any(_is_layout_cell(c) for c in cells):
                self.builder.add_lines(pending)
                pending = []
                for cell in cells:
                    self.walk(cell)
                    self.flush()
                continue
            texts = [normalize_line(" ".join(self.inline_text(c).split("\n"))) for c in cells]
            row = " | ".join(t for t in texts if t)
            if row:
                pending.append(row)
        self.builder.add_lines(pending)


def _is_layout_cell(cell: Any) -> bool:
    if cell.find(["h1", "h2", "h3", "h4", "h5", "h6", "table"]) is not None:
        return True
    return cell.find(["p", "div", "ul", "ol"]) is not None and len(cell.get_text(" ", strip=True)) > 500


def _is_comment(node: Any) -> bool:
    from bs4 import Comment, Declaration, Doctype, ProcessingInstruction

    return isinstance(node, Comment | Doctype | Declaration | ProcessingInstruction)


def _has_block_child(tag: Any) -> bool:
    return any(getattr(d, "name", None) in _BLOCK_TAGS for d in tag.descendants)


def _decode(data: bytes) -> str | bytes:
    # Let BeautifulSoup sniff <meta charset>; only help it when the bytes are plainly UTF-8.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data


def _flatten_deep(soup: Any, max_depth: int = MAX_DEPTH) -> None:
    """Replace each element at ``max_depth`` by its text, in one pass (O(n) in the tree's size)."""
    from bs4 import NavigableString, Tag

    depth: dict[int, int] = {id(soup): 0}
    too_deep: list[Any] = []
    for node in soup.descendants:
        if not isinstance(node, Tag):
            continue
        d = depth.get(id(node.parent), max_depth) + 1  # under a cut-off element: not recorded
        if d < max_depth:
            depth[id(node)] = d
        elif d == max_depth:
            too_deep.append(node)
    for tag in too_deep:
        tag.replace_with(NavigableString(" ".join(tag.stripped_strings)))


def extract_html(path: Path, data: bytes | None = None) -> ExtractedDocument:
    from bs4 import BeautifulSoup

    source = str(path)
    if data is None:
        data = path.read_bytes()
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(source, "corrupt_file", "binary data in an HTML file")
    try:
        soup = BeautifulSoup(_decode(data), "lxml")
    except Exception as exc:
        raise IngestError.unreadable(source, "HTML", exc) from exc
    _flatten_deep(soup)
    title = _title(soup)
    metadata = _meta(soup)
    for tag in soup.find_all(_DROP_TAGS):
        # An <article>'s own <header> holds its title and byline: keep it.
        if (
            tag.name == "header"
            and not _is_boilerplate(tag)
            and tag.find_parent(["article", "main"]) is not None
        ):
            continue
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        if tag.name not in ("html", "body", "main", "article") and _is_boilerplate(tag):
            tag.decompose()
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.find("article") or soup.body or soup
    builder = TextBuilder()
    walker = _Walker(builder)
    walker.walk(root)
    walker.flush()
    return builder.build(source, "html", title=title, metadata=metadata)

"""HTML extraction: boilerplate removal, title, headings with offsets, lists and tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordsearch.ingest.extract import extract

PAGE = """<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>Översiktsplan 2030 | Malmö stad</title>
<meta property="og:title" content="Översiktsplan 2030">
<style>body { color: red }</style><script>var tracking = 1;</script></head>
<body>
<header><a href="/">Malmö stad</a><ul><li>Start</li><li>Bo och bygga</li></ul></header>
<nav class="breadcrumb"><a href="/">Hem</a> &gt; <a href="/plan">Plan</a></nav>
<div id="cookie-consent">Vi använder kakor. <button>Godkänn</button></div>
<main>
  <h1>Översiktsplan 2030</h1>
  <p>Översiktsplanen visar hur
     staden ska växa. Den antogs av <strong>kommunfullmäktige</strong> 2022.</p>
  <h2>Bostäder</h2>
  <p>Staden planerar för 40&nbsp;000 nya bostäder.<br>Förtätning prioriteras.</p>
  <ul><li>Hyresrätter</li><li>Bostadsrätter<ul><li>Småhus</li></ul></li></ul>
  <table><tr><th>Område</th><th>Bostäder</th></tr><tr><td>Hyllie</td><td>9 000</td></tr></table>
  <aside class="related">Läs också om trafik</aside>
  <form><input name="q"><label>Sök</label></form>
  <h3>Tidplan</h3><div>Samråd hösten 2025, <em>utställning</em> 2026.</div>
</main>
<footer class="site-footer">Kontakt: malmo.se</footer>
</body></html>"""


@pytest.fixture
def html_doc(tmp_path: Path):
    path = tmp_path / "plan.html"
    path.write_text(PAGE, encoding="utf-8")
    return extract(path)


def test_boilerplate_removed(html_doc) -> None:
    for noise in (
        "Hem",
        "kakor",
        "Godkänn",
        "Kontakt",
        "Läs också",
        "Sök",
        "tracking",
        "color: red",
        "Bo och bygga",
    ):
        assert noise not in html_doc.text


def test_title_and_headings(html_doc) -> None:
    assert html_doc.title == "Översiktsplan 2030"
    assert [(h.level, h.text) for h in html_doc.headings] == [
        (1, "Översiktsplan 2030"),
        (2, "Bostäder"),
        (3, "Tidplan"),
    ]
    for h in html_doc.headings:
        assert html_doc.text[h.start : h.start + len(h.text)] == h.text


def test_paragraphs_lists_tables(html_doc) -> None:
    text = html_doc.text
    assert "Översiktsplanen visar hur staden ska växa. Den antogs av kommunfullmäktige 2022." in text
    assert "Hyresrätter\nBostadsrätter\nSmåhus" in text
    assert "Område | Bostäder\nHyllie | 9 000" in text
    assert "Samråd hösten 2025, utställning 2026." in text
    assert "40 000" in text  # NBSP normalised
    assert "\n\n\n" not in text


def test_real_helsinki_hearing(shared_corpus: Path) -> None:
    doc = extract(shared_corpus / "fi_helsinki_kuulemma_meri-rastilan_kaupunkiuudistus.html")
    assert doc.title == "Meri-Rastilan kaupunkiuudistus"
    assert doc.headings[0].text == "Meri-Rastilan kaupunkiuudistus" and doc.headings[0].start == 0
    assert "Virkistysalue- ja puistosuunnitelmat" in [h.text for h in doc.headings]
    for h in doc.headings:
        assert doc.text[h.start : h.start + len(h.text)] == h.text


def test_real_asker_table_rows(shared_corpus: Path) -> None:
    doc = extract(shared_corpus / "no_asker_kommuneplan_parkeringsnorm.html")
    assert "1-2-roms leilighet | 1,2 (hvorav 0,2 gjesteplass) | 1,5 (hvorav 0,2 gjesteplass)" in doc.text


def test_real_aarhus_minutes_nav_removed(shared_corpus: Path) -> None:
    doc = extract(shared_corpus / "da_aarhus_teknisk_udvalg_referat_2025-10-01.html")
    assert "Udviklingsplan for Pier 3" in doc.text
    assert "Kopier link" not in doc.text  # modal dialog boilerplate
    assert "Beslutninger" in [h.text for h in doc.headings]


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_page_is_read_as_text(tmp_path: Path, depth: int) -> None:
    # a hostile page: recursion past Python's limit (1k) and quadratic block checks (100k) before
    path = tmp_path / "deep.html"
    inner = "<div>" * depth + "Sisällä syvällä on tekstiä." + "</div>" * depth
    path.write_text(f"<html><body><h1>Syvä</h1><p>Alku tässä.</p>{inner}<p>Loppu.</p></body></html>")
    doc = extract(path)
    assert doc.text.split("\n\n") == ["Syvä", "Alku tässä.", "Sisällä syvällä on tekstiä.", "Loppu."]
    assert [h.text for h in doc.headings] == ["Syvä"]

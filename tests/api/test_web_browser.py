"""The web page in a real headless Chromium (Debian's, driven by Playwright): search, grouped
results with language and page, "similar cases", a document view, the UI language, a screenshot."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (Debian package `chromium`)")
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="Python package `playwright` is not installed"
    )
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context(locale="sv-SE", base_url=server, viewport={"width": 1200, "height": 1400})
    p = context.new_page()
    p.set_default_timeout(120_000)  # the first search loads the model in the server
    yield p
    context.close()


def not_blank(png: bytes) -> tuple[int, float]:
    """(distinct colours, grey-level standard deviation) of a screenshot."""
    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png)).convert("RGB")
    colours = len(img.getcolors(maxcolors=1 << 20) or [])
    return colours, ImageStat.Stat(img.convert("L")).stddev[0]


def test_search_results_similar_cases_document_and_ui_language(page, tmp_path: Path):
    page.goto("/")
    assert page.get_attribute("html", "lang") == "sv"  # from the browser's language
    assert page.text_content("form.search button").strip() == "Sök"

    page.fill("input[name=q]", "hur hanterar städer skyfall och dagvatten?")  # PDFs (pages) in sv, da
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("ol.results li.doc")
    docs = page.locator("ol.results li.doc")
    assert docs.count() >= 2
    ids = [docs.nth(i).get_attribute("data-document-id") for i in range(docs.count())]
    assert len(ids) == len(set(ids))  # grouped: one entry per document
    langs = [t.strip() for t in page.locator("li.doc .meta .lang").all_text_contents()]  # CSS may upper-case
    assert langs and all(langs)
    assert {"svenska", "finska", "norska", "danska", "engelska"} & set(langs)
    where = " ".join(page.locator("li.doc .hit .where").all_text_contents())
    assert "s. " in where  # page numbers of PDF hits
    assert page.locator("li.doc .snippet mark").count() >= 1  # highlighted terms

    shot = page.screenshot(full_page=False)
    (tmp_path / "results.png").write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    colours, spread = not_blank(shot)
    assert colours > 50 and spread > 10, (colours, spread)

    first = docs.first
    title = first.locator("h2 a").text_content().strip()
    first.locator("a.similar").click()
    page.wait_for_url("**/similar/**")
    assert title in page.text_content("h1")
    assert page.locator("ol.results li.doc").count() >= 1

    page.go_back()
    page.wait_for_selector("ol.results li.doc")
    page.locator("ol.results li.doc h2 a").first.click()
    page.wait_for_url("**/view/**")
    page.wait_for_selector("article.document section.passage")
    assert page.text_content("article.document h1").strip() == title
    assert page.locator("section.passage").count() >= 1

    page.click(".ui-lang a[data-ui=fi]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "fi"
    page.goto("/")  # the choice sticks (cookie) over the browser's Swedish
    assert page.get_attribute("html", "lang") == "fi"
    assert page.text_content("form.search button").strip() == "Hae"
    page.click(".ui-lang a[data-ui=en]")
    page.wait_for_load_state()
    assert page.text_content("form.search button").strip() == "Search"


def test_language_filters_tick_several_and_apply_at_once(page):
    """Issue 12, point 4: several languages (and themes) can be chosen; each tick searches again."""
    page.goto("/?q=stormwater+and+cloudbursts")
    page.wait_for_selector("ol.results li.doc")
    page.click("#lang-filter summary")
    with page.expect_navigation():
        page.check("#lang-filter input[value=da]")
    page.wait_for_selector("ol.results li.doc")
    langs = {t.strip() for t in page.locator("li.doc .meta .lang").all_text_contents()}
    assert langs == {"danska"}
    page.click("#lang-filter summary")
    with page.expect_navigation():
        page.check("#lang-filter input[value=sv]")
    page.wait_for_selector("ol.results li.doc")
    assert "lang=da" in page.url and "lang=sv" in page.url
    langs = {t.strip() for t in page.locator("li.doc .meta .lang").all_text_contents()}
    assert langs == {"danska", "svenska"}
    assert (
        page.text_content("#lang-filter summary").strip() == "Språk: svenska, danska"
    )  # in the list's order
    page.click("#theme-filter summary")
    with page.expect_navigation():
        page.check("#theme-filter input[value=climate-adaptation]")
    page.wait_for_selector("ol.results li.doc")
    assert page.is_checked("#lang-filter input[value=da]") and page.is_checked(
        "#theme-filter input[value=climate-adaptation]"
    )


def test_compare_by_country_side_by_side_on_a_desktop_stacked_on_a_phone(
    browser, server: str, tmp_path: Path
):
    """Issue 12, points 4 and 5: the comparison layout, at desktop and phone width, no console errors."""
    errors: list[str] = []
    for width, side_by_side in ((1200, True), (390, False)):
        context = browser.new_context(
            locale="fi-FI", base_url=server, viewport={"width": width, "height": 1600}
        )
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/?q=miten+kaupungit+ovat+lis%C3%A4nneet+py%C3%B6r%C3%A4ily%C3%A4+talvella%3F")
        page.wait_for_selector("ol.results li.doc")
        with page.expect_navigation():
            page.select_option("select#group", "country")
        page.wait_for_selector(".compare .place")
        names = [t.strip() for t in page.locator(".compare .place > h2").all_text_contents()]
        assert {"FI", "SE", "NO", "DK"} <= set(names), names
        first, second = (page.locator(".compare .place").nth(i).bounding_box() for i in (0, 1))
        assert (abs(first["y"] - second["y"]) < 1) is side_by_side, (width, first, second)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        png = page.screenshot(full_page=True)
        (tmp_path / f"compare-{width}.png").write_bytes(png)
        colours, spread = not_blank(png)
        assert colours > 20 and spread > 5
        context.close()
    assert not errors, errors


def test_keyboard_only_search_to_a_document(page):
    """Issue 12, point 4: the question field has focus on arrival; Enter searches; Tab reaches the
    first result's link and Enter opens it."""
    page.goto("/")
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.type("skyfall och dagvatten")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("ol.results li.doc")
    title = page.locator("ol.results li.doc h2 a").first.text_content().strip()
    for _ in range(60):  # the form's fields, the export links, then the first result
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('li.doc h2') !== null"):
            break
    else:
        pytest.fail("Tab never reached a result")
    assert page.evaluate("document.activeElement.textContent.trim()") == title
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").first.text_content().strip() == title


def test_keyed_server_asks_for_the_key_once(browser, write_server):
    context = browser.new_context(locale="fi-FI", base_url=write_server.url)
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        response = page.goto("/?q=py%C3%B6r%C3%A4ily+talvella")
        assert response.status == 401 and page.get_attribute("html", "lang") == "fi"
        page.fill("input[name=key]", write_server.read_key)
        with page.expect_navigation():
            page.click("form.key button")
        page.wait_for_selector("ol.results li.doc")  # back on the search it asked for, with results
        assert page.locator("li.doc").count() >= 1
        assert (
            page.goto("/view/" + page.locator("li.doc").first.get_attribute("data-document-id")).status == 200
        )
    finally:
        context.close()


def test_upload_page_follows_the_job_and_names_the_file_that_failed(
    browser, tmp_path: Path, server_factory, corpus_index
):
    """Issue 12, point 4: the upload form (on a server with a write key) sends the files as a job,
    shows its progress to the end and every failed file with its reason, in the page's language;
    a wrong key is a message on the page, never raw JSON."""
    from tests.conftest import copy_index

    index = tmp_path / "index"
    copy_index(corpus_index, index)
    start, stop = server_factory
    proc, base = start(index, {"NORDSEARCH_API_KEYS": "upload-key", "NORDSEARCH_OPEN_READS": "true"})
    good = tmp_path / "kiruna_vinter.md"
    good.write_text(
        "# Vinterväghållning i Kiruna\n\nKommunen plogar cykelbanorna före bilvägarna, och huvudstråken "
        "sandas före klockan sju på morgonen så att fler kan cykla till jobbet året runt.\n",
        encoding="utf-8",
    )
    broken = tmp_path / "trasig.pdf"
    broken.write_bytes(b"%PDF-1.7 this is not a PDF at all")
    context = browser.new_context(locale="sv-SE", base_url=base)
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto("/")
        with page.expect_navigation():
            page.click("a.add-documents")
        assert page.text_content("h1").strip() == "Lägg till dokument"
        page.set_input_files("form.upload input[name=files]", [str(good), str(broken)])
        page.fill("form.upload input[name=city]", "Kiruna")
        page.fill("form.upload input[name=key]", "wrong-key")
        page.click("form.upload button")
        page.wait_for_selector("#job .error:not([hidden])")
        assert "key" in page.text_content("#job .error").lower()  # the 403's reason, as text
        page.fill("form.upload input[name=key]", "upload-key")
        page.click("form.upload button")
        page.wait_for_function("document.querySelector('#job .status').textContent.startsWith('Klart')")
        counts = page.text_content("#job .counts")
        assert "2 / 2 filer klara" in counts and "1 indexerade" in counts and "1 misslyckades" in counts
        failed = page.locator("#job .file-errors li").all_text_contents()
        assert len(failed) == 1 and failed[0].startswith("trasig.pdf: "), failed
        with page.expect_navigation():
            page.click("#job .status a")  # to the search
        page.goto("/?q=plogar+cykelbanorna+Kiruna")
        page.wait_for_selector("ol.results li.doc")
        assert "Kiruna" in page.locator("ol.results li.doc").first.text_content()
        assert not errors, errors
    finally:
        context.close()
        stop(proc)


HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def test_hostile_document_text_is_shown_as_text_never_run(
    browser, tmp_path: Path, server_factory, e5_model_dir
):
    """A document whose title and url (sidecar), metadata and passages carry markup: every page
    shows it as literal text and runs none of it."""
    import json
    import subprocess

    from tests.conftest import nordsearch_cli

    folder = tmp_path / "docs"
    folder.mkdir()
    body = (
        "Kommunen planerar nya cykelbanor längs Zyxelån och förtätar kring stationen, så att fler kan gå, "
        "cykla och åka kollektivt i vardagen. "
    ) * 6
    # plain text: its markup is text (a Markdown or HTML extractor would drop the tags as markup)
    (folder / "plan.txt").write_text(
        f"Cykelplan {HOSTILE}\n\nÅtgärder {HOSTILE}\n\n{body} I Qwertyby {HOSTILE} byggs en ny cykelbro "
        f"över Zyxelån {HOSTILE} till stationen.\n\n{body}\n",
        encoding="utf-8",
    )
    (folder / "plan.txt.json").write_text(
        json.dumps(
            {"title": f"Cykelplan Zyxelån {HOSTILE}", "city": HOSTILE, "publisher": HOSTILE, "url": HOSTILE}
        ),
        encoding="utf-8",
    )
    index = tmp_path / "index"
    subprocess.run([*nordsearch_cli(), "index", str(folder), "--index", str(index), "--quiet"], check=True)
    start, stop = server_factory
    proc, base = start(index)
    context = browser.new_context(locale="sv-SE", base_url=base)
    try:
        p = context.new_page()
        p.set_default_timeout(120_000)
        dialogs: list[str] = []
        p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        def nothing_ran(where: str) -> None:
            assert p.evaluate("window.__pwned") is None, where
            assert p.locator("main script, main img").count() == 0, where

        p.goto("/?q=Qwertyby cykelbro")
        p.wait_for_selector("ol.results li.doc")
        assert HOSTILE in p.text_content("ol.results li.doc h2 a")
        assert "<script>" in " ".join(p.locator("ol.results .snippet").all_text_contents())
        nothing_ran("results")
        doc_id = p.get_attribute("ol.results li.doc", "data-document-id")
        p.goto(f"/view/{doc_id}")
        p.wait_for_selector("article.document section.passage")
        assert HOSTILE in p.text_content("article.document h1")
        assert HOSTILE in p.text_content("p.source")  # the sidecar's url, as text
        assert HOSTILE in " ".join(p.locator("section.passage").all_text_contents())
        nothing_ran("document view")
        p.goto(f"/similar/{doc_id}")
        p.wait_for_selector("h1")
        assert HOSTILE in p.text_content("h1")
        nothing_ran("similar cases")
        assert dialogs == []
    finally:
        context.close()
        stop(proc)


@pytest.mark.parametrize(
    ("path", "operation"),
    [("/docs", ".opblock-summary-path[data-path='/search']"), ("/redoc", "[data-section-id*='search']")],
)
def test_api_documentation_renders_offline(browser, server: str, path: str, operation: str):
    """Swagger UI and ReDoc come from the server itself: with every request off loopback refused
    (a user's offline server), both pages still render the operations, without console errors."""
    context = browser.new_context(base_url=server)
    outside: list[str] = []

    def only_loopback(route) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    p = context.new_page()
    errors: list[str] = []
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    try:
        p.goto(path)
        p.wait_for_selector(operation, timeout=60_000)
        assert p.locator(operation).count() >= 1
        assert outside == [] and errors == [], (outside, errors)
    finally:
        context.close()

"""api.web_upload: the upload page's labels exist in every UI language (the page and its script
read them by name; the browser test in test_web_browser.py runs the page itself)."""

from __future__ import annotations

import re
from pathlib import Path

from nordsearch.api.i18n import UI_LANGUAGES
from nordsearch.api.web_upload import upload_labels

API = Path(__file__).resolve().parents[2] / "api"


def test_every_ui_language_has_every_label_the_page_and_its_script_use():
    labels = upload_labels()
    assert set(labels) == set(UI_LANGUAGES)
    template = (API / "templates" / "upload.html").read_text(encoding="utf-8")
    script = (API / "static" / "upload.js").read_text(encoding="utf-8")
    data_keys = re.search(r"for key in \(([^)]*)\)", template).group(1)
    used = set(re.findall(r"\bu\.(\w+)", template)) | set(re.findall(r'"(\w+)"', data_keys))
    # the script reads L.camelCase from the form's data-kebab-case attributes
    used |= {
        re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), k) for k in re.findall(r"\bL\.(\w+)", script)
    } - {"ui"}
    for ui, texts in labels.items():
        assert used <= set(texts), (ui, used - set(texts))
        assert all(isinstance(v, str) and v.strip() for v in texts.values()), ui

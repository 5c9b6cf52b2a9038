"""The taxonomy file is complete in all five languages and loads into typed records."""

from __future__ import annotations

import pytest

from nordsearch.ingest.records import LANGUAGES
from nordsearch.ingest.taxonomy import TaxonomyError, load_taxonomy, parse_taxonomy

EXPECTED_IDS = [
    "low-carbon",
    "climate-adaptation",
    "smart-city",
    "healthy-city",
    "social-sustainability",
    "land-use",
    "housing",
    "transport",
    "green-infrastructure",
    "circular-economy",
    "governance",
    "business-innovation",
]


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


def test_ids_in_order(taxonomy):
    assert taxonomy.ids == EXPECTED_IDS


@pytest.mark.parametrize("theme_id", EXPECTED_IDS)
def test_every_theme_complete_in_every_language(taxonomy, theme_id):
    theme = taxonomy.get(theme_id)
    for lang in LANGUAGES:
        assert theme.labels[lang].strip(), (theme_id, lang)
        definition = theme.definitions[lang]
        # One sentence: ends with a full stop and has no other sentence break.
        assert definition.endswith("."), (theme_id, lang)
        assert ". " not in definition.rstrip("."), (theme_id, lang)
        assert 15 <= len(theme.keywords[lang]) <= 40, (theme_id, lang, len(theme.keywords[lang]))
        assert all(k == k.lower() and k.strip() == k for k in theme.keywords[lang])


def test_label_falls_back_to_english(taxonomy):
    assert taxonomy.label("housing", "fi") == "Asuminen"
    assert taxonomy.label("housing", "no") == taxonomy.label("housing", "nb")  # alias
    assert taxonomy.label("housing", "de") == "Housing"
    assert taxonomy.label("housing", None) == "Housing"


def test_unknown_theme_raises(taxonomy):
    with pytest.raises(KeyError):
        taxonomy.get("no-such-theme")
    assert "housing" in taxonomy and "no-such-theme" not in taxonomy


def test_missing_language_is_rejected():
    theme = {
        "id": "x",
        "labels": {lang: "X" for lang in LANGUAGES},
        "definitions": {lang: "X." for lang in LANGUAGES},
        "keywords": {lang: ["x"] for lang in LANGUAGES if lang != "da"},
    }
    with pytest.raises(TaxonomyError, match="da"):
        parse_taxonomy({"themes": [theme]})


def test_duplicate_id_is_rejected():
    theme = {
        "id": "x",
        "labels": {lang: "X" for lang in LANGUAGES},
        "definitions": {lang: "X." for lang in LANGUAGES},
        "keywords": {lang: ["x"] for lang in LANGUAGES},
    }
    with pytest.raises(TaxonomyError, match="duplicate"):
        parse_taxonomy({"themes": [theme, theme]})

"""Language detection: fi/sv/nb/da/en, Scandinavian look-alikes, inheritance for short passages."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordsearch.ingest.extract import extract
from nordsearch.ingest.language import (
    detect_document_language,
    detect_language,
    detect_passage_language,
    query_language_scores,
)
from nordsearch.ingest.records import normalize_language
from tests.ingest.ingest_testutils import sidecar_language

SAMPLES = {
    "fi": "Kaupunkisuunnittelulautakunta hyväksyi asemakaavan muutoksen, jonka tavoitteena on lisätä "
    "asuntorakentamista raideliikenteen asemien läheisyydessä ja parantaa virkistysalueiden saavutettavuutta.",
    "sv": "Kommunen ska i översiktsplanen redovisa hur den avser att tillgodose behovet av bostäder och hur "
    "riksintressen och miljökvalitetsnormer ska tillgodoses i den fysiska planeringen.",
    "nb": "Kommunen skal i kommuneplanens arealdel vise hvordan behovet for boliger skal dekkes, og hvordan "
    "hensynet til friluftsliv, naturmangfold og trafikksikkerhet skal ivaretas i planleggingen.",
    "da": "Kommunen skal i kommuneplanen redegøre for, hvordan behovet for boliger dækkes, og hvordan "
    "hensynet til friluftsliv, naturbeskyttelse og trafiksikkerhed varetages i planlægningen.",
    "en": "The municipality shall show in its comprehensive plan how the need for housing is to be met and "
    "how outdoor recreation, biodiversity and traffic safety are taken into account in planning.",
}


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_detect_each_language(code: str) -> None:
    assert detect_language(SAMPLES[code])[0] == code
    assert detect_document_language(SAMPLES[code]) == code


QUERIES = {  # short questions, as planners type them
    "fi": "miten kaupungit ovat lisänneet pyöräilyä talvella?",
    "sv": "hur minskar städerna biltrafiken i centrum?",
    "nb": "hvordan kan kommunen bygge flere boliger nær kollektivtrafikken?",
    "da": "hvordan reducerer byerne biltrafikken i bymidten?",
    "en": "how do cities reduce car traffic downtown?",
}


@pytest.mark.parametrize("code", sorted(QUERIES))
def test_query_detector_puts_the_query_language_first(code: str) -> None:
    scores = query_language_scores(QUERIES[code])
    assert max(scores, key=scores.__getitem__) == code
    assert set(scores) <= {"fi", "sv", "nb", "da", "en"}  # German noise never reaches the weights


def test_nynorsk_maps_to_nb() -> None:
    text = (
        "Kommunen skal i planen syne korleis behovet for bustader skal dekkjast, og korleis omsynet til "
        "friluftsliv og trafikktryggleik skal takast vare på i planlegginga i heile kommunen."
    )
    assert detect_language(text)[0] == "nb"


def test_hint_breaks_ties_but_not_clear_evidence() -> None:
    assert detect_document_language(SAMPLES["sv"], hint="fi") == "sv"
    assert detect_document_language("", hint="no") == "nb"
    assert detect_document_language("   ", hint=None) is None


def test_short_passages_inherit_document_language() -> None:
    assert detect_passage_language("Hyllie 9 000 bostäder.", "fi") == "fi"
    assert detect_passage_language(SAMPLES["en"], "fi") == "en"
    # Unknown document language codes fall back to English rather than failing.
    assert detect_passage_language("ok", "xx") == "en"


def test_scandinavian_switch_needs_strong_evidence() -> None:
    # A Danish document's Danish passage stays Danish; a clear Swedish passage may switch.
    assert detect_passage_language(SAMPLES["da"], "da") == "da"
    assert detect_passage_language(SAMPLES["sv"] * 2, "da") == "sv"


def _small_documents(corpus: Path) -> list[Path]:
    return [
        p
        for p in sorted(corpus.iterdir())
        if p.suffix in (".md", ".html", ".txt") and p.stat().st_size < 120_000 and sidecar_language(p)
    ]


def test_document_language_accuracy_on_corpus(shared_corpus: Path) -> None:
    wrong = []
    docs = _small_documents(shared_corpus)
    assert len(docs) > 30
    for path in docs:
        gold = normalize_language(sidecar_language(path))
        text = extract(path).text
        got = detect_document_language(text)  # no hint: the text alone must tell
        if got != gold:
            wrong.append((path.name, gold, got))
    assert not wrong


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("no_asker_kommuneplan_bestemmelser_20_boligomrader_fortetting.html", "nb"),
        ("da_aarhus_teknisk_udvalg_referat_2025-10-01.html", "da"),
        ("sv_regeringen_rapport_2016_mer_flyg_och_bostader.md", "sv"),
    ],
)
def test_paragraph_level_scandinavian(shared_corpus: Path, name: str, code: str) -> None:
    """Norwegian vs Danish vs Swedish on individual paragraphs of >= 25 words."""
    text = extract(shared_corpus / name).text
    paragraphs = [p for p in text.split("\n\n") if len(p.split()) >= 25]
    assert len(paragraphs) >= 3
    hits = sum(detect_language(p)[0] == code for p in paragraphs)
    assert hits / len(paragraphs) >= 0.85, (hits, len(paragraphs))

"""Theme tagger: compound matching, false friends, neutral text, determinism, document aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from nordsearch.ingest.taxonomy import load_taxonomy
from nordsearch.ingest.themes import ThemeTagger, ThemeThresholds, load_thresholds, save_thresholds, tokenize

NEUTRAL = "The meeting started at nine and the minutes were approved."


@pytest.fixture(scope="module")
def tagger() -> ThemeTagger:
    # Lexical only: these tests pin the keyword logic; the semantic half is tested with a fake embedder.
    return ThemeTagger(load_taxonomy(), embed_definitions=None)


def top_theme(tagger: ThemeTagger, text: str, lang: str | None) -> str | None:
    tags = tagger.tag([text], [lang])[0]
    return tags[0][0] if tags else None


@pytest.mark.parametrize(
    ("word", "lang", "theme"),
    [
        ("joukkoliikenne", "fi", "transport"),
        ("joukkoliikenteen", "fi", "transport"),
        ("hiilineutraali", "fi", "low-carbon"),
        ("kasvihuonekaasupäästöt", "fi", "low-carbon"),
        ("kollektivtrafiken", "sv", "transport"),
        ("skybrud", "da", "climate-adaptation"),
        ("skybrudssikring", "da", "climate-adaptation"),
        ("overvannshåndtering", "nb", "climate-adaptation"),
        ("vuokra-asunto", "fi", "housing"),
        ("boligfortetting", "nb", "housing"),
        ("boligfortetting", "nb", "land-use"),
        ("affaldssortering", "da", "circular-economy"),
        ("stormwater", "en", "climate-adaptation"),
        ("ilmastostrategia", "fi", "low-carbon"),
        ("klimatstrategin", "sv", "low-carbon"),
        ("helleaallot", "fi", "climate-adaptation"),
        ("eliölajien", "fi", "green-infrastructure"),
        ("friska", "sv", "healthy-city"),
        ("försöken", "sv", "business-innovation"),
        ("transit", "en", "transport"),
    ],
)
def test_compounds_and_inflections_match(tagger, word, lang, theme):
    assert theme in [t for t, _ in tagger.tag([word], [lang])[0]]


def test_unknown_language_uses_every_list(tagger):
    assert top_theme(tagger, "joukkoliikenne", None) == "transport"
    assert top_theme(tagger, "skybrud", "xx") == "climate-adaptation"


@pytest.mark.parametrize(
    ("text", "lang", "theme"),
    [
        ("business", "en", "transport"),  # "=bus" is a whole word only
        ("roadmap", "en", "transport"),
        ("parkeringsplads", "da", "green-infrastructure"),  # park, but parking
        ("mulighed", "da", "social-sustainability"),  # contains "ulighed"
        ("klimatsmart", "sv", "smart-city"),  # "^smart" never inside a compound
        ("tiivistelmä", "fi", "land-use"),  # a summary, not densification
        ("hyvinvointialueen", "fi", "healthy-city"),  # the Finnish wellbeing services county
        ("transition", "en", "transport"),  # "transit" is a whole word only
        ("transportsektorn", "sv", "healthy-city"),  # English "sports" never matches inside a Nordic compound
        ("lähelle", "fi", "climate-adaptation"),  # "near" contains "helle" (heat)
        ("jätettiin", "fi", "circular-economy"),  # jättää: to leave, to submit
        ("oheismateriaali", "fi", "circular-economy"),  # meeting papers
        ("beskrivning", "sv", "circular-economy"),  # contains "rivning"
        ("markkinaoikeuteen", "fi", "business-innovation"),  # the Market Court
        ("arbetsmarknaden", "sv", "business-innovation"),  # the labour market
        ("näringsdepartementet", "sv", "business-innovation"),  # a ministry's name
        ("business-as-usual", "en", "business-innovation"),
        ("sähköisesti", "fi", "smart-city"),  # minutes signed electronically
        ("climate-smart", "en", "smart-city"),
        ("angelägenheter", "sv", "housing"),  # contains "lägenhet"
        ("in-house", "en", "housing"),
        ("boligvei", "nb", "housing"),  # a road class
        ("uhkaavat", "fi", "land-use"),  # "threatening" contains "kaava"
        ("maaseudulla", "fi", "governance"),  # the countryside, not a city region
        ("liikenneturvallisuus", "fi", "social-sustainability"),  # traffic safety
        ("tunga", "sv", "social-sustainability"),  # "heavy" contains "unga"
        ("videregående", "da", "transport"),  # upper secondary school
        ("business", "da", "transport"),  # "^bus"
        ("terveyskeskus", "fi", "healthy-city"),  # health-care services are social services
        ("friskolor", "sv", "healthy-city"),  # independent schools
        ("luonnonvarojen", "fi", "green-infrastructure"),  # natural resources: circular economy
        ("jätelajien", "fi", "green-infrastructure"),  # waste types, not species
        ("park-and-ride", "en", "green-infrastructure"),
    ],
)
def test_false_friends_do_not_match(tagger, text, lang, theme):
    assert theme not in [t for t, _ in tagger.tag([text], [lang])[0]]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        (NEUTRAL, "en"),
        ("Kokous alkoi kello yhdeksän ja pöytäkirja hyväksyttiin.", "fi"),
        ("Mötet började klockan nio och protokollet godkändes.", "sv"),
        ("Møtet startet klokken ni og protokollen ble godkjent.", "nb"),
        ("Mødet begyndte klokken ni, og referatet blev godkendt.", "da"),
        ("Mødet blev afsluttet kl. 17.00, og referatet blev godkendt.", "da"),
        ("Pöytäkirja allekirjoitetaan sähköisesti, ja asia jätettiin pöydälle.", "fi"),
    ],
)
def test_neutral_text_gets_no_theme(tagger, text, lang):
    assert tagger.tag([text], [lang]) == [[]]


def test_keyword_density_not_single_words_in_long_text(tagger):
    # One stray keyword in a long procedural passage must not tag it.
    text = (NEUTRAL + " ") * 10 + "A bus was mentioned."
    assert tagger.tag([text], ["en"]) == [[]]


def test_tokenize_keeps_hyphenated_compounds():
    assert tokenize("Vuokra-asunnot ja CO2-päästöt!") == ["vuokra-asunnot", "ja", "co2-päästöt"]


class FakeEmbedder:
    """Deterministic stand-in for e5: a bag of theme keywords projected on one axis per theme."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        rng = np.random.default_rng(0)
        base = rng.normal(size=(12, 32))
        out = []
        for text in texts:
            seed = sum(map(ord, text)) % 12
            v = base[seed] + 0.1 * rng.normal(size=32)
            out.append(v / np.linalg.norm(v))
        return np.array(out, dtype=np.float32)


def test_semantic_evidence_and_determinism():
    embed = FakeEmbedder()
    tagger = ThemeTagger(
        load_taxonomy(), embed_definitions=embed, thresholds=ThemeThresholds(lexical_weight=0.5)
    )
    texts = ["Joukkoliikenteen ja pyöräilyn edistäminen.", NEUTRAL, "Bostäder och hyresrätter."]
    langs = ["fi", "en", "sv"]
    vectors = embed(texts)
    first = tagger.scores(texts, langs, vectors)
    second = tagger.scores(texts, langs, vectors)
    assert first.shape == (3, 12)
    assert np.array_equal(first, second)
    assert ((first >= 0) & (first <= 1)).all()
    assert tagger.tag(texts, langs, vectors) == tagger.tag(texts, langs, vectors)
    # The definitions are embedded once, lazily, then reused.
    assert embed.calls == 2


def test_document_themes_aggregate_passages(tagger):
    texts = [
        "Joukkoliikenteen vuoroja lisätään ja raitiotie jatketaan. Pyöräteitä ja bussikaistoja rakennetaan.",
        "Kaupunkipyörät ja liityntäpysäköinti tukevat joukkoliikennettä ja kävelyä.",
        NEUTRAL,
        "Puisto kunnostetaan.",
    ]
    langs = ["fi", "fi", "en", "fi"]
    tags = tagger.tag(texts, langs)
    themes = tagger.document_themes(tags, [len(t) for t in texts])
    assert themes and themes[0][0] == "transport"
    assert all(a[1] >= b[1] for a, b in zip(themes, themes[1:], strict=False))
    # Only scores over the passage thresholds count, so the full matrix gives the same themes as tag().
    from_matrix = tagger.document_themes(tagger.scores(texts, langs), [len(t) for t in texts])
    assert [t for t, _ in from_matrix] == [t for t, _ in themes]
    assert tagger.document_themes([], []) == []


def test_thresholds_round_trip(tmp_path):
    th = ThemeThresholds(0.6, 0.45, 0.5, {"housing": 0.05}, {"governance": -0.05})
    path = save_thresholds(th, tmp_path / "t.yaml", comment="test")
    assert load_thresholds(path) == th
    assert load_thresholds(tmp_path / "missing.yaml") == ThemeThresholds()


def test_document_scores_weigh_the_best_passages_by_how_much_text_they_cover():
    """The best passages that together cover a fifth of the text count, each by its length: a document
    cut into many short sections is not judged on a fifth of its headings."""
    import numpy as np

    from nordsearch.ingest.themes import ThemeThresholds, document_scores

    thresholds = ThemeThresholds(passage_threshold=0.0, document_threshold=0.4)
    # theme 0: one 1000-word section; theme 1: four 100-word sections; 20 short sections of neither
    scores = np.zeros((25, 2))
    scores[0, 0] = 0.9
    scores[1:5, 1] = 0.9
    lengths = [1000] + [100] * 4 + [100] * 20
    whole = document_scores(scores, lengths, thresholds, ["a", "b"])
    assert whole[0] == pytest.approx(0.9)  # that passage alone covers the fifth (700 of 3500 words)
    # 400 words on the theme do not cover the fifth: the next best passage (the 1000 words, score 0) joins
    assert whole[1] == pytest.approx(0.9 * 400 / 1400)
    # the same text as one passage per section or merged into one: the same order of themes
    merged = document_scores(
        np.array([[0.9, 0.0], [0.0, 0.9], [0.0, 0.0]]), [1000, 400, 2000], thresholds, ["a", "b"]
    )
    assert (whole[0] > whole[1]) == (merged[0] > merged[1])
    assert document_scores(np.zeros((0, 2)), [], thresholds, ["a", "b"]).tolist() == [0.0, 0.0]

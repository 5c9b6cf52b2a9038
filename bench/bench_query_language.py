"""Which lingua detector a query's language should come from (issue 10 point 0, issue 11).

A query is centred by the mix of the languages' query offsets weighted by the detector's confidences
(search.centering.LanguageOffsets.center_query), so what matters is how far that mix lands from the
offset of the query's true language, not only the top-1 label. Measured on real short sentences, the
6,000 of ../shared/parallel/tatoeba (fi, sv, da, nb, nn scored as nb, and English), for both modes:

    build      time to build the detector in a fresh process (what a cold `nordsearch search` pays)
    top-1      share of sentences whose most confident product language is the right one
    mass       mean confidence given to the right language
    error      mean |offset(mix) - offset(true language)| with the product's own offsets; the
               baseline "none" (no detection: the uniform mix, i.e. the zero offset) beside them

    .venv/bin/python bench/bench_query_language.py [--json bench/results/query_language.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TATOEBA = REPO.parent / "shared" / "parallel" / "tatoeba"
SETS = {  # product language -> file of sentences
    "fi": "tatoeba.fin-eng.fin", "sv": "tatoeba.swe-eng.swe", "da": "tatoeba.dan-eng.dan",
    "nb": "tatoeba.nob-eng.nob", "nn": "tatoeba.nno-eng.nno", "en": "tatoeba.fin-eng.eng",
}  # fmt: skip
MODES = {  # label -> (ingest.language builder, its scores function)
    "full": ("get_detector", "language_scores"),
    "query": ("get_query_detector", "query_language_scores"),
}

BUILD = """
import time
from nordsearch.ingest import language
t = time.perf_counter()
language.{fn}()
print(time.perf_counter() - t)
"""


def build_seconds(fn: str, runs: int = 3) -> float:
    """Median build time in fresh processes (lingua caches models process-wide)."""
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", BUILD.format(fn=fn)], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip()))
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "query_language.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from nordsearch.ingest import language
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.centering import LanguageOffsets
    from nordsearch.search.embedder import get_embedder

    embedder = get_embedder(Settings())
    offsets = LanguageOffsets.compute(embedder.embed_passages, embedder.embed_queries)
    texts = {code: (TATOEBA / name).read_text(encoding="utf-8").splitlines() for code, name in SETS.items()}

    report: dict[str, dict] = {}
    for label, (build, score) in MODES.items():
        scores_of = getattr(language, score)
        rows: dict[str, dict[str, float]] = {}
        for code, sentences in texts.items():
            gold = "nb" if code == "nn" else code
            truth = offsets.query_offset({gold: 1.0})
            top = mass = err = 0.0
            for s in sentences:
                scores = scores_of(s)
                top += bool(scores) and max(scores, key=scores.__getitem__) == gold
                mass += scores.get(gold, 0.0)
                err += float(np.linalg.norm(offsets.query_offset(scores or None) - truth))
            n = len(sentences)
            rows[code] = {
                "top1": top / n, "mass": mass / n, "error": err / n, "error_none": float(np.linalg.norm(truth)),
            }  # fmt: skip
        mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
        report[label] = {"build_s": build_seconds(build), "languages": rows, "mean": mean}

    print(f"{'detector':9} {'lang':5} {'top-1':>6} {'mass':>6} {'error':>7} {'none':>7}")
    for label, rep in report.items():
        for code, r in [*rep["languages"].items(), ("mean", rep["mean"])]:
            print(
                f"{label:9} {code:5} {r['top1']:6.3f} {r['mass']:6.3f} {r['error']:7.4f} {r['error_none']:7.4f}"
            )
        print(f"{label:9} build {rep['build_s']:.3f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

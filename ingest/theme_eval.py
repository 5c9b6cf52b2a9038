"""Evaluate and calibrate the theme tagger the way Annif evaluates a subject indexer.

Gold files are JSON lines of two kinds:

* ``{"source": "file.pdf", "themes": [...]}``: document level; ``source`` is resolved against the gold
  file's folder, then against each extra root (e.g. ``../shared/corpus``);
* ``{"text": "...", "themes": [...], "lang": "fi"}``: passage level (``lang`` optional).

Metrics, per level: precision, recall and F1 micro-averaged (over all decisions), macro-averaged (over
themes occurring in gold or predictions, Annif's "subj avg") and per theme, on the thresholded themes;
F1@3 and NDCG@5 averaged over items, on the full ranking of themes by score, so they judge the ranking
independently of the thresholds.

Calibrating the thresholds on the same gold is ingest.theme_calibration.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nordsearch.ingest.records import IngestedFile
from nordsearch.ingest.themes import (
    EmbedFn,
    ThemeTagger,
    ThemeThresholds,
    combine,
    document_scores,
)

IngestFn = Callable[[Path], IngestedFile]

# Where a relative "source" may live besides the gold file's folder (repo-relative layout of the project).
# Where gold files' document names are looked up when the caller gives no roots (Settings.gold_roots
# is what the CLI passes): the shared corpus beside a checkout, as the tests and benches run it.
DEFAULT_ROOTS: tuple[Path, ...] = (Path("..") / "shared" / "corpus",)
# Long documents are tagged from an evenly spread sample of passages during evaluation: embedding every
# passage of a 400-page plan costs minutes, and its themes are stable over two dozen evenly spread passages.
DEFAULT_MAX_PASSAGES = 24

# ---- gold ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoldItem:
    """One gold line: a document (``source`` resolved to a path) or a passage (``text``)."""

    themes: tuple[str, ...]
    source: Path | None = None
    text: str | None = None
    language: str | None = None

    @property
    def key(self) -> str:
        return str(self.source) if self.source is not None else (self.text or "")[:60]


def _resolve(source: str, base: Path, roots: Sequence[Path]) -> Path:
    candidate = Path(source)
    if candidate.is_absolute():
        return candidate
    for root in (base, *roots):
        if (root / candidate).exists():
            return (root / candidate).resolve()
    raise FileNotFoundError(f"gold source {source!r} not found under {base} or {', '.join(map(str, roots))}")


def read_gold(
    path: str | Path, roots: Sequence[str | Path] = DEFAULT_ROOTS, known_themes: Iterable[str] | None = None
) -> list[GoldItem]:
    """Parse a gold JSONL file; unknown theme ids are an error (a typo would silently cost recall)."""
    gold_path = Path(path)
    known = set(known_themes) if known_themes is not None else None
    extra = [Path(r) for r in roots]
    items: list[GoldItem] = []
    for number, line in enumerate(gold_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        themes = tuple(dict.fromkeys(record.get("themes") or []))
        if known is not None and (unknown := [t for t in themes if t not in known]):
            raise ValueError(f"{gold_path}:{number}: unknown theme ids {unknown}")
        if "source" in record:
            items.append(GoldItem(themes, source=_resolve(record["source"], gold_path.parent, extra)))
        elif "text" in record:
            items.append(GoldItem(themes, text=record["text"], language=record.get("lang")))
        else:
            raise ValueError(f"{gold_path}:{number}: a gold line needs 'source' or 'text'")
    return items


# ---- metrics -------------------------------------------------------------------------------------


@dataclass(slots=True)
class ThemeMetrics:
    precision: float
    recall: float
    f1: float
    support: int  # gold occurrences


@dataclass(slots=True)
class LevelMetrics:
    """Metrics over the items of one level (documents or passages)."""

    items: int
    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    f1_at_3: float
    ndcg_at_5: float
    per_theme: dict[str, ThemeMetrics] = field(default_factory=dict)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def compute_metrics(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    ranked: Sequence[Sequence[str]] | None = None,
) -> LevelMetrics:
    """Annif-style metrics. ``predicted``: thresholded themes per item; ``ranked``: every theme by score
    (defaults to ``predicted``) for F1@3 and NDCG@5. Items with empty gold count for P/R/F1 (their false
    positives matter: "no theme rather than a wrong one") but not for the ranking metrics."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predictions differ in length")
    ranked = predicted if ranked is None else ranked
    themes = sorted({t for g in gold for t in g} | {t for p in predicted for t in p})
    counts = {t: [0, 0, 0] for t in themes}  # tp, fp, fn
    for g, p in zip(gold, predicted, strict=True):
        gs, ps = set(g), set(p)
        for t in gs & ps:
            counts[t][0] += 1
        for t in ps - gs:
            counts[t][1] += 1
        for t in gs - ps:
            counts[t][2] += 1
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    micro = _prf(tp, fp, fn)
    per_theme = {t: ThemeMetrics(*_prf(*c), support=c[0] + c[2]) for t, c in counts.items()}
    macro = tuple(
        float(np.mean([getattr(m, a) for m in per_theme.values()])) if per_theme else 0.0
        for a in ("precision", "recall", "f1")
    )
    f1s: list[float] = []
    ndcgs: list[float] = []
    for g, r in zip(gold, ranked, strict=True):
        gs = set(g)
        if not gs:
            continue
        f1s.append(_prf(*_confusion(gs, set(list(r)[:3])))[2])
        dcg = sum(1.0 / math.log2(i + 2) for i, t in enumerate(list(r)[:5]) if t in gs)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(5, len(gs))))
        ndcgs.append(dcg / ideal)
    return LevelMetrics(
        items=len(gold),
        micro_precision=micro[0],
        micro_recall=micro[1],
        micro_f1=micro[2],
        macro_precision=macro[0],
        macro_recall=macro[1],
        macro_f1=macro[2],
        f1_at_3=float(np.mean(f1s)) if f1s else 0.0,
        ndcg_at_5=float(np.mean(ndcgs)) if ndcgs else 0.0,
        per_theme=per_theme,
    )


def _confusion(gold: set[str], predicted: set[str]) -> tuple[int, int, int]:
    return len(gold & predicted), len(predicted - gold), len(gold - predicted)


# ---- evidence ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Evidence:
    """Per item, the threshold-free inputs of a decision, so a grid search never re-embeds anything."""

    item: GoldItem
    lexical: np.ndarray  # (passages, themes)
    semantic: np.ndarray | None
    lengths: np.ndarray  # passage lengths in characters


def _spread(n: int, limit: int | None) -> list[int]:
    if limit is None or n <= limit:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, limit)})


def collect_evidence(
    items: Sequence[GoldItem],
    tagger: ThemeTagger,
    ingest_fn: IngestFn | None,
    embed_fn: EmbedFn | None,
    max_passages: int | None = DEFAULT_MAX_PASSAGES,
) -> list[Evidence]:
    out: list[Evidence] = []
    for item in items:
        if item.text is not None:
            texts, langs = [item.text], [item.language]
        else:
            if ingest_fn is None or item.source is None:
                raise ValueError("document-level gold needs an ingest_fn")
            passages = ingest_fn(item.source).passages
            passages = [passages[i] for i in _spread(len(passages), max_passages)]
            texts, langs = [p.text for p in passages], [p.language for p in passages]
        vectors = np.asarray(embed_fn(texts)) if embed_fn is not None and texts else None
        out.append(
            Evidence(
                item=item,
                lexical=tagger.lexical_scores(texts, langs),
                semantic=tagger.semantic_scores(vectors) if vectors is not None else None,
                lengths=np.array([len(t) for t in texts], dtype=np.float64),
            )
        )
    return out


def decide(ev: Evidence, tagger: ThemeTagger, th: ThemeThresholds) -> tuple[list[str], list[str]]:
    """(thresholded themes, all themes ranked) for one item under thresholds ``th``."""
    ids = tagger.theme_ids
    scores = combine(ev.lexical, ev.semantic, th.lexical_weight)
    if ev.item.text is not None:
        row = scores[0]
        limits = np.array([th.passage(t) for t in ids])
    else:
        row = document_scores(scores, ev.lengths, th, ids)
        limits = np.array([th.document(t) for t in ids])
    order = sorted(range(len(ids)), key=lambda i: -row[i])  # stable: ties in taxonomy order
    return [ids[i] for i in order if row[i] >= limits[i]], [ids[i] for i in order]


def score_evidence(evidence: Sequence[Evidence], tagger: ThemeTagger, th: ThemeThresholds) -> LevelMetrics:
    decisions = [decide(ev, tagger, th) for ev in evidence]
    return compute_metrics(
        [ev.item.themes for ev in evidence], [d[0] for d in decisions], [d[1] for d in decisions]
    )


# ---- report --------------------------------------------------------------------------------------


@dataclass(slots=True)
class EvalReport:
    gold_path: str
    document: LevelMetrics | None
    passage: LevelMetrics | None
    thresholds: ThemeThresholds
    # Per item: gold and predicted themes, for reading the errors.
    predictions: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "gold": self.gold_path,
                "document": asdict(self.document) if self.document else None,
                "passage": asdict(self.passage) if self.passage else None,
                "thresholds": self.thresholds.to_dict(),
                "predictions": self.predictions,
            },
            ensure_ascii=False,
            indent=2,
        )

    def format_table(self) -> str:
        lines = [f"Theme evaluation on {self.gold_path}"]
        for name, m in (("documents", self.document), ("passages", self.passage)):
            if m is None:
                continue
            lines += [
                "",
                f"{name}: {m.items}",
                f"{'':24}{'P':>7}{'R':>7}{'F1':>7}",
                f"{'micro':24}{m.micro_precision:7.3f}{m.micro_recall:7.3f}{m.micro_f1:7.3f}",
                f"{'macro':24}{m.macro_precision:7.3f}{m.macro_recall:7.3f}{m.macro_f1:7.3f}",
                f"{'F1@3':24}{'':14}{m.f1_at_3:7.3f}",
                f"{'NDCG@5':24}{'':14}{m.ndcg_at_5:7.3f}",
                f"{'theme':24}{'P':>7}{'R':>7}{'F1':>7}{'n':>5}",
            ]
            lines += [
                f"{t:24}{tm.precision:7.3f}{tm.recall:7.3f}{tm.f1:7.3f}{tm.support:5d}"
                for t, tm in sorted(m.per_theme.items())
            ]
        return "\n".join(lines)


def evaluate(
    gold_path: str | Path,
    tagger: ThemeTagger,
    ingest_fn: IngestFn | None,
    embed_fn: EmbedFn | None,
    *,
    roots: Sequence[str | Path] = DEFAULT_ROOTS,
    max_passages: int | None = DEFAULT_MAX_PASSAGES,
) -> EvalReport:
    """Tag every gold item with ``tagger`` (its current thresholds) and compare with the gold themes."""
    items = read_gold(gold_path, roots, tagger.theme_ids)
    evidence = collect_evidence(items, tagger, ingest_fn, embed_fn, max_passages)
    return report_from_evidence(str(gold_path), evidence, tagger, tagger.thresholds)


def report_from_evidence(
    gold_label: str, evidence: Sequence[Evidence], tagger: ThemeTagger, th: ThemeThresholds
) -> EvalReport:
    docs = [ev for ev in evidence if ev.item.text is None]
    passages = [ev for ev in evidence if ev.item.text is not None]
    predictions = []
    for ev in evidence:
        chosen, _ = decide(ev, tagger, th)
        predictions.append({"item": ev.item.key, "gold": list(ev.item.themes), "predicted": chosen})
    return EvalReport(
        gold_path=gold_label,
        document=score_evidence(docs, tagger, th) if docs else None,
        passage=score_evidence(passages, tagger, th) if passages else None,
        thresholds=th,
        predictions=predictions,
    )

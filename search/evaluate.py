"""IR evaluation at document level: nDCG@10, Recall@10/@100, MRR@10, P@5 and cross-lingual Recall@10.

A document's rank is the rank of its best passage. Qrels are TREC lines `qid 0 docid grade` where docid
is the indexed source file's name; a PDF's `*_text_twin.md` counts as the PDF itself.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.index import SearchIndex

TWIN_SUFFIX = "_text_twin.md"
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "p@5")


@dataclass(frozen=True, slots=True)
class EvalQuery:
    qid: str
    text: str
    lang: str = ""
    cross_lingual: bool = False
    kind: str = ""


def load_queries(path: Path) -> list[EvalQuery]:
    queries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            queries.append(
                EvalQuery(
                    str(row["id"]),
                    row["text"],
                    row.get("lang", ""),
                    bool(row.get("cross_lingual", False)),
                    row.get("kind", ""),
                )
            )
        except (json.JSONDecodeError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: not a query line ({exc})") from exc
    return queries


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise ValueError(f"{path}:{n}: expected 'qid 0 docid grade', got {line!r}")
        qid, _, doc, grade = parts
        qrels[qid][doc_key(doc)] = int(grade)
    return dict(qrels)


def doc_key(source: str) -> str:
    """The document name qrels use: the file name, with a text twin mapped to its PDF."""
    name = Path(source).name
    if name.endswith(TWIN_SUFFIX):
        name = name[: -len(TWIN_SUFFIX)] + ".pdf"
    return name


def document_ranking(sources: Sequence[str]) -> list[str]:
    """Passage sources, best first -> distinct document keys in the order of their best passage."""
    seen: dict[str, None] = {}
    for source in sources:
        seen.setdefault(doc_key(source), None)
    return list(seen)


def ndcg(ranking: Sequence[str], grades: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** grades.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall(ranking: Sequence[str], grades: dict[str, int], k: int, min_grade: int = 1) -> float:
    relevant = {d for d, g in grades.items() if g >= min_grade}
    if not relevant:
        return 0.0
    return len(relevant & set(ranking[:k])) / len(relevant)


def capped_recall(ranking: Sequence[str], grades: dict[str, int], k: int = 10, min_grade: int = 2) -> float:
    """|relevant in top k| / min(k, |relevant|): the cross-lingual Recall@10 of the dev set's README."""
    relevant = {d for d, g in grades.items() if g >= min_grade}
    if not relevant:
        return 0.0
    return len(relevant & set(ranking[:k])) / min(k, len(relevant))


def mrr(ranking: Sequence[str], grades: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranking[:k]):
        if grades.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def precision(ranking: Sequence[str], grades: dict[str, int], k: int = 5) -> float:
    return sum(1 for d in ranking[:k] if grades.get(d, 0) > 0) / k


def score_query(ranking: Sequence[str], grades: dict[str, int]) -> dict[str, float]:
    return {
        "ndcg@10": ndcg(ranking, grades, 10),
        "recall@10": recall(ranking, grades, 10),
        "recall@100": recall(ranking, grades, 100),
        "mrr@10": mrr(ranking, grades, 10),
        "p@5": precision(ranking, grades, 5),
        "xl_recall@10": capped_recall(ranking, grades, 10, 2),
    }


@dataclass
class ModeReport:
    mode: str
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    groups: dict[str, dict[str, float]] = field(default_factory=dict)  # overall, lang:fi, cross-lingual...


def _mean(rows: list[dict[str, float]], keys: Sequence[str]) -> dict[str, float]:
    return {k: (sum(r[k] for r in rows) / len(rows) if rows else 0.0) for k in keys}


def evaluate(
    queries: list[EvalQuery],
    qrels: dict[str, dict[str, int]],
    rank: Callable[[EvalQuery, str], list[str]],
    modes: Sequence[str] = ("hybrid",),
) -> list[ModeReport]:
    """``rank(query, mode)`` returns passage sources best first; every mode is scored on the same queries."""
    reports = []
    judged = [q for q in queries if q.qid in qrels]
    for mode in modes:
        report = ModeReport(mode)
        for q in judged:
            report.per_query[q.qid] = score_query(document_ranking(rank(q, mode)), qrels[q.qid])
        rows = {q.qid: report.per_query[q.qid] for q in judged}
        report.groups["all"] = _mean(list(rows.values()), METRICS)
        xl = [rows[q.qid] for q in judged if q.cross_lingual]
        report.groups["cross-lingual"] = {**_mean(xl, METRICS), **_mean(xl, ("xl_recall@10",))}
        mono = [rows[q.qid] for q in judged if not q.cross_lingual]
        report.groups["monolingual"] = _mean(mono, METRICS)
        for lang in sorted({q.lang for q in judged if q.lang}):
            report.groups[f"lang:{lang}"] = _mean([rows[q.qid] for q in judged if q.lang == lang], METRICS)
        for g in report.groups.values():
            g["queries"] = 0.0
        report.groups["all"]["queries"] = float(len(judged))
        report.groups["cross-lingual"]["queries"] = float(len(xl))
        report.groups["monolingual"]["queries"] = float(len(mono))
        for lang in {q.lang for q in judged if q.lang}:
            report.groups[f"lang:{lang}"]["queries"] = float(sum(1 for q in judged if q.lang == lang))
        reports.append(report)
    return reports


# Not a search mode: the model alone (raw vectors, no language centring, no hub correction, no
# lexical side), exact over every passage. The dev set's "dense alone" baseline, for comparison.
BASELINE = "baseline"


# how the table names the modes (README's "Retrieval quality" shows this table as printed)
_MODE_LABELS = {
    "hybrid": "hybrid (default)",
    "dense": "dense (centred vectors, hub correction)",
    "lexical": "lexical (BM25)",
    BASELINE: "baseline: the model alone",
}
_HEADERS = {
    "ndcg@10": "nDCG@10",
    "recall@10": "R@10",
    "recall@100": "R@100",
    "mrr@10": "MRR@10",
    "p@5": "P@5",
}


def format_table(reports: list[ModeReport]) -> str:
    """Two Markdown tables, the ones the README shows: every metric per mode over all queries, and
    nDCG@10 per query group (language, cross-lingual, monolingual)."""
    if not reports:
        return ""
    first = reports[0].groups
    xl_n = int(first.get("cross-lingual", {}).get("queries", 0))
    head = ["mode", *(_HEADERS[m] for m in METRICS), f"xl R@10 ({xl_n} cross-lingual queries)"]
    lines = [_row(head), _row(["---"] + ["---:"] * (len(head) - 1))]
    for rep in reports:
        values = rep.groups["all"]
        cells = [f"{values[m]:.3f}" for m in METRICS]
        xl = rep.groups.get("cross-lingual", {})
        cells.append(f"{xl['xl_recall@10']:.3f}" if xl.get("queries") else "")
        lines.append(_row([_MODE_LABELS.get(rep.mode, rep.mode), *cells]))
    groups = [g for g in first if g.startswith("lang:")] + [
        g for g in ("cross-lingual", "monolingual") if g in first
    ]
    names = [f"{g.removeprefix('lang:')} ({int(first[g]['queries'])})" for g in groups]
    lines += ["", _row(["nDCG@10 by query group", *names]), _row(["---"] + ["---:"] * len(names))]
    for rep in reports:
        cells = [f"{rep.groups[g]['ndcg@10']:.3f}" if rep.groups[g].get("queries") else "" for g in groups]
        lines.append(_row([_MODE_LABELS.get(rep.mode, rep.mode), *cells]))
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def to_json(reports: list[ModeReport]) -> dict:
    return {rep.mode: {"groups": rep.groups, "per_query": rep.per_query} for rep in reports}


def rank_with_index(
    index: SearchIndex, k: int = 100, **request_fields: float
) -> Callable[[EvalQuery, str], list[str]]:
    """A ``rank`` for ``evaluate`` that runs the product's own search: documents (group="document",
    so each document's rank is its best passage's) without snippets, which scoring never reads.
    Mode ``BASELINE`` ranks passages by plain cosine instead (see above). ``request_fields`` set
    other SearchRequest fields (hub_weight=..., for a tuning bench)."""
    from nordsearch.search.query import SearchRequest

    plain: list[tuple[np.ndarray, list[str]]] = []  # loaded on first use

    def rank_plain(text: str) -> list[str]:
        import numpy as np

        if not plain:
            _, matrix, documents, _ = index.store.all_passage_vectors()
            source = {d: doc.source for d in set(documents) if (doc := index.store.get_document(d))}
            plain.append((matrix, [source.get(d, d) for d in documents]))
        matrix, sources = plain[0]
        scores = matrix @ index.embedder.embed_queries([text])[0]
        return [sources[i] for i in np.argsort(-scores, kind="stable")]

    def rank(query: EvalQuery, mode: str) -> list[str]:
        if mode == BASELINE:
            return rank_plain(query.text)
        request = SearchRequest(
            q=query.text,
            k=k,
            mode=mode,
            group="document",
            snippets=False,
            **request_fields,  # type: ignore[arg-type]
        )
        return [hit.source for hit in index.search(request).results]

    return rank

"""`nordsearch themes`: list the taxonomy, evaluate and tune the theme tagger on gold sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nordsearch.api.cli_common import JsonOpt, cli_settings, print_json

themes_app = typer.Typer(
    help="The theme taxonomy: list, evaluate and tune the tagger.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@themes_app.command("list")
def themes_list(
    lang: Annotated[str, typer.Option(help="Label language: fi, sv, nb, da or en.")] = "en",
    as_json: JsonOpt = False,
) -> None:
    """The themes of the taxonomy with their labels."""
    from nordsearch.api.service import themes_json

    data = themes_json(lang)
    if as_json:
        print_json(data)
        return
    for theme in data["themes"]:
        typer.echo(f"{theme['id']:24} {theme['label']}")


GoldArg = Annotated[
    Path,
    typer.Argument(
        help='Gold JSONL: {"source", "themes"} or {"text", "themes"} lines.',
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
]
RootOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--root",
        help="Folders where gold `source` files are looked "
        "up (default: the gold file's folder, then $NORDSEARCH_GOLD_ROOTS, else ../shared/corpus).",
    ),
]
MaxPassagesOpt = Annotated[int, typer.Option(help="Passages sampled per document (0 = all).")]


def _gold_roots() -> list[Path]:
    import os

    return [Path(p) for p in cli_settings().gold_roots.split(os.pathsep) if p]


def _theme_eval_parts():
    import functools

    from nordsearch.ingest.pipeline import ingest_file
    from nordsearch.ingest.taxonomy import load_taxonomy
    from nordsearch.ingest.themes import ThemeTagger
    from nordsearch.search.embedder import get_embedder

    settings = cli_settings()
    embed = get_embedder(settings).embed_passages
    ingest = functools.partial(ingest_file, settings=settings)
    return ThemeTagger(load_taxonomy(), embed_definitions=embed), ingest, embed


@themes_app.command("eval")
def themes_eval(
    gold: GoldArg, root: RootOpt = None, max_passages: MaxPassagesOpt = 24, as_json: JsonOpt = False
) -> None:
    """Precision, recall, F1 (micro, macro, per theme), F1@3 and NDCG@5 of the tagger on a gold set."""
    from nordsearch.ingest.theme_eval import evaluate

    tagger, ingest_fn, embed = _theme_eval_parts()
    report = evaluate(
        gold, tagger, ingest_fn, embed, roots=root or _gold_roots(), max_passages=max_passages or None
    )
    typer.echo(report.to_json() if as_json else report.format_table())


@themes_app.command("optimize")
def themes_optimize(
    gold: GoldArg,
    extra: Annotated[list[Path] | None, typer.Option("--extra", help="More gold files to tune on.")] = None,
    root: RootOpt = None,
    max_passages: MaxPassagesOpt = 24,
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the thresholds (default: theme_thresholds.yaml in the data dir)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only; write nothing.")] = False,
) -> None:
    """Pick the tagger's thresholds that maximise micro-F1 on gold sets (cross-validated)."""
    from nordsearch.ingest.theme_calibration import optimize

    tagger, ingest_fn, embed = _theme_eval_parts()
    result = optimize(
        gold,
        tagger,
        ingest_fn,
        embed,
        roots=root or _gold_roots(),
        out_path=None if dry_run else (out or cli_settings().theme_thresholds),
        max_passages=max_passages or None,
        extra_gold=tuple(extra or ()),
    )
    typer.echo(
        f"micro-F1 on the gold: {result.train_micro_f1:.3f}; cross-validated: {result.cv_micro_f1:.3f}"
    )
    typer.echo(f"thresholds: {result.thresholds.to_dict()}")
    if result.written_to:
        typer.echo(f"written to {result.written_to}")

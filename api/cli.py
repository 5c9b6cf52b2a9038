"""The `nordsearch` command. Heavy libraries are imported inside commands so `--help` starts fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nordsearch.api.cli_common import (
    CliError,
    IndexOpt,
    JsonOpt,
    cli_settings,
    fail,
    open_for,
    print_json,
    reading,
    require_index,
    resolve_document_id,
)
from nordsearch.api.cli_model import model_app
from nordsearch.api.cli_similar import similar
from nordsearch.api.cli_themes import themes_app

app = typer.Typer(
    name="nordsearch",
    help="Multilingual search over Nordic urban-planning documents (fi, sv, nb, da, en).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,  # plain click help: rich's help renderer alone costs ~0.25 s of start-up
)
app.add_typer(themes_app, name="themes")
app.add_typer(model_app, name="model")


@app.command()
def index(
    paths: Annotated[
        list[Path], typer.Argument(help="Files and folders to index.", show_default=False, metavar="PATH")
    ],
    index: IndexOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Extraction processes (0 = cores - 1; default: $NORDSEARCH_WORKERS, else 0).",
            show_default=False,
            metavar="N",
        ),
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents whose files are gone.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-index unchanged files too.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a JSON report of every file.", metavar="FILE")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Batch-index files and folders (PDF, HTML, DOCX, TXT, Markdown); unchanged files are skipped."""
    from nordsearch.api.progress import RichProgress
    from nordsearch.search.batch import index_paths

    missing = [str(p) for p in paths if not p.exists() and not p.is_symlink()]
    if missing:  # a typo, not a batch outcome: say so before anything is opened or indexed
        fail(f"no such file or folder: {', '.join(missing)}", 2)
    settings = cli_settings()
    with open_for(index, settings, create=True) as idx:
        progress = None if quiet else RichProgress()
        result = index_paths(
            idx, paths, settings=settings, workers=settings.workers if workers is None else workers,
            prune=prune, force=force, progress=progress,
        )  # fmt: skip
    if report:
        report.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    if progress is None:  # the bar printed each failure as it happened
        for failure in result.failed:
            typer.echo(f"failed: {failure.source}: {failure.reason} [{failure.code}]", err=True)
    typer.echo(
        f"{result.count('indexed')} indexed, {result.count('unchanged')} unchanged, "
        f"{result.count('skipped')} skipped, {result.count('failed')} failed, "
        f"{result.count('removed')} removed; "
        f"{result.passages} passages in {result.seconds:.1f}s"
        + (" (interrupted: run again to continue)" if result.interrupted else "")
    )
    raise typer.Exit(result.exit_code)


@app.command()
def search(
    query: Annotated[
        str,
        typer.Argument(help="A question or keywords, in any language.", show_default=False, metavar="QUERY"),
    ],
    k: Annotated[int, typer.Option("-k", "--k", help="How many results (1-200).", metavar="N")] = 10,
    lang: Annotated[
        list[str] | None, typer.Option("--lang", help="Only these languages, e.g. fi,sv.", metavar="LANG")
    ] = None,
    theme: Annotated[
        list[str] | None,
        typer.Option(
            "--theme", help="Only passages with these themes (`nordsearch themes list`).", metavar="THEME"
        ),
    ] = None,
    city: Annotated[
        list[str] | None,
        typer.Option("--city", help="Only documents of these cities (metadata).", metavar="CITY"),
    ] = None,
    country: Annotated[
        list[str] | None,
        typer.Option("--country", help="Only documents of these countries (metadata).", metavar="COUNTRY"),
    ] = None,
    year_from: Annotated[
        int | None,
        typer.Option("--year-from", help="Only documents of this year or later (metadata).", metavar="YEAR"),
    ] = None,
    year_to: Annotated[
        int | None,
        typer.Option("--year-to", help="Only documents of this year or earlier (metadata).", metavar="YEAR"),
    ] = None,
    document: Annotated[
        list[str] | None, typer.Option("--document", help="Only these documents (ids).", metavar="DOC_ID")
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.", metavar="MODE")] = "hybrid",
    offset: Annotated[int, typer.Option(help="Skip this many results (paging).", metavar="N")] = 0,
    group: Annotated[
        str,
        typer.Option(
            help="passage; document: one result per document; country or city: the best documents of each,"
            " side by side (-k per place).",
            metavar="GROUP",
        ),
    ] = "passage",
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            help="Print citation rows as csv or jsonl (title, city, country, year, page, …).",
            metavar="FORMAT",
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="With --export: the server whose /view/ pages the link column names.",
            metavar="URL",
        ),
    ] = None,
) -> None:
    """Search the index with a question in any of the five languages."""
    from pydantic import ValidationError

    from nordsearch.api.cli_output import options_error, print_results
    from nordsearch.api.request import SearchParams, to_search_request
    from nordsearch.api.service import search_json

    try:
        params = SearchParams(
            q=query, k=k, offset=offset, mode=mode, lang=lang, theme=theme, city=city, country=country,
            year_from=year_from, year_to=year_to, document_id=document, group=group,
        )  # fmt: skip
        request = to_search_request(params)
    except ValidationError as exc:  # the same checks as the HTTP API's, named as options
        fail(options_error(exc), 2)
    except ValueError as exc:
        fail(str(exc), 2)
    from nordsearch.api.export import EXPORT_FORMATS, citation_rows, render

    if export is not None and export not in EXPORT_FORMATS:
        fail(f"--export: unknown format {export!r}; one of {', '.join(EXPORT_FORMATS)}", 2)
    with reading(index, cli_settings()) as idx:
        try:
            data = search_json(idx, request)
        except ValueError as exc:  # e.g. --document naming no document or several
            fail(str(exc), 2)
        if export is not None:
            for chunk in render(citation_rows(idx, data, base_url), export):  # type: ignore[arg-type]
                typer.echo(chunk, nl=False)
            return
    if as_json:
        print_json(data)
        return
    print_results(data)


@app.command()
def documents(
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many (default: all).", metavar="N")
    ] = None,
    offset: Annotated[
        int, typer.Option(min=0, help="Skip this many, sorted by title (paging).", metavar="N")
    ] = 0,
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the indexed documents, sorted by title."""
    from nordsearch.api.service import documents_json

    with reading(index, cli_settings(), with_model=False) as idx:
        data = documents_json(idx, limit=idx.count_documents() if limit is None else limit, offset=offset)
    if as_json:
        print_json(data)
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

    with reading(index, cli_settings(), with_model=False) as idx:
        data = stats_json(idx)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        typer.echo(
            f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value}"
        )


@app.command()
def remove(
    document_ids: Annotated[
        list[str],
        typer.Argument(help="Document ids (or unique id prefixes).", show_default=False, metavar="DOC_ID"),
    ],
    index: IndexOpt = None,
) -> None:
    """Remove documents from the index."""
    with open_for(index, cli_settings(), with_model=False) as idx:
        missing = []
        for given in document_ids:
            doc_id = resolve_document_id(idx, given)
            if doc_id is None or not idx.remove(doc_id):
                missing.append(given)
            else:
                typer.echo(f"removed {doc_id}")
    if missing:
        fail(f"no document with id {', '.join(missing)}")


@app.command("eval")
def eval_(
    queries: Annotated[
        Path,
        typer.Option(
            "--queries",
            help="Queries JSONL: {id, text, lang, cross_lingual}.",
            show_default=False,
            metavar="FILE",
        ),
    ],
    qrels: Annotated[
        Path,
        typer.Option("--qrels", help="TREC qrels: qid 0 docid grade.", show_default=False, metavar="FILE"),
    ],
    mode: Annotated[
        str,
        typer.Option(
            help="Modes to evaluate, comma-separated; 'baseline' is the model alone "
            "(raw vectors, no centring or hub correction).",
            metavar="MODES",
        ),
    ] = "hybrid,dense,lexical,baseline",
    index: IndexOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report here.", metavar="FILE")
    ] = None,
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
        fail(f"--mode takes {', '.join(MODES)} and/or {BASELINE}, not {mode!r}", 2)
    for path in (queries, qrels):
        if not path.is_file():
            fail(f"no such file: {path}", 2)
    try:
        qs, judged = load_queries(queries), load_qrels(qrels)
    except ValueError as exc:
        fail(str(exc), 2)
    with reading(index, cli_settings()) as idx:
        reports = evaluate(qs, judged, rank_with_index(idx), modes=modes)
    data = to_json(reports)
    if out:
        out.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    if as_json:
        print_json(data)
    else:
        typer.echo(format_table(reports))


app.command()(similar)  # api/cli_similar.py; registered here to keep the commands in this order


@app.command()
def serve(
    index: IndexOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.", metavar="HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Port.", metavar="PORT")] = None,
    create: Annotated[
        bool, typer.Option("--create", help="Start on an empty index (to fill through POST /index).")
    ] = False,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs, the web page at /), in
    $NORDSEARCH_SERVE_PROCESSES processes (default: one per core, at most 4)."""
    from nordsearch.api.serve import exposure_warning, run_server
    from nordsearch.api.service import resolve_index_dir

    settings = cli_settings()
    index_dir = resolve_index_dir(index, settings)
    if not create:
        require_index(index_dir)
    host = host or settings.host
    warning = exposure_warning(host, settings)
    if warning:
        typer.secho(f"nordsearch: {warning}", err=True, fg="red", bold=True)
    run_server(index_dir, settings, host=host, port=port or settings.port)


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

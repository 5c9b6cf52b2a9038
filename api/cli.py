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
)
themes_app = typer.Typer(help="The theme taxonomy: list, evaluate and tune the tagger.", no_args_is_help=True)
app.add_typer(themes_app, name="themes")

IndexOpt = Annotated[
    Path | None,
    typer.Option("--index", help="Index folder (default: $NORDSEARCH_INDEX, else .nordsearch/index).",
                 show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class CliError(Exception):
    """An error to report as one line (exit code 1), never as a traceback."""


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"nordsearch: error: {message}", err=True)
    raise typer.Exit(code)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _open(index: Path | None, *, with_model: bool = True, create: bool = False):
    from api.service import open_index, resolve_index_dir

    index_dir = resolve_index_dir(index)
    if not create and not (index_dir / "store.sqlite").exists():
        raise CliError(f"no index at {index_dir} (run `nordsearch index PATH --index {index_dir}` first)")
    return open_index(index_dir, with_model=with_model, create=create)


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to index.", show_default=False)],
    index: IndexOpt = None,
    workers: Annotated[int, typer.Option(help="Extraction processes (0 = one per core).")] = 0,
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents whose files are gone.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-index unchanged files too.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write a JSON report of every file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Batch-index files and folders (PDF, HTML, DOCX, TXT, Markdown); unchanged files are skipped."""
    from api.progress import RichProgress
    from search.batch import index_paths

    with _open(index, create=True) as idx:
        progress = None if quiet else RichProgress()
        result = index_paths(idx, paths, workers=workers, prune=prune, force=force, progress=progress)
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
    query: Annotated[str, typer.Argument(help="A question or keywords, in any language.", show_default=False)],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=200, help="How many results.")] = 10,
    lang: Annotated[list[str] | None, typer.Option("--lang", help="Only these languages, e.g. fi,sv.")] = None,
    theme: Annotated[list[str] | None, typer.Option("--theme", help="Only passages with these themes.")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
    offset: Annotated[int, typer.Option(min=0, help="Skip this many results (paging).")] = 0,
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the index with a question in any of the five languages."""
    from api.service import search_json, split_csv

    if mode not in ("hybrid", "dense", "lexical"):
        _fail(f"--mode must be hybrid, dense or lexical, not {mode!r}", 2)
    with _open(index) as idx:
        data = search_json(idx, query, k=k, offset=offset, mode=mode, languages=split_csv(lang),
                           themes=split_csv(theme))
    if as_json:
        _print_json(data)
        return
    _print_results(data)


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
        text = " ".join(hit["text"].split())
        console.print("   " + escape(text[:300] + ("…" if len(text) > 300 else "")))


@app.command()
def documents(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """List the indexed documents."""
    from api.service import documents_json

    with _open(index, with_model=False) as idx:
        data = documents_json(idx)
    if as_json:
        _print_json(data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "title", "lang", "pages", "passages", "source")
    for d in data["documents"]:
        table.add_row(d["document_id"][:12], d["title"], d["language"], str(d["pages"]),
                      str(d["passage_count"]), d["source"])
    Console().print(table)


@app.command()
def serve(
    index: IndexOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs, the web page at /)."""
    import uvicorn

    from api.http import create_app
    from api.service import resolve_index_dir
    from ingest.settings import get_settings

    settings = get_settings()
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


if __name__ == "__main__":
    main()

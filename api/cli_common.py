"""What every `nordsearch` command shares: the options, the settings built at the edge, opening
the index, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index",
        help="Index folder (default: $NORDSEARCH_INDEX, else .nordsearch/index).",
        show_default=False,
        metavar="DIR",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class CliError(Exception):
    """An error to report as one line (exit code 1), never as a traceback."""


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"nordsearch: error: {message}", err=True)
    raise typer.Exit(code)


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def cli_settings():
    """The settings of this run (defaults and NORDSEARCH_* variables), built here at the edge and
    handed down to everything the command calls."""
    from nordsearch.ingest.settings import get_settings

    return get_settings()


def open_for(index: Path | None, settings, *, with_model: bool = True, create: bool = False):
    from nordsearch.api.service import open_index, resolve_index_dir

    index_dir = resolve_index_dir(index, settings)
    if not create:
        require_index(index_dir)
    return open_index(index_dir, settings, with_model=with_model, create=create)


def require_index(index_dir: Path) -> None:
    """A command that reads an index fails on a folder without one, rather than creating it."""
    from nordsearch.search.index import STORE_FILE

    if not (index_dir / STORE_FILE).exists():
        raise CliError(f"no index at {index_dir}; run `nordsearch index PATH --index {index_dir}` first")


def reading(index: Path | None, settings, *, with_model: bool = True):
    """The index for a read-only command: closed at the end without saving, so a search never
    takes the writer lock (another process may be indexing)."""
    import contextlib

    return contextlib.closing(open_for(index, settings, with_model=with_model))


def resolve_document_id(idx, given: str) -> str | None:
    """A full id, or a prefix that names exactly one document (as `documents` prints them); None
    for no document, a CliError naming the prefix when it names several."""
    from nordsearch.search.errors import AmbiguousDocumentIdError, UnknownDocumentError

    try:
        return idx.resolve_document_id(given)
    except UnknownDocumentError:
        return None
    except AmbiguousDocumentIdError as exc:
        raise CliError(str(exc)) from None

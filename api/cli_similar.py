"""`nordsearch similar`: documents (or passages) most similar to a document, a passage or a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nordsearch.api.cli_common import (
    CliError,
    IndexOpt,
    JsonOpt,
    cli_settings,
    fail,
    print_json,
    reading,
    resolve_document_id,
)


def similar(
    document_id: Annotated[
        str | None,
        typer.Argument(help="Document id (or unique prefix).", show_default=False, metavar="DOC_ID"),
    ] = None,
    passage: Annotated[
        str | None,
        typer.Option("--passage", help="A passage id instead of a document.", metavar="PASSAGE_ID"),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A file (not indexed) to compare.", metavar="PATH")
    ] = None,
    k: Annotated[
        int,
        typer.Option("-k", "--k", min=1, max=200, help="How many results.", metavar="N"),
    ] = 10,
    other_languages: Annotated[
        bool,
        typer.Option(
            "--other-languages", help="Only results in another language than the document's: peers abroad."
        ),
    ] = False,
    other_countries: Annotated[
        bool,
        typer.Option(
            "--other-countries", help="Only results of another country than the document's (metadata)."
        ),
    ] = False,
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Documents (or passages, with --passage) most similar to a document, passage or file, in any language.

    A document's score is the share of document pairs in the same two languages that match less
    well: 95 % means closer than 95 % of, say, Finnish-Swedish pairs. A passage's is search's score.
    """
    from nordsearch.api.service import as_dict

    if sum(x is not None for x in (document_id, passage, file)) != 1:
        fail("give exactly one of DOC_ID, --passage ID or --file PATH", 2)
    if file is not None and not file.is_file():  # a usage error, found before the model loads
        fail(f"no such file: {file}", 2)
    if file is not None and other_countries:
        fail("--other-countries needs an indexed document or passage (a file has no country of its own)", 2)
    with reading(index, cli_settings()) as idx:
        try:
            items = _similar(idx, document_id, passage, file, k, other_languages, other_countries)
        except ValueError as exc:  # e.g. --other-countries for a document without a country
            raise CliError(str(exc)) from None
    data = {"results": [as_dict(item) for item in items]}
    if as_json:
        print_json(data)
        return
    if not items:
        typer.echo("No similar documents.")
    for rank, item in enumerate(data["results"], start=1):
        text = " ".join(item["text"].split())
        score = (
            f"score {item['score']:.3f}"
            if passage is not None
            else f"closer than {item['score']:.0%} of pairs"
        )
        typer.echo(
            f"{rank}. {item['title']} ({item['language']}, {score})\n   {item['source']}\n"
            f"   {text[:240] + ('…' if len(text) > 240 else '')}"
        )


def _similar(idx, document_id, passage, file, k, other_languages, other_countries) -> list:
    if passage is not None:
        items = idx.similar_passages(
            passage, k=k, other_languages=other_languages, other_countries=other_countries
        )
        if items is None:
            raise CliError(f"no passage with id {passage!r}")
        return items
    if file is not None:
        return idx.similar_to_file(file, k=k, other_languages=other_languages)
    doc_id = resolve_document_id(idx, document_id or "")
    if doc_id is None:
        raise CliError(f"no document with id {document_id!r}")
    return idx.similar_documents(
        doc_id, k=k, other_languages=other_languages, other_countries=other_countries
    )

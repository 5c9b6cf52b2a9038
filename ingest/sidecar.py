"""Sidecar metadata: ``FILE.json`` next to ``FILE`` (e.g. ``report.pdf.json``).

Sidecars are written by people and scripts, so a broken one must not stop ingestion: it is
reported as a warning and ignored.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Keys with a meaning in the product; other keys are kept as-is in Document.metadata.
SIDECAR_KEYS: tuple[str, ...] = ("title", "url", "city", "country", "year", "publisher", "language")
MAX_SIDECAR_BYTES = 1024 * 1024


class SidecarWarning(UserWarning):
    """A sidecar file exists but cannot be used."""


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_sidecar(path: Path | str, problems: list[str] | None = None) -> dict[str, Any]:
    """Metadata from ``PATH.json`` beside ``path``; {} when missing or invalid.

    Invalid sidecars raise a SidecarWarning (and are appended to ``problems`` when given)
    instead of failing: metadata is optional, the document itself is fine.
    """
    side = sidecar_path(Path(path))
    if not side.is_file():
        return {}
    message = None
    data: Any = None
    try:
        if side.stat().st_size > MAX_SIDECAR_BYTES:
            message = f"sidecar {side.name} is larger than {MAX_SIDECAR_BYTES} bytes; ignored"
        else:
            data = json.loads(side.read_text(encoding="utf-8-sig"))
            if not isinstance(data, dict):
                message = f"sidecar {side.name} is not a JSON object; ignored"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = f"sidecar {side.name} is not valid JSON ({exc}); ignored"
    if message:
        log.warning(message)
        warnings.warn(message, SidecarWarning, stacklevel=2)
        if problems is not None:
            problems.append(message)
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[str(key)] = value.strip() if isinstance(value, str) else value
    if "year" in out:
        try:
            out["year"] = int(str(out["year"]).strip()[:4])
        except ValueError:
            out.pop("year")
    return out

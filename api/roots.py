"""Where the server may index from: only inside the configured roots (NORDSEARCH_INDEX_ROOTS).

A requested path is resolved (``..`` and every symlink followed) and must then lie inside a
resolved root. Inside a requested folder, every symlink is checked the same way before anything
is read: a link whose target leaves the roots, or a folder link that loops back into its own
ancestry, rejects the request (403 / 400) instead of being silently followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import HTTPException

MAX_ENTRIES = 200_000  # entries looked at while checking one folder tree


def parse_roots(value: str) -> list[Path]:
    """os.pathsep-separated folders (commas accepted too) -> the existing ones, resolved."""
    parts = [p.strip() for chunk in (value or "").split(os.pathsep) for p in chunk.split(",")]
    roots: list[Path] = []
    for part in parts:
        if not part:
            continue
        path = Path(part).expanduser()
        if path.is_dir():
            resolved = path.resolve()
            if resolved not in roots:
                roots.append(resolved)
    return roots


def inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def resolve_in_roots(given: str, roots: list[Path]) -> Path:
    """The resolved path for ``given`` (absolute, or relative to a root); 403 outside the roots,
    404 when it does not exist, 400 when it is not a usable path."""
    if not roots:
        raise HTTPException(403, "server-side indexing is disabled: no NORDSEARCH_INDEX_ROOTS configured")
    if not given or "\x00" in given or len(given) > 4096:
        raise HTTPException(400, f"not a usable path: {given[:200]!r}")
    raw = Path(given).expanduser() if given.startswith("~") else Path(given)
    candidates = [raw] if raw.is_absolute() else [root / raw for root in roots]
    outside: Path | None = None
    for candidate in candidates:
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            continue
        if inside(resolved, roots):
            return resolved
        outside = resolved
    if outside is not None:
        raise HTTPException(403, f"path {given!r} is outside the configured index roots")
    # does not exist: say so only for paths that would be inside the roots
    lexical = [Path(os.path.normpath(c if c.is_absolute() else Path.cwd() / c)) for c in candidates]
    if not any(inside(p, roots) for p in lexical):
        raise HTTPException(403, f"path {given!r} is outside the configured index roots")
    raise HTTPException(404, f"no such file or folder: {given!r}")


def check_tree(folder: Path, roots: list[Path]) -> None:
    """Reject a folder whose symlinks lead outside the roots or loop (see the module docstring)."""
    if not folder.is_dir():
        return
    escapes: list[str] = []
    loops: list[str] = []
    seen = 0
    stack: list[tuple[Path, tuple[Path, ...]]] = [(folder, (folder.resolve(),))]
    while stack:
        current, chain = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                raise HTTPException(
                    400, f"folder {folder} has more than {MAX_ENTRIES} entries; index it in parts"
                )
            path = Path(entry.path)
            is_link = entry.is_symlink()
            if is_link:
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    continue  # a dangling link is no document and leads nowhere
                if not inside(target, roots):
                    escapes.append(f"{path} -> {target}")
                    continue
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                continue
            if not is_dir:
                continue
            real = path.resolve() if is_link else Path(os.path.realpath(path))
            if real in chain:
                loops.append(f"{path} -> {real}")
                continue
            stack.append((path, (*chain, real)))
    if escapes:
        raise HTTPException(
            403, f"symlinks lead outside the configured index roots: {', '.join(escapes[:5])}"
        )
    if loops:
        raise HTTPException(400, f"symlink loops: {', '.join(loops[:5])}")

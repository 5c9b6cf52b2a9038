"""Server-side indexing only inside the configured roots: no traversal, no symlink escapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi import HTTPException

from nordsearch.api.roots import check_tree, parse_roots, resolve_in_roots


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "reports" / "2024").mkdir(parents=True)
    (root / "reports" / "2024" / "a.md").write_text("# A\n\ntext\n")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwd.txt").write_text("nope")
    return root, outside


def code(fn, *args) -> int:
    with pytest.raises(HTTPException) as info:
        fn(*args)
    assert info.value.detail
    return info.value.status_code


def test_parse_roots_resolves_and_drops_missing(tree, tmp_path):
    root, _ = tree
    roots = parse_roots(f"{root}{os.pathsep}{tmp_path / 'missing'},{root}/reports/../")
    assert roots == [root.resolve()]


def test_paths_inside_roots_absolute_or_relative(tree):
    root, _ = tree
    roots = parse_roots(str(root))
    assert resolve_in_roots(str(root / "reports"), roots) == (root / "reports").resolve()
    assert resolve_in_roots("reports/2024/a.md", roots) == (root / "reports/2024/a.md").resolve()
    assert resolve_in_roots(str(root), roots) == root.resolve()


def test_traversal_and_outside_paths_are_refused(tree):
    root, outside = tree
    roots = parse_roots(str(root))
    assert code(resolve_in_roots, "../secret", roots) == 403
    assert code(resolve_in_roots, str(root / ".." / "secret"), roots) == 403
    assert code(resolve_in_roots, str(outside / "passwd.txt"), roots) == 403
    assert code(resolve_in_roots, "/etc", roots) == 403
    assert code(resolve_in_roots, "reports/nothing-here", roots) == 404
    assert code(resolve_in_roots, "a\x00b", roots) == 400
    assert code(resolve_in_roots, "reports", []) == 403  # no roots: disabled


def test_symlink_pointing_outside_is_refused(tree):
    root, outside = tree
    roots = parse_roots(str(root))
    (root / "escape").symlink_to(outside)
    assert code(resolve_in_roots, "escape", roots) == 403
    (root / "reports" / "leak.txt").symlink_to(outside / "passwd.txt")
    assert code(check_tree, (root / "reports").resolve(), roots) == 403


def test_symlinked_folder_escape_inside_tree_is_refused(tree):
    root, outside = tree
    roots = parse_roots(str(root))
    (root / "reports" / "2024" / "more").symlink_to(outside, target_is_directory=True)
    assert code(check_tree, root.resolve(), roots) == 403


def test_links_inside_roots_are_fine_and_loops_are_refused(tree):
    root, _ = tree
    roots = parse_roots(str(root))
    (root / "alias.md").symlink_to(root / "reports" / "2024" / "a.md")
    (root / "dangling.md").symlink_to(root / "nothing.md")
    check_tree(root.resolve(), roots)  # no error
    (root / "reports" / "2024" / "up").symlink_to(root / "reports", target_is_directory=True)
    assert code(check_tree, root.resolve(), roots) == 400

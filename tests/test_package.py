"""The wheel is a working nordsearch: built from this checkout, installed (not editable) into a fresh
virtual environment, run from outside the source tree on two files of corpus/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # from a copy of the sources: building in the checkout leaves build/, whose stale files (a module
    # since deleted) a later build would package
    source = out / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".nordsearch",
    ))  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (found,) = out.glob("nordsearch-*.whl")
    return found


def test_the_wheel_installs_one_namespace_with_its_data_files(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"nordsearch"}  # nothing under a generic top-level name (ingest, search, api, ...)
    for expected in (
        "nordsearch/ingest/extract/pdf.py",
        "nordsearch/ingest/themes.yaml",
        "nordsearch/ingest/theme_thresholds.yaml",
        "nordsearch/search/centering_texts.yaml",
        "nordsearch/api/templates/search.html",
        "nordsearch/api/static/app.js",
        "nordsearch/models/convert.py",
    ):
        assert expected in names, expected
    assert not [n for n in names if n.endswith((".safetensors", ".bin")) or "/tests/" in n]


def test_an_installed_copy_indexes_and_searches(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # the dependencies (torch, faiss, ...) are the test environment's own, seen through a .pth line:
    # that adds the folder without running its .pth files, so this checkout's editable install
    # stays invisible and only the wheel provides `nordsearch`
    (site,) = (venv / "lib").glob("python*/site-packages")
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    work = tmp_path / "elsewhere"  # not the checkout: its folders must not be importable
    work.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NORDSEARCH_") and k != "PYTHONPATH"},
        "HF_HUB_OFFLINE": "1",
        "NORDSEARCH_DATA_DIR": str(tmp_path / "data"),  # the model is built here on first use
    }
    where = subprocess.run(
        [str(python), "-c", "import nordsearch.search.index as m; print(m.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert where.returncode == 0 and str(site) in where.stdout, where.stdout + where.stderr
    exe = venv / "bin" / "nordsearch"
    files = [CORPUS / "fi_talvipyorailyohjelma.md", CORPUS / "da_skybrudsplan.pdf"]  # text and a real PDF
    assert all(f.exists() for f in files), files
    index = tmp_path / "index"
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [str(exe), "index", *map(str, files), "--index", str(index), "--quiet", "--report", str(report)],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(report.read_text(encoding="utf-8"))["indexed"] == 2
    assert (tmp_path / "data" / "models" / "multilingual-e5-small" / "model.safetensors").exists()
    proc = subprocess.run(
        [str(exe), "search", "vinterunderhåll av cykelbanor", "-k", "3", "--json", "--index", str(index)],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["results"]
    assert hits and {Path(h["source"]).name for h in hits} <= {f.name for f in files}

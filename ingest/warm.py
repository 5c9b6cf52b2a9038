"""Imported once by the extraction pool's fork server (a multiprocessing preload): what every file
needs is loaded there, so each worker forked from it starts warm in milliseconds instead of ~3 s,
and its memory limit measures the file rather than the libraries."""

import sys

# spaCy's thinc imports torch when it can (2 s, 400 MB); extraction never needs it
sys.modules.setdefault("torch", None)  # type: ignore[arg-type]

from nordsearch.ingest.pipeline import warm_up  # noqa: E402

warm_up()

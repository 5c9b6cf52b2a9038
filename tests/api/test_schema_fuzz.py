"""Schemathesis against the running servers' /openapi.json: generated requests, valid and invalid,
must never get a 500, and every response must match the documented status codes, media types,
headers and schemas. Read routes are fuzzed on the shared read-only server; write routes on the
keyed write server (its own copy of the index) with the write key. Bounded: a few examples per
route and mode, no shrinking, and a time budget."""

from __future__ import annotations

import os
import time
import traceback

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="Python package `schemathesis` is not installed")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

pytestmark = pytest.mark.slow

READ_ROUTES = (
    r"^/(search|documents|documents/\{document_id\}|documents/\{document_id\}/similar|similar"
    r"|themes|stats|health|ready)$"
)
WRITE_ROUTES = r"^/(documents|documents/\{document_id\}|jobs|jobs/\{job_id\})$"
BUDGET_SECONDS = 90  # per test
UPLOAD = ("POST", "/documents")


def make_run(operation, mode, headers, max_examples: int, excluded: list):
    @settings(
        max_examples=max_examples,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        case.call_and_validate(headers=headers, timeout=120, excluded_checks=excluded)

    return run


def fuzz(
    schema, *, headers: dict[str, str] | None, max_examples: int, budget: float = BUDGET_SECONDS
) -> list[str]:
    """Run every operation of ``schema`` in both generation modes; the failures as one line each."""
    from schemathesis import GenerationMode
    from schemathesis.checks import positive_data_acceptance

    started = time.monotonic()
    failures: list[str] = []
    ran = 0
    timings: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        # an upload's file name decides its type (415 otherwise), which a schema cannot express
        excluded = [positive_data_acceptance] if (operation.method.upper(), operation.path) == UPLOAD else []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() - started > budget:
                return failures + ([] if ran else ["time budget spent before any operation ran"])

            run = make_run(operation, mode, headers, max_examples, excluded)

            op_started = time.monotonic()
            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures
                if type(exc).__name__ == "Unsatisfiable":  # nothing invalid to send (no parameters)
                    continue
                first = str(exc).strip().splitlines()
                failures.append(
                    f"{operation.method.upper()} {operation.path} [{mode.value}]: {' | '.join(first[:12])}"
                )
                if os.environ.get("FUZZ_DEBUG"):
                    traceback.print_exception(exc)
            ran += 1
            timings.append(
                f"{operation.method.upper()} {operation.path} [{mode.value}] "
                f"{time.monotonic() - op_started:.1f}s"
            )
    print("fuzzed:", "; ".join(timings))
    return failures


def test_read_routes_match_the_schema(server: str):
    schema = (
        schemathesis.openapi.from_url(f"{server}/openapi.json")
        .include(path_regex=READ_ROUTES)
        .exclude(method="POST", path="/documents")
        .exclude(method="DELETE")
    )  # the shared index stays as is
    failures = fuzz(schema, headers=None, max_examples=4)
    assert not failures, "\n\n".join(failures)


def test_write_routes_match_the_schema(write_server):
    schema = (
        schemathesis.openapi.from_url(f"{write_server.url}/openapi.json")
        .include(path_regex=WRITE_ROUTES)
        .exclude(method="GET", path_regex=r"^/documents(/\{document_id\})?$")
    )
    failures = fuzz(schema, headers={"X-API-Key": write_server.write_key}, max_examples=5)
    assert not failures, "\n\n".join(failures)

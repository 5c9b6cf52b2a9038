"""Request and response models of the HTTP API, with examples, so /openapi.json documents every
route and clients (and schemathesis) can check responses against it.

Response models allow extra fields: the shared shapes of ``api.service`` may grow a field without
the schema rejecting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from nordsearch.api.job_store import JobKind, JobStatus
from nordsearch.ingest.records import LANGUAGE_CODES, LANGUAGES
from nordsearch.search.batch import Status

UiLang = Literal[LANGUAGE_CODES]  # type: ignore[valid-type]
LANGUAGE_LIST = ", ".join(LANGUAGES)  # for descriptions: "fi, sv, nb, da, en"


def one_or_more(values: Sequence[str], *, noun: str, valid: str, max_length: int) -> Any:
    """A string type for one of ``values``, or several comma-separated ("fi,sv"), as GET parameters
    are often written. Its error names the valid values (``valid``: how to say them), as a CLI
    user and an API client both read it; its JSON schema publishes them as a pattern (clients and
    schemathesis read that)."""
    known = frozenset(values)

    def check(value: str) -> str:
        unknown = [v for v in value.split(",") if v not in known]
        if unknown:
            raise ValueError(f"unknown {noun} {unknown[0]!r}; use {valid}")
        return value

    one = "(" + "|".join(values) + ")"
    schema = {"type": "string", "pattern": f"^{one}(,{one})*$", "maxLength": max_length}
    return Annotated[
        str, StringConstraints(max_length=max_length), AfterValidator(check), WithJsonSchema(schema)
    ]


Lang = one_or_more(
    LANGUAGE_CODES, noun="language", valid=f"{LANGUAGE_LIST} (no and nn count as nb)", max_length=40
)


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not true/false")
    return value


# JSON integers as JSON Schema defines them (2.0 is an integer, true is not), unlike pydantic's
# strict mode (rejects 2.0) or lax mode (takes true as 1).
Int = Annotated[int, BeforeValidator(_no_bool)]
Year = Annotated[int, Field(ge=0, le=9999), BeforeValidator(_no_bool)]
ServerPath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Problem(Open):
    """An RFC 7807 problem document (media type application/problem+json)."""

    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no document with id 'abc'"])


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting these error statuses as problem+json."""
    text = {
        400: "Bad request",
        401: "No API key",
        403: "Wrong or read-only API key, or path not allowed",
        404: "Not found",
        409: "The index is locked by another writer, or on a read-only disk",
        413: "Upload too large",
        415: "Unsupported file type",
        422: "Invalid parameters",
        503: "Index not loaded",
    }
    codes = tuple(sorted({*codes, 400, 422}))  # 400: a body that is not JSON; 422 would be application/json
    return {
        code: {
            "model": Problem,
            "description": text.get(code, "Error"),
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in codes
    }


class Health(Open):
    status: str = Field(examples=["ok"])
    process: int = Field(
        description="The id of the server process that answered (see NORDSEARCH_SERVE_PROCESSES)."
    )


class Ready(Open):
    status: str = Field(examples=["ready"])
    index: str


class Hit(Open):
    passage_id: str
    document_id: str
    title: str
    source: str
    language: str = Field(examples=["sv"])
    page: int | None = Field(
        default=None,
        examples=[3],
        description="The page of the best sentence (without snippets: the passage's first).",
    )
    page_end: int | None = Field(
        default=None, description="The page the best sentence (the passage) ends on."
    )
    section: str | None = None
    text: str
    score: float
    themes: list[str] | None = None
    snippet: str | None = None
    highlights: list[list[int]] | None = None
    best_sentence: str | None = None
    best_sentence_span: list[int] | None = None
    duplicates: list[str] | None = None


class SearchHit(Hit):
    passages: list[Hit] | None = Field(
        default=None, description="group=document, country or city: the document's best passages."
    )
    group_value: str | None = Field(
        default=None,
        description="group=country or city: the place whose group this hit is in.",
        examples=["SE"],
    )


class SearchResult(Open):
    query: str
    mode: str
    k: int
    offset: int
    total: int = Field(
        description="How many results there are: passages matching the filters (lexical mode: and a "
        "query term); with group=document, the documents holding them; with group=country or city, the "
        "documents of the places shown."
    )
    group: str
    has_more: bool
    facets: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Documents per value of each facet (language, country, year, theme) among the documents "
        "holding what total counts, most first.",
        examples=[{"language": {"fi": 5, "sv": 4}, "country": {"FI": 5}, "year": {"2024": 9}, "theme": {}}],
    )
    results: list[SearchHit]


class DocumentOut(Open):
    document_id: str = Field(examples=["3f1c0a9b2e4d"])
    title: str
    source: str
    language: str
    format: str = Field(examples=["pdf"])
    pages: int
    passage_count: int
    size_bytes: int
    content_hash: str
    indexed_at: str | None = None
    themes: list[str] | None = None
    metadata: dict[str, Any] | None = None


class DocumentList(Open):
    documents: list[DocumentOut]
    total: int
    limit: int
    offset: int


class PassageOut(Open):
    passage_id: str
    ordinal: int
    language: str
    page_start: int | None = None
    page_end: int | None = None
    section: str | None = None
    char_start: int
    char_end: int
    themes: list[str] | None = None
    text: str


class DocumentDetail(DocumentOut):
    passages: list[PassageOut]


class Removed(Open):
    document_id: str
    removed: bool = True


class ThemeOut(Open):
    id: str = Field(examples=["cycling"])
    label: str
    definition: str | None = None


class Themes(Open):
    language: str = Field(examples=["fi"])
    themes: list[ThemeOut]


class Stats(Open):
    path: str
    documents: int
    passages: int
    model: str | None = None
    dimension: int | None = None
    generation: int
    index_type: str | None = None
    size_bytes: int
    documents_by_language: dict[str, int]
    passages_by_language: dict[str, int]
    documents_by_format: dict[str, int] | None = None
    documents_by_country: dict[str, int] | None = Field(
        default=None, description="Documents per metadata country."
    )
    passages_by_theme: dict[str, int]
    documents_by_theme: dict[str, int]


class JobRequest(BaseModel):
    """POST /jobs: index files and folders that are already on the server, inside NORDSEARCH_INDEX_ROOTS."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"paths": ["helsinki/2024"]}]})

    paths: list[ServerPath] = Field(
        min_length=1, max_length=100, description="Absolute paths, or paths relative to a configured root."
    )
    force: StrictBool = Field(default=False, description="Re-index unchanged files too.")


class JobFile(Open):
    source: str
    filename: str | None = Field(default=None, description="The uploaded file's name (uploads only).")
    status: Status
    document_id: str | None = None
    passages: int = 0
    code: str | None = Field(default=None, examples=["unsupported_format"])
    reason: str | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="What extraction noticed in an indexed file (as in `index --report`).",
    )


class JobProgressOut(Open):
    total: int
    done: int
    indexed: int
    unchanged: int
    skipped: int = Field(default=0, description="Files in a folder that are no supported document.")
    failed: int
    removed: int
    passages: int


class JobResult(Open):
    indexed: int
    unchanged: int
    skipped: int = Field(default=0, description="Files in a folder that are no supported document.")
    failed: int
    removed: int
    passages: int
    seconds: float
    interrupted: bool
    files: list[JobFile]


class JobOut(Open):
    id: str
    kind: JobKind
    status: JobStatus
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    progress: JobProgressOut
    errors: list[JobFile]
    result: JobResult | None = None
    error: str | None = None


class JobList(Open):
    jobs: list[JobOut]

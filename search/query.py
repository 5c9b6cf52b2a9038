"""Search request/response records (dataclasses: cheap to import, FastAPI serialises them as-is)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from search.filters import PassageFilter

Mode = Literal["hybrid", "dense", "lexical"]
Fusion = Literal["weighted", "rrf"]
MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")
FUSIONS: tuple[str, ...] = ("weighted", "rrf")
MAX_K = 200
MAX_QUERY_CHARS = 2000


@dataclass(slots=True)
class SearchRequest:
    q: str
    k: int = 10
    offset: int = 0
    mode: Mode = "hybrid"
    languages: list[str] | None = None  # passage languages to keep (codes or aliases, e.g. "no")
    themes: list[str] | None = None  # keep passages tagged with any of these theme ids
    document_ids: list[str] | None = None
    cities: list[str] | None = None  # document metadata "city" (case-insensitive)
    countries: list[str] | None = None  # document metadata "country" (case-insensitive)
    year_from: int | None = None  # document metadata "year", inclusive
    year_to: int | None = None
    # Hybrid fusion. "weighted" = dense score + lexical_weight * BM25 normalised to [0, 1] by the
    # best lexical hit; dense leads because BM25 cannot cross languages. "rrf" = reciprocal rank fusion.
    fusion: Fusion = "weighted"
    lexical_weight: float = 0.3
    rrf_k: int = 60

    def __post_init__(self) -> None:
        self.q = (self.q or "").strip()
        if not self.q:
            raise ValueError("the query is empty")
        if len(self.q) > MAX_QUERY_CHARS:
            raise ValueError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        if not 1 <= self.k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}")
        if self.offset < 0:
            raise ValueError("offset must be >= 0")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}")
        if self.lexical_weight < 0:
            raise ValueError("lexical_weight must be >= 0")
        if self.rrf_k < 1:
            raise ValueError("rrf_k must be >= 1")
        self.filter()  # validate languages early (raises ValueError on an unknown one)

    def filter(self) -> PassageFilter:
        return PassageFilter(
            languages=list(self.languages or []), themes=list(self.themes or []),
            document_ids=list(self.document_ids or []), cities=list(self.cities or []),
            countries=list(self.countries or []), year_from=self.year_from, year_to=self.year_to,
        )  # fmt: skip


@dataclass(slots=True)
class SearchHit:
    passage_id: str
    document_id: str
    title: str
    source: str
    language: str
    page: int | None
    page_end: int | None
    section: str
    text: str
    score: float
    themes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SearchResponse:
    query: str
    mode: str
    total: int  # passages eligible under the filters (lexical mode: passages matching any term)
    results: list[SearchHit]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

"""Search request/response records (dataclasses: cheap to import, FastAPI serialises them as-is)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from nordsearch.search.filters import PassageFilter

# The search modes and result groupings: defined here once; the CLI, the HTTP API and the web
# page take their choices (and their validation) from these.
Mode = Literal["hybrid", "dense", "lexical"]
Group = Literal["passage", "document", "country", "city"]
MODES: tuple[str, ...] = get_args(Mode)
GROUPS: tuple[str, ...] = get_args(Group)
# groupings that compare places: the document metadata field each one reads (search.place_groups)
PLACE_GROUPS: dict[str, str] = {"country": "country", "city": "city"}
MAX_PASSAGES_PER_DOCUMENT = 10
MAX_K = 200
MAX_QUERY_CHARS = 2000


HUB_WEIGHT = 0.3  # the default of SearchRequest.hub_weight, also what similar passages use


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
    # Hybrid fusion (see search.fusion): dense score + lexical_weight * BM25 scaled to [0, 1] by
    # the best lexical hit * the share of query words the passage matched; then dense decides which
    # passage language fills each rank and the fused score only reorders passages within a language
    # (lexical matching cannot cross languages, so it must not decide between them).
    lexical_weight: float = 0.1
    # hubness reduction: the dense score is cosine - hub_weight * the passage's mean cosine to its
    # nearest passages in other languages, so generic text close to everything stops crowding
    # out answers (see search.hubness); 0 = plain cosine
    hub_weight: float = HUB_WEIGHT
    # "document": one result per document (its best passage), with up to passages_per_document
    # of its best passages under ``passages``; k and offset then count documents. "country" and
    # "city": the best places side by side, k documents each (search.place_groups). "passage": at
    # most passages_per_document passages of one document come before every other candidate
    # (the others follow when nothing else matches), so one long report in the query's own
    # language cannot fill the page of a cross-lingual question.
    group: Group = "passage"
    passages_per_document: int = 3
    # Snippet, highlighted terms and best sentence for each returned hit (no model call: the
    # sentence vectors are stored at index time; evaluation turns it off as scoring never reads it).
    snippets: bool = True
    # Collapse passages whose text is the same (or nearly: cosine >= DUPLICATE_COSINE) as a
    # better-ranked one, e.g. the same paragraph in two reports.
    collapse_duplicates: bool = True

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
        if self.lexical_weight < 0:
            raise ValueError("lexical_weight must be >= 0")
        if self.hub_weight < 0:
            raise ValueError("hub_weight must be >= 0")
        if self.group not in GROUPS:
            raise ValueError(f"group must be one of {', '.join(GROUPS)}")
        if not 1 <= self.passages_per_document <= MAX_PASSAGES_PER_DOCUMENT:
            raise ValueError(f"passages_per_document must be between 1 and {MAX_PASSAGES_PER_DOCUMENT}")
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
    snippet: str = ""  # the text shortened around the best sentence (plain text)
    highlights: list[list[int]] = field(default_factory=list)  # [start, end) of matched terms in snippet
    best_sentence: str = ""  # the sentence that best answers the query (any language)
    best_sentence_span: list[int] | None = None  # [start, end) of best_sentence in snippet
    # ids of passages with the same text elsewhere (collapsed into this hit)
    duplicates: list[str] = field(default_factory=list)
    # group="document" (and "country"/"city"): this document's best passages (this hit's own
    # first), each a SearchHit
    passages: list[SearchHit] = field(default_factory=list)
    # group="country"/"city": the place this hit's group compares (its document's metadata value)
    group_value: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SimilarItem:
    """A document (or passage) similar to a given one, with its best matching passage.

    ``score`` is what the ranking used. For a document: the share (0-1) of document pairs in the
    same two languages that match less well (search.similar_match). For a passage: the dense score
    search ranks by (cosine minus the hub correction). ``similarity`` is the plain cosine-based
    match behind it."""

    document_id: str
    title: str
    source: str
    language: str
    score: float
    text: str  # the best matching passage
    passage_id: str
    page: int | None = None
    section: str = ""
    similarity: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SearchResponse:
    query: str
    mode: str
    # passages eligible under the filters (lexical mode: passages matching any term); with
    # group="document", the documents holding them
    total: int
    results: list[SearchHit]
    group: str = "passage"
    has_more: bool = False  # another page exists after this one
    # documents per value of each facet (language, country, year, theme) among the documents
    # holding the passages ``total`` counts, most first (search.store_facets)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

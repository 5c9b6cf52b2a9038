"""search: the index and retrieval core (SQLite metadata + FAISS vectors + FTS5 BM25).

Importing this package is cheap on purpose: numpy, faiss and sentence-transformers are only
imported inside the functions that need them, so the CLI and API start fast.
"""

from nordsearch.search.embedder import Embedder, SentenceTransformerEmbedder, get_embedder
from nordsearch.search.errors import IndexLockedError, IndexMismatchError, IndexNotFoundError, SearchError
from nordsearch.search.filters import DocumentFilter, PassageFilter
from nordsearch.search.index import IndexStats, SearchIndex
from nordsearch.search.query import SearchHit, SearchRequest, SearchResponse

__all__ = [
    "DocumentFilter",
    "Embedder",
    "IndexLockedError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexStats",
    "PassageFilter",
    "SearchError",
    "SearchHit",
    "SearchIndex",
    "SearchRequest",
    "SearchResponse",
    "SentenceTransformerEmbedder",
    "get_embedder",
]

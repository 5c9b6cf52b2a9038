"""search: the index and retrieval core (SQLite metadata + FAISS vectors + FTS5 BM25).

Importing this package is cheap on purpose: numpy, faiss and sentence-transformers are only
imported inside the functions that need them, so the CLI and API start fast.
"""

from search.embedder import Embedder, SentenceTransformerEmbedder, get_embedder
from search.errors import IndexLockedError, IndexMismatchError, IndexNotFoundError, SearchError
from search.filters import DocumentFilter, PassageFilter
from search.index import IndexStats, SearchIndex
from search.query import SearchHit, SearchRequest, SearchResponse

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

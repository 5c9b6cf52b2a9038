"""Exceptions raised by the search package (messages are written for the person running the tool)."""

from __future__ import annotations


class SearchError(Exception):
    """Base class for every error the search package raises on purpose."""


class IndexMismatchError(SearchError):
    """The index was built with another model (or dimension) than the one in use now."""


class IndexNotFoundError(SearchError):
    """``SearchIndex.open(..., create=False)`` on a directory that holds no index."""


class IndexLockedError(SearchError):
    """Another process is writing to the index and did not release its lock in time."""

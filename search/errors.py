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


class DocumentIdError(SearchError, ValueError):
    """A document id, or id prefix, that names no document or more than one (a ValueError: every
    face reports it as a mistake in the request)."""


class UnknownDocumentError(DocumentIdError):
    """No document has this id, nor an id beginning with it."""


class AmbiguousDocumentIdError(DocumentIdError):
    """More than one document's id begins with this prefix."""

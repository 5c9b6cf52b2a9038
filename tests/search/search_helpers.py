"""Helpers for the search tests: hand-made IngestedFile records and a deterministic fake embedder.

The fake embedder is for index *mechanics* only (it hashes words into buckets, so texts sharing
words are similar); retrieval quality is tested with the real model in the slow tests.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from nordsearch.ingest.records import Document, IngestedFile, Passage, passage_id_for


class FakeEmbedder:
    def __init__(self, name: str = "fake-embedder", dimension: int = 32) -> None:
        self.name = name
        self.dimension = dimension
        self.calls = 0

    def _embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            if not out[i].any():
                out[i, 0] = 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts)


def make_file(
    doc_id: str,
    texts: list[str],
    *,
    source: str | None = None,
    language: str = "en",
    title: str | None = None,
    metadata: dict | None = None,
    themes: list[list[str]] | None = None,
    languages: list[str] | None = None,
) -> IngestedFile:
    """An IngestedFile with one passage per text (offsets as if the texts were joined by a space)."""
    passages = []
    pos = 0
    for i, text in enumerate(texts):
        passages.append(
            Passage(
                passage_id=passage_id_for(doc_id, i), document_id=doc_id, ordinal=i, text=text,
                language=(languages[i] if languages else language), char_start=pos, char_end=pos + len(text),
                page_start=i + 1, page_end=i + 1, section=f"Section {i}",
                themes=list(themes[i]) if themes else [],
            )
        )  # fmt: skip
        pos += len(text) + 1
    doc = Document(
        document_id=doc_id, source=source or f"/docs/{doc_id}.txt", title=title or f"Title {doc_id}",
        language=language, format="txt", pages=len(texts), size_bytes=pos, content_hash=doc_id,
        metadata=dict(metadata or {}), themes=sorted({t for ts in (themes or []) for t in ts}),
    )  # fmt: skip
    return IngestedFile(document=doc, passages=passages)


def vectors_for(embedder: FakeEmbedder, f: IngestedFile) -> np.ndarray:
    return embedder.embed_passages([p.text for p in f.passages])


def upsert(store, embedder: FakeEmbedder, f: IngestedFile):
    """Store ``f`` with the fake embedder's vectors (search.store.Store.upsert_document)."""
    return store.upsert_document(f, vectors_for(embedder, f))


# SQLite FTS5 is the reference search.lexical_index is tested against (it was the product's BM25).
def fts_match_expression(terms: list[str]) -> str | None:
    """An FTS5 MATCH string OR-ing the terms, each double-quoted so user input can never be parsed
    as FTS5 syntax (AND/OR/NOT, parentheses, "*", column filters ":"). None when nothing is left."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms if t]
    return " OR ".join(quoted) if quoted else None

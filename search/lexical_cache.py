"""The lexical index (search.lexical_index) as a cache of the store, like vectors.faiss: built from
the stored analysed terms, brought up to date by id difference (vector ids are never reused and a
stored passage's terms never change, except when the analyser does: that changes the stamp and
rebuilds), saved as lexical.npz with a small manifest naming the store generation it reflects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nordsearch.search import lexical
from nordsearch.search.fsutil import atomic_write_text
from nordsearch.search.lexical_index import FORMAT_VERSION, LexicalIndex

if TYPE_CHECKING:
    from nordsearch.search.locking import ReadWriteLock
    from nordsearch.search.store import Store

LEXICAL_FILE = "lexical.npz"
LEXICAL_MANIFEST = "lexical.json"
BUILD_CHUNK = 20_000  # passages read and indexed at a time when building from the store


def stamp() -> str:
    """What the saved file must have been built with to be usable: the analyser and the format."""
    return f"analyzer-{lexical.ANALYZER_VERSION}+format-{FORMAT_VERSION}"


@dataclass(slots=True)
class Loaded:
    index: LexicalIndex
    generation: int  # store generation the file reflects (catch up when the store is past it)


def build(store: Store) -> LexicalIndex:
    """An index of every stored passage, read in chunks (bounded memory at any size)."""
    import numpy as np

    index = LexicalIndex.build(np.zeros(0, dtype=np.int64), [])
    after = 0
    while rows := store.lexical_rows(after, BUILD_CHUNK):
        index.add(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), [r[1] for r in rows])
        after = rows[-1][0]
    index.compact()
    return index


def catch_up(index: LexicalIndex, store: Store) -> bool:
    """Bring ``index`` to the store's passages by id difference; True if anything changed."""
    import numpy as np

    stored = store.vector_ids()
    have = index.ids()
    gone = np.setdiff1d(have, stored, assume_unique=True)
    new = np.setdiff1d(stored, have, assume_unique=True)
    index.remove(gone)
    for start in range(0, len(new), BUILD_CHUNK):
        chunk = new[start : start + BUILD_CHUNK]
        terms = store.lexical_terms(chunk.tolist())
        present = np.asarray([i for i in chunk.tolist() if i in terms], dtype=np.int64)  # deleted meanwhile
        index.add(present, [terms[int(i)] for i in present])
    if index.needs_compaction:
        index.compact()
    return bool(len(gone) or len(new))


def load(directory: Path) -> Loaded | None:
    """The saved index, or None when missing, unreadable or built with another analyser/format."""
    manifest = _manifest(directory)
    if manifest is None:
        return None
    index = LexicalIndex.load(Path(directory) / LEXICAL_FILE)
    if index is None:
        return None
    generation, count = manifest
    # the file and the manifest disagree (a crash between the two writes): catch up from the store
    return Loaded(index, generation if index.count == count else -1)


def save(index: LexicalIndex, directory: Path, generation: int) -> None:
    """lexical.npz then lexical.json, each atomically; the manifest last, so a crash in between
    leaves an older manifest whose count no longer matches the file (load then catches up)."""
    index.save(Path(directory) / LEXICAL_FILE)
    manifest = {"generation": generation, "count": index.count, "stamp": stamp()}
    atomic_write_text(Path(directory) / LEXICAL_MANIFEST, json.dumps(manifest, sort_keys=True) + "\n")


def saved_generation(directory: Path) -> int | None:
    """The generation recorded beside the saved file (None when absent or of another stamp)."""
    manifest = _manifest(directory)
    return None if manifest is None else manifest[0]


def _manifest(directory: Path) -> tuple[int, int] | None:
    """(generation, count) from lexical.json when it is readable and of this stamp, else None."""
    try:
        data = json.loads((Path(directory) / LEXICAL_MANIFEST).read_text(encoding="utf-8"))
        if str(data["stamp"]) != stamp():
            return None
        return int(data["generation"]), int(data["count"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Current:
    """The lexical index of one index directory kept current with the store in memory: from the
    saved file when there is one, caught up by id difference, else built. ``lock`` is the vector
    space's read-write lock (search.locking): catching up takes its write side."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.index: LexicalIndex | None = None
        self.generation = -1

    def get(self, store: Store, lock: ReadWriteLock) -> LexicalIndex:
        index = self.index
        if index is not None and self.generation == store.generation():
            return index
        with lock.write():
            generation = store.generation()  # before reading passages: never labelled newer
            if self.index is not None and self.generation == generation:
                return self.index
            if self.index is None:
                loaded = load(self.directory)
                if loaded is not None:
                    self.index, self.generation = loaded.index, loaded.generation
                    if loaded.generation == generation:
                        return loaded.index
            if self.index is None:
                self.index = build(store)
            else:
                catch_up(self.index, store)
            self.generation = generation
            return self.index

    def save(self, store: Store, lock: ReadWriteLock) -> bool:
        """Write lexical.npz + lexical.json unless the saved ones are current (writer only)."""
        if saved_generation(self.directory) == store.generation():
            return False
        index = self.get(store, lock)
        with lock.read():  # a consistent snapshot: no catch-up while writing it
            save(index, self.directory, self.generation)
        return True

"""The store's tables (search.store): their schema, the migrations from older schema versions, and
the re-analysis of stored passages when the lexical analyser changes.

Opening an index built by an older nordsearch migrates it in place, in one transaction; one built
by a newer nordsearch is refused (IndexMismatchError) rather than misread.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from nordsearch.search import lexical
from nordsearch.search.errors import IndexMismatchError

if TYPE_CHECKING:
    from nordsearch.search.store_database import StoreDatabase

SCHEMA_VERSION = 6
# Columns added since version 1 (ALTER TABLE on open): an index built by an older nordsearch keeps
# working; its passages simply have no sentence vectors (snippets then pick by matched terms) and
# their hub scores are computed at the next write.
_MIGRATIONS = {
    2: [
        "ALTER TABLE passages ADD COLUMN sentences TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE passages ADD COLUMN sentence_vectors BLOB",
        "ALTER TABLE passages ADD COLUMN hub REAL",
    ],
    3: ["ALTER TABLE passages ADD COLUMN signature BLOB"],
    # the theme table (created by _SCHEMA) filled from the passages stored before it existed
    4: [
        "INSERT OR IGNORE INTO passage_themes(theme, passage) SELECT j.value, p.rowid FROM passages p, json_each(p.themes) j"
    ],
    # BM25 moved to search.lexical_index (in memory, derived from the lexical column like FAISS)
    5: [
        "DROP TRIGGER IF EXISTS passages_ai",
        "DROP TRIGGER IF EXISTS passages_ad",
        "DROP TRIGGER IF EXISTS passages_au",
        "DROP TABLE IF EXISTS passages_fts",
    ],
    # where pages begin inside a passage; an older index's passages have none (a hit then cites
    # its passage's first page, as before)
    6: ["ALTER TABLE passages ADD COLUMN page_breaks TEXT NOT NULL DEFAULT '[]'"],
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    language TEXT NOT NULL,
    format TEXT NOT NULL,
    pages INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    themes TEXT NOT NULL DEFAULT '[]',
    passage_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE INDEX IF NOT EXISTS documents_hash ON documents(content_hash);
-- AUTOINCREMENT: a vector id is never reused, so a stale FAISS file can never map an old id
-- onto a different passage.
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    passage_id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    language TEXT NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    page_start INTEGER,
    page_end INTEGER,
    section TEXT NOT NULL DEFAULT '',
    themes TEXT NOT NULL DEFAULT '[]',
    lexical TEXT NOT NULL,
    vector BLOB NOT NULL,
    sentences TEXT NOT NULL DEFAULT '[]',  -- [[start, end], ...] relative to text
    sentence_vectors BLOB,  -- search.quantize: one int8 row per sentence (late-chunked)
    hub REAL,  -- search.hubness score, kept current at write time; NULL until computed
    signature BLOB,  -- search.duplicates: near-duplicate signature of the text
    page_breaks TEXT NOT NULL DEFAULT '[]'  -- [[offset in text, page], ...] of pages begun inside it
);
CREATE INDEX IF NOT EXISTS passages_document ON passages(document_id, ordinal);
CREATE INDEX IF NOT EXISTS passages_language ON passages(language);
-- Each passage's themes as rows, kept by triggers: a theme filter is an index
-- lookup, not a JSON scan of every passage.
CREATE TABLE IF NOT EXISTS passage_themes (
    theme TEXT NOT NULL,
    passage INTEGER NOT NULL,
    PRIMARY KEY (theme, passage)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS passage_themes_passage ON passage_themes(passage);
CREATE TRIGGER IF NOT EXISTS passages_themes_ai AFTER INSERT ON passages BEGIN
    INSERT OR IGNORE INTO passage_themes(theme, passage) SELECT value, new.rowid FROM json_each(new.themes);
END;
CREATE TRIGGER IF NOT EXISTS passages_themes_ad AFTER DELETE ON passages BEGIN
    DELETE FROM passage_themes WHERE passage = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS passages_themes_au AFTER UPDATE OF themes ON passages BEGIN
    DELETE FROM passage_themes WHERE passage = old.rowid;
    INSERT OR IGNORE INTO passage_themes(theme, passage) SELECT value, new.rowid FROM json_each(new.themes);
END;
-- The sample of passage vectors hub scores are measured against (search.hubness.HubReference).
CREATE TABLE IF NOT EXISTS hub_reference (row INTEGER PRIMARY KEY, language TEXT NOT NULL, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    source TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    mtime REAL,
    size INTEGER,
    indexed_at TEXT NOT NULL
);
"""


def open_schema(db: StoreDatabase) -> None:
    """Bring the database to SCHEMA_VERSION and its lexical column to the current analyser: create
    the tables of a new database, migrate an older one, refuse a newer one (IndexMismatchError)."""
    if _is_current(db):  # the common case: open without taking SQLite's write lock
        return
    with db.transaction() as c:
        # statement by statement: executescript() would COMMIT our transaction
        for stmt in _split_sql(_SCHEMA):
            c.execute(stmt)
        version = db.meta("schema_version")
        if version is None:
            db.set_meta("schema_version", str(SCHEMA_VERSION))
            db.set_meta("generation", "0")
        elif int(version) < SCHEMA_VERSION:
            for step in range(int(version) + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[step]:
                    c.execute(stmt)
            db.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) != SCHEMA_VERSION:
            raise IndexMismatchError(
                f"index at {db.path.parent} has schema version {version}, this nordsearch expects "
                f"{SCHEMA_VERSION}; re-index with --rebuild"
            )
    _reanalyze_if_needed(db)


def _is_current(db: StoreDatabase) -> bool:
    try:
        return db.meta("schema_version") == str(SCHEMA_VERSION) and (
            db.meta("analyzer_version") == lexical.ANALYZER_VERSION
        )
    except sqlite3.OperationalError:  # no meta table yet: a new database
        return False


def _reanalyze_if_needed(db: StoreDatabase) -> None:
    """Re-run lexical analysis when the analyser changed since these passages were stored."""
    with db.transaction() as c:
        if db.meta("analyzer_version") == lexical.ANALYZER_VERSION:
            return
        rows = c.execute("SELECT rowid, text, language FROM passages").fetchall()
        for rowid, text, language in rows:
            c.execute(
                "UPDATE passages SET lexical = ? WHERE rowid = ?",
                (lexical.analyze_passage(text, language), rowid),
            )
        db.set_meta("analyzer_version", lexical.ANALYZER_VERSION)


def _split_sql(script: str) -> list[str]:
    """Split the schema into statements (trigger bodies contain ';', so split on 'END;' boundaries too)."""
    statements: list[str] = []
    buf: list[str] = []
    for line in script.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        buf.append(line)
        joined = "\n".join(buf)
        if sqlite3.complete_statement(joined):
            statements.append(joined)
            buf = []
    return statements

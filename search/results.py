"""Ranked (vector id, score) lists -> the page of hits a search returns: near-duplicates
collapsed, grouped by document when asked, and snippets with the best sentence."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from nordsearch.search.duplicates import DuplicateFinder
from nordsearch.search.quantize import unpack
from nordsearch.search.query import SearchHit, SearchRequest
from nordsearch.search.snippets import (
    TermMatcher,
    build_snippet,
    choose_best,
    query_terms,
    sentence_spans,
)

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.ingest.records import Passage
    from nordsearch.search.centering import LanguageOffsets
    from nordsearch.search.store import Store, StoredPassage

# passages read from the store at a time while building a page: the first read is a little more
# than the page needs (most pages fill from it), later reads grow, so a page of 10 reads ~16
# passages, not the whole candidate pool (reading 256 at once cost ~4 ms a search)
FIRST_CHUNK_SLACK = 6
CHUNK_GROWTH = 4


def assemble(
    store: Store, ranked: list[tuple[int, float]], request: SearchRequest
) -> tuple[list[SearchHit], bool, SentenceData]:
    """Ranked passages -> the requested page of hits: near-duplicates collapsed into the best-ranked
    copy; in passage mode at most request.passages_per_document passages of one document before
    every other candidate's; with group="document" one hit per document carrying its best
    passages. Also the stored sentence spans and vectors of every passage read (for add_snippets)."""

    need = request.offset + request.k
    by_doc = request.group == "document"
    leaders: list[SearchHit] = []  # passage mode: distinct passages; document mode: documents
    doc_hit: dict[str, SearchHit] = {}
    seen = DuplicateFinder()
    # passage mode: a document's passages beyond passages_per_document wait until no other
    # document's remain (one long report in the query's language would otherwise fill the page)
    per_doc: dict[str, int] = {}
    deferred: list[SearchHit] = []
    sentences: SentenceData = {}
    done = False
    for chunk in _chunks(ranked, need + FIRST_CHUNK_SLACK):
        stored = store.get_passages([vid for vid, _ in chunk])
        for vid, score in chunk:
            sp = stored.get(vid)
            if sp is None:
                continue
            hit = _hit(sp, score)
            sentences[hit.passage_id] = (sp.passage, sp.sentence_vectors)
            if request.collapse_duplicates:
                original = seen.find(sp.passage.text, sp.signature)
                if isinstance(original, SearchHit):
                    if original.document_id != hit.document_id:
                        original.duplicates.append(hit.passage_id)
                    continue
                seen.add(sp.passage.text, hit, sp.signature)
            if not by_doc:
                shown = per_doc.get(hit.document_id, 0)
                per_doc[hit.document_id] = shown + 1
                if shown >= request.passages_per_document:
                    deferred.append(hit)
                    continue
                leaders.append(hit)
                if len(leaders) > need:
                    done = True
                    break
                continue
            group = doc_hit.get(hit.document_id)
            if group is None:
                if len(leaders) > need:  # page full (plus one to know there is more): stop
                    done = True
                    break
                hit.passages.append(_copy_hit(hit))
                doc_hit[hit.document_id] = hit
                leaders.append(hit)
            elif len(group.passages) < request.passages_per_document:
                group.passages.append(hit)
        if done:
            break
    if not done:  # every candidate seen: a document's further passages follow, best first,
        # each shown with at most the score above it (the order they are in is the ranking's)
        for hit in deferred[: need + 1 - len(leaders)]:
            hit.score = min(hit.score, leaders[-1].score) if leaders else hit.score
            leaders.append(hit)
    page = leaders[request.offset : need]
    return page, len(leaders) > need, sentences


SentenceData = dict[str, tuple["Passage", "bytes | None"]]  # passage id -> it, with its sentence vectors


def _chunks(ranked: list[tuple[int, float]], first: int) -> Iterator[list[tuple[int, float]]]:
    """``ranked`` in consecutive slices: ``first`` long, then CHUNK_GROWTH times longer each time."""
    start, size = 0, max(first, 1)
    while start < len(ranked):
        yield ranked[start : start + size]
        start += size
        size *= CHUNK_GROWTH


def add_snippets(
    hits: list[SearchHit],
    q: str,
    qv: np.ndarray | None,
    sentences: SentenceData,
    *,
    offsets: Callable[[], LanguageOffsets | None],
) -> None:
    """Snippet, highlights and best sentence for each hit (and the passages under a document hit).

    The best sentence is the one whose vector (computed at index time from the passage's own
    forward pass, see search.embedder) is closest to the query, matched terms breaking near-ties:
    no model call here. ``sentences`` maps a passage id to its stored sentence spans and packed
    vectors; passages stored without them are split here and judged by matched terms only, as
    is everything in a lexical search (no query vector; ``offsets`` is then never called).
    """
    import numpy as np

    terms = query_terms(q)
    matcher = TermMatcher(terms)
    language_offsets = offsets() if qv is not None else None
    nested = [p for hit in hits for p in hit.passages[1:]]
    for h in hits + nested:
        passage, blob = sentences.get(h.passage_id, (None, None))
        spans = passage.sentences if passage is not None else []
        sims = None
        if spans and blob is not None and qv is not None:
            matrix = unpack(blob, len(qv))
            if language_offsets is not None:
                matrix = language_offsets.center_passages(matrix, [h.language] * len(matrix))
            sims = matrix @ qv
        spans = spans or sentence_spans(h.text, h.language)
        texts = [h.text[s:e] for s, e in spans]
        matches = matcher.spans(h.text, h.language)  # once per passage, counted per sentence
        starts = [a for a, _ in matches]
        counts = [bisect.bisect_left(starts, e) - bisect.bisect_left(starts, s) for s, e in spans]
        best = (
            choose_best(texts, sims if sims is not None else np.zeros(len(spans)), counts) if spans else None
        )
        snip = build_snippet(h.text, spans, best, terms, h.language, matches=matches)
        if best is not None and passage is not None and passage.page_breaks:
            # cite the page(s) of the best sentence, not the passage's first page
            h.page, h.page_end = passage.page_at(spans[best][0]), passage.page_at(spans[best][1] - 1)
        h.snippet, h.highlights, h.best_sentence, h.best_sentence_span = (
            snip.text, snip.highlights, snip.best_sentence, snip.best_span,
        )  # fmt: skip
    for h in hits:  # a document hit's first passage is itself: share the result
        if h.passages:
            first = h.passages[0]
            first.snippet, first.highlights = h.snippet, h.highlights
            first.best_sentence, first.best_sentence_span = h.best_sentence, h.best_sentence_span
            first.page, first.page_end = h.page, h.page_end


def _copy_hit(hit: SearchHit) -> SearchHit:
    """The hit as one of a document hit's passages (no nesting, own duplicate list)."""
    import copy

    out = copy.copy(hit)
    out.passages, out.duplicates = [], []
    return out


def _hit(sp: StoredPassage, score: float) -> SearchHit:
    p = sp.passage
    return SearchHit(
        passage_id=p.passage_id, document_id=p.document_id, title=sp.title, source=sp.source, language=p.language,
        page=p.page_start, page_end=p.page_end, section=p.section, text=p.text, score=round(score, 6),
        themes=list(p.themes),
    )  # fmt: skip

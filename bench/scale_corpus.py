"""Grow a real index into a synthetic one of N passages, for the scale benchmark (bench_scale.py).

Copy ``c`` of a real document keeps its language, themes, metadata and sentence structure; its
passages get new text (each word replaced, with probability ``WORD_SWAP``, by a word drawn from
the same language's running text, so term frequencies and passage lengths stay realistic and no
two copies are near-duplicates) and new vectors (the real vector plus Gaussian noise of norm
``NOISE``, renormalised: a plausible passage in the same neighbourhood). Everything goes through
the product's write path (SearchIndex.add_embedded, then save(): hub scores, FAISS/HNSW,
manifest), so the index is exactly what `nordsearch index` would leave, minus the model call.

The result is cached under ``--work``: rebuilt only when the source, size or this recipe change.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

from nordsearch.ingest.records import Document, IngestedFile, Passage, passage_id_for  # noqa: E402
from nordsearch.search.index import STORE_FILE, SearchIndex  # noqa: E402
from nordsearch.search.quantize import unpack  # noqa: E402
from nordsearch.search.store import Store  # noqa: E402

RECIPE = 1  # bump when the way copies are made changes: cached indexes are rebuilt
WORD_SWAP = 0.3
NOISE = 0.3
DONE_FILE = "synthetic.json"


@dataclass(slots=True)
class Source:
    """The real collection the copies are made from."""

    documents: list[tuple[Document, list[Passage], np.ndarray, list[np.ndarray | None]]]
    words: dict[str, list[str]]  # language -> running words of its passages
    model: tuple[str, int]
    offsets: str | None  # the source's language offsets (same model): copied, not recomputed
    fingerprint: str

    @property
    def passages(self) -> int:
        return sum(len(p) for _, p, _, _ in self.documents)


def read_source(index_dir: Path) -> Source:
    store = Store(index_dir / STORE_FILE)
    try:
        model = store.model()
        if model is None:
            raise SystemExit(f"{index_dir}: no model recorded; index the shared corpus first")
        documents = []
        words: dict[str, list[str]] = {}
        for doc in store.list_documents(limit=1_000_000):
            passages = store.passages_of(doc.document_id)
            ids = store.vector_ids_of(doc.document_id)
            stored = store.get_passages(ids)
            _, matrix = store.vectors_for(ids)
            svs = [
                unpack(stored[i].sentence_vectors, model[1]) if stored[i].sentence_vectors else None
                for i in ids
            ]
            documents.append((doc, passages, matrix, svs))
            for p in passages:
                words.setdefault(p.language, []).extend(p.text.split())
        fingerprint = hashlib.sha256(
            "\n".join(sorted(f"{d.document_id}:{len(p)}" for d, p, _, _ in documents)).encode()
        ).hexdigest()[:16]
        return Source(documents, words, model, store.get_meta("language_offsets"), fingerprint)
    finally:
        store.close()


def _rewrite(passage: Passage, words: list[str], rng: random.Random) -> tuple[str, list[tuple[int, int]]]:
    """New text for a passage copy, sentence by sentence, and its sentence spans."""
    spans = passage.sentences or [(0, len(passage.text))]
    parts: list[str] = []
    out_spans: list[tuple[int, int]] = []
    pos = 0
    for start, end in spans:
        sentence = " ".join(
            rng.choice(words) if rng.random() < WORD_SWAP else w for w in passage.text[start:end].split()
        )
        if parts:
            parts.append(" ")
            pos += 1
        out_spans.append((pos, pos + len(sentence)))
        parts.append(sentence)
        pos += len(sentence)
    return "".join(parts), out_spans


def _noisy(matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    d = matrix.shape[1]
    out = matrix + rng.normal(0, NOISE / np.sqrt(d), matrix.shape).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def copy_document(source: Source, n: int, copy: int, seed: int) -> tuple[IngestedFile, np.ndarray, list]:
    doc, passages, matrix, svs = source.documents[n]
    rng = random.Random(f"{seed}:{copy}:{n}")
    nprng = np.random.default_rng([seed, copy, n])
    document_id = hashlib.sha256(f"{doc.document_id}:{copy}".encode()).hexdigest()
    new_doc = Document(
        document_id=document_id, source=f"synthetic/{copy}/{Path(doc.source).name}",
        title=f"{doc.title} ({copy})", language=doc.language, format=doc.format, pages=doc.pages,
        size_bytes=doc.size_bytes, content_hash=document_id, metadata=dict(doc.metadata), themes=list(doc.themes),
    )  # fmt: skip
    new_passages = []
    for p in passages:
        text, spans = _rewrite(p, source.words.get(p.language) or p.text.split(), rng)
        new_passages.append(
            Passage(
                passage_id=passage_id_for(document_id, p.ordinal),
                document_id=document_id,
                ordinal=p.ordinal,
                text=text,
                language=p.language,
                char_start=p.char_start,
                char_end=p.char_start + len(text),
                page_start=p.page_start,
                page_end=p.page_end,
                section=p.section,
                themes=list(p.themes),
                sentences=spans,
            )  # fmt: skip
        )
    noisy_svs = [None if sv is None else _noisy(sv, nprng) for sv in svs]
    return IngestedFile(new_doc, new_passages), _noisy(matrix, nprng), noisy_svs


def build(source: Source, target: Path, size: int, *, seed: int = 0, log=print) -> dict:
    """A synthetic index of at least ``size`` passages at ``target`` (cached). Returns its record."""
    want = {"recipe": RECIPE, "source": source.fingerprint, "size": size, "seed": seed}
    done = target / DONE_FILE
    if done.exists():
        record = json.loads(done.read_text())
        if {k: record.get(k) for k in want} == want:
            return record
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    started = time.perf_counter()
    store = Store(target / STORE_FILE)
    store.set_model(*source.model)
    if source.offsets:
        store.put_meta("language_offsets", source.offsets)
    store.close()
    passages = 0
    with SearchIndex.open(target) as index:
        copy = 0
        while passages < size:
            for n in range(len(source.documents)):
                if passages >= size:
                    break
                ingested, vectors, svs = copy_document(source, n, copy, seed)
                index.add_embedded(ingested, vectors, sentence_vectors=svs, mtime=0.0)
                passages += len(ingested.passages)
            copy += 1
            log(f"  {passages:>9,} passages written ({time.perf_counter() - started:.0f} s)")
        written = time.perf_counter() - started
        index.save()  # hub scores rescored, FAISS (HNSW past its threshold) built and saved
    record = {
        **want, "passages": passages, "write_s": round(written, 1),
        "save_s": round(time.perf_counter() - started - written, 1),
    }  # fmt: skip
    done.write_text(json.dumps(record, indent=2) + "\n")
    return record


def refresh(target: Path) -> float:
    """Bring the index's derived files (FAISS, ...) up to this code's format: seconds taken (0 when
    they were current). Cached synthetic stores outlive changes to those formats."""
    started = time.perf_counter()
    with SearchIndex.open(target) as index:
        index.save()
    return round(time.perf_counter() - started, 1)

"""The vector index's manifest: what ``vectors.faiss`` was built from, checked on every load.

The manifest is written after the FAISS file (search.vectors), so a crash between the two leaves
an old manifest whose generation or count no longer matches, and the file is rebuilt from the store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nordsearch.search.errors import IndexMismatchError

VECTORS_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(slots=True)
class Manifest:
    model: str
    dimension: int
    count: int
    index_type: str
    generation: int
    created: str
    version: int = MANIFEST_VERSION
    # HNSW cannot delete: removed passages stay in vectors.faiss, masked out at search time.
    # Their ids are listed here; a rebuild compacts them away past search.vectors.COMPACT_FRACTION.
    deleted_ids: list[int] = field(default_factory=list)
    # How stored vectors were transformed before going into FAISS (e.g. language centring with
    # given offsets); a file built with another transform is stale and rebuilt from the store.
    transform: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            model=str(data["model"]), dimension=int(data["dimension"]), count=int(data["count"]),
            index_type=str(data["index_type"]), generation=int(data["generation"]), created=str(data["created"]),
            version=int(data.get("version", MANIFEST_VERSION)),
            deleted_ids=[int(i) for i in data.get("deleted_ids", [])],
            transform=str(data.get("transform", "")),
        )  # fmt: skip


def check_manifest(
    manifest: Manifest, model: str, dimension: int, generation: int, count: int, transform: str
) -> bool:
    """True if the saved vectors are current for the store; False if stale (rebuild from the store).

    A different model is not staleness but a configuration error: the stored vectors themselves
    are from another model, so rebuilding the FAISS file cannot fix it. Another transform (e.g.
    new hub scores) is staleness, and so is, with it, another dimension.
    """
    if manifest.model != model:
        raise IndexMismatchError(
            f"the vector index was built with model {manifest.model!r} but the store holds vectors of "
            f"{model!r}; re-index with --rebuild or use the right model"
        )
    if manifest.transform != transform:
        return False
    if manifest.dimension != dimension:
        raise IndexMismatchError(
            f"the vector index has dimension {manifest.dimension} but the store's model {model!r} gives "
            f"{dimension}; re-index with --rebuild"
        )
    return manifest.generation == generation and manifest.count == count

"""Hub-score storage (search.store): the hub reference sample (search.hubness.HubReference), each
passage's hub score, and the meta values that describe them.

Scores are kept current at write time: upsert_document stores each new passage's score beside it
(when given one), and put_hub_reference rescores every passage when search.index rebuilds the
reference (it decides when, from hub_state). A passage without a score (an index from before hub
scores were stored) reads as the lowest one, hub_min.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.search.hubness import HubReference
    from nordsearch.search.store_database import StoreDatabase


class HubStore:
    """The hub_reference table, the passages' hub column and the hub_* meta values."""

    def __init__(self, db: StoreDatabase) -> None:
        self._db = db

    def put_hub_reference(self, reference: HubReference, ids: np.ndarray, hubs: np.ndarray) -> None:
        """Replace the hub reference and every passage's hub score with ones computed from it, in one
        transaction. The generation moves on: FAISS holds each passage's hub score beside its vector
        (search.index), so every reader must notice the new scores."""
        import uuid

        import numpy as np

        with self._db.transaction() as c:
            c.execute("DELETE FROM hub_reference")
            c.executemany(
                "INSERT INTO hub_reference(row, language, vector) VALUES (?, ?, ?)",
                ((i, lang, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                 for i, (lang, v) in enumerate(zip(reference.languages, reference.matrix, strict=True))),
            )  # fmt: skip
            c.executemany(
                "UPDATE passages SET hub = ? WHERE rowid = ?",
                zip(hubs.astype(float).tolist(), ids.tolist(), strict=True),
            )
            meta = {
                "k": reference.k, "fallback": reference.fallback, "size": reference.size,
                "id": uuid.uuid4().hex[:16],  # names this set of scores (search.index's FAISS transform)
            }  # fmt: skip
            self._db.set_meta("hub_reference", json.dumps(meta))
            self._db.bump_generation()
            self._db.set_meta("hub_changes", "0")
            self._db.set_meta("hub_min", repr(float(hubs.min())) if len(hubs) else "0.0")

    def hub_reference(self) -> HubReference | None:
        """The stored hub reference, or None when none was built yet."""
        import numpy as np

        from nordsearch.search.hubness import HubReference

        raw = self._db.meta("hub_reference")
        model = self._db.model()
        if not raw or model is None:
            return None
        meta = json.loads(raw)
        rows = self._db.query("SELECT language, vector FROM hub_reference ORDER BY row")
        matrix = np.empty((len(rows), model[1]), dtype=np.float32)
        for i, r in enumerate(rows):
            matrix[i] = np.frombuffer(r[1], dtype=np.float32)
        return HubReference(
            matrix, [r[0] for r in rows], int(meta["k"]), float(meta["fallback"]), int(meta["size"])
        )

    def hub_stamp(self) -> tuple[str, float]:
        """(the id of the current hub scores, their mean), ("", 0.0) before any were computed."""
        raw = self._db.meta("hub_reference")
        if not raw:
            return "", 0.0
        meta = json.loads(raw)
        return str(meta.get("id", "legacy")), float(meta["fallback"])

    def hub_state(self, *, count_missing: bool = False) -> tuple[int, int, int]:
        """(collection size when the hub reference was built, passages added or removed since,
        passages without a hub score - counted only when asked: it reads every passage); size 0
        when there is no reference yet."""
        rows = dict(
            self._db.query("SELECT key, value FROM meta WHERE key IN ('hub_reference', 'hub_changes')")
        )
        raw = rows.get("hub_reference")
        size = int(json.loads(raw)["size"]) if raw else 0
        changes = int(rows.get("hub_changes") or 0)
        missing = 0
        if count_missing:
            missing = int(self._db.query("SELECT count(*) FROM passages WHERE hub IS NULL")[0][0])
        return size, changes, missing

    def hub_scores(self, vector_ids: Sequence[int]) -> np.ndarray:
        """Each given passage's stored hub score. Passages not scored yet (an index from before hub
        scores were stored, until its next write) count as the lowest score, ids not stored as 0."""
        import numpy as np

        ids = [int(i) for i in vector_ids]
        low = self.hub_min()
        found: dict[int, float] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._db.query(f"SELECT rowid, hub FROM passages WHERE rowid IN ({marks})", chunk):
                found[int(r[0])] = low if r[1] is None else float(r[1])
        return np.fromiter((found.get(i, 0.0) for i in ids), dtype=np.float32, count=len(ids))

    def all_hubs(self) -> tuple[np.ndarray, np.ndarray]:
        """(every passage's vector id, its hub score as hub_scores gives it), in id order."""
        import numpy as np

        low = self.hub_min()
        rows = self._db.query("SELECT rowid, hub FROM passages ORDER BY rowid")
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        hubs = np.fromiter((low if r[1] is None else r[1] for r in rows), dtype=np.float32, count=len(rows))
        return ids, hubs

    def hub_min(self) -> float:
        """A lower bound of every stored hub score (kept at write time; deletions only loosen it)."""
        raw = self._db.meta("hub_min")
        return float(raw) if raw else 0.0

    def lower_min(self, hubs: np.ndarray) -> None:
        """Keep hub_min a lower bound after new passages were scored ``hubs``; only inside the
        transaction that stores them."""
        import numpy as np

        if len(hubs):
            low = self._db.meta("hub_min")
            self._db.set_meta("hub_min", repr(min(float(np.min(hubs)), float(low) if low else np.inf)))

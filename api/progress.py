"""A rich progress bar for batch indexing: files, passages, rate and ETA."""

from __future__ import annotations

from nordsearch.search.batch import FileOutcome, Progress


class RichProgress(Progress):
    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("[bold]indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[passages]} passages · {task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = None
        self._passages = 0

    def start(self, total_files: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("index", total=total_files, passages=0, rate="")

    def advance(self, outcome: FileOutcome) -> None:
        self._passages += outcome.passages
        elapsed = self._bar.tasks[0].elapsed or 0.0
        rate = f"{self._passages / elapsed:.1f} passages/s" if elapsed > 0 and self._passages else ""
        self._bar.update(self._task, advance=1, passages=self._passages, rate=rate)
        if outcome.status == "failed":
            self._bar.console.print(f"[red]failed[/red] {outcome.source}: {outcome.reason}")

    def finish(self) -> None:
        self._bar.stop()

"""How `nordsearch search` prints: its results as a terminal listing, its option errors by the
names the user typed."""

from __future__ import annotations

SEARCH_OPTIONS = {"q": "QUERY", "k": "-k", "document_id": "--document"}  # SearchParams field -> its CLI name


def options_error(exc) -> str:
    """A pydantic ValidationError of SearchParams as the options the user typed."""
    parts = []
    for e in exc.errors():
        field = str(e["loc"][0]) if e.get("loc") else ""
        name = SEARCH_OPTIONS.get(field) or "--" + field.replace("_", "-")
        got = e.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int) and len(str(got)) <= 80 else ""
        parts.append(f"{name}: {e['msg']}{shown}")
    return "; ".join(parts)


def print_results(data: dict) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if not data["results"]:
        console.print("No results.")
        return
    place = None
    rank = data.get("offset", 0)
    for hit in data["results"]:
        if hit.get("group_value") and hit["group_value"] != place:  # group=country/city: a heading per place
            place, rank = hit["group_value"], data.get("offset", 0)
            console.print(f"\n[bold underline]{escape(place)}[/bold underline]")
        rank += 1
        page = f" p. {hit['page']}" if hit.get("page") else ""
        console.print(
            f"[bold]{rank}. {escape(hit['title'] or '')}[/bold] [dim]({hit['language']}{page}, "
            f"score {hit['score']:.3f})[/dim]"
        )
        console.print(f"   [dim]{escape(hit['source'])}[/dim]")
        console.print("   " + marked(hit))


def marked(hit: dict) -> str:
    """The hit's snippet as rich markup: matched terms bold, the best sentence underlined."""
    from rich.markup import escape

    text = hit.get("snippet") or " ".join(hit["text"].split())[:300]
    if not hit.get("snippet"):
        return escape(text)
    marks = {}
    for start, end in hit.get("highlights") or []:
        marks.setdefault(start, []).append("[bold]")
        marks.setdefault(end, []).insert(0, "[/bold]")
    span = hit.get("best_sentence_span")
    if span:
        marks.setdefault(span[0], []).insert(0, "[underline]")
        marks.setdefault(span[1], []).insert(0, "[/underline]")
    out, last = [], 0
    for pos in sorted(marks):
        out.append(escape(text[last:pos]))
        out.extend(marks[pos])
        last = pos
    out.append(escape(text[last:]))
    return "".join(out)

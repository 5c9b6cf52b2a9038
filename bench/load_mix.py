"""A bounded mixed load on a running server: many clients searching and reading documents while one
uploads new reports as background jobs, one after another, until the time is up.

Shared by bench/bench_load.py (which reports latencies and memory) and tests/api/test_load.py
(which asserts no errors and consistent snapshots). Each uploaded report carries a word no other
document has (``MARKER``), so a lexical search for it counts exactly the uploaded passages the
server shows: a consistent snapshot shows the passages of whole reports only, i.e. a prefix sum
of the finished jobs' per-file passage counts.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MARKER = "Qorvikstad"  # a made-up town: in no real document, one token in every language
QUERIES = [
    "Miten kaupunki vähentää liikenteen päästöjä?",
    "joukkoliikenne ja maankäyttö",
    "Hur planerar kommunen bostäder nära kollektivtrafik?",
    "dagvatten och gröna tak",
    "Hvordan planlegger kommunen fortetting rundt stasjoner?",
    "klimatilpasning og skybrud",
    "Hvordan reducerer kommunen CO2-udledningen fra trafikken?",
    "cykelstier og byudvikling",
    "How do cities plan for walking and cycling?",
    "affordable housing strategy",
]


def report(n: int) -> str:
    """Upload number ``n``: a Swedish stormwater plan of a few passages naming MARKER."""
    body = " ".join(
        f"Kvarter {n}-{i} i {MARKER} får nya regnbäddar, gröna tak och genomsläppliga ytor som fördröjer "
        f"dagvatten vid skyfall, och gatorna planeras om för gående och cyklister i etapp {i} av plan {n}."
        for i in range(40)
    )
    return f"# Dagvattenplan {MARKER} {n}\n\n{body}\n"


@dataclass
class LoadResult:
    seconds: float
    clients: int
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    marker_totals: list[int] = field(default_factory=list)  # what each marker search saw
    job_passages: list[int] = field(default_factory=list)  # per uploaded file, in commit order
    jobs: int = 0
    memory_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies_ms.values())

    def allowed_totals(self, before: int) -> set[int]:
        """The marker counts a consistent snapshot may show: whole uploaded reports only."""
        steps, total = {before}, before
        for n in self.job_passages:
            total += n
            steps.add(total)
        return steps


def run_load(
    base: str,
    *,
    read_headers: dict[str, str],
    write_headers: dict[str, str],
    seconds: float = 60.0,
    clients: int = 20,
    memory: Callable[[], float] | None = None,
    upload: bool = True,
    seed: int = 0,
) -> LoadResult:
    """``clients`` reader threads and (``upload``) one uploader for ``seconds``; ``memory()`` (MiB)
    is sampled each second."""
    import httpx

    result = LoadResult(seconds=seconds, clients=clients)
    lock = threading.Lock()
    stop = threading.Event()
    started = time.monotonic()

    def record(kind: str, ms: float, response: httpx.Response | None, error: str = "") -> None:
        with lock:
            if response is not None and response.status_code < 400:
                result.latencies_ms[kind].append(ms)
            else:
                status = response.status_code if response is not None else "no response"
                detail = response.text[:200] if response is not None else error
                result.errors.append(f"{kind}: {status} {detail}")

    def call(client: httpx.Client, kind: str, method: str, url: str, **kw: Any) -> httpx.Response | None:
        t = time.perf_counter()
        try:
            r = client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            record(kind, 0.0, None, f"{type(exc).__name__}: {exc}")
            return None
        record(kind, (time.perf_counter() - t) * 1000, r)
        return r

    def reader(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        ids: list[str] = []
        with httpx.Client(base_url=base, timeout=60, headers=read_headers) as client:
            while not stop.is_set():
                roll = rng.random()
                if roll < 0.15:  # how many uploaded passages does the server show right now?
                    r = call(
                        client,
                        "search marker",
                        "GET",
                        "/search",
                        params={"q": MARKER, "mode": "lexical", "k": 1},
                    )
                    if r is not None and r.status_code == 200:
                        with lock:
                            result.marker_totals.append(int(r.json()["total"]))
                elif roll < 0.65:
                    params: dict[str, Any] = {"q": rng.choice(QUERIES), "k": rng.choice((5, 10, 20))}
                    if rng.random() < 0.3:
                        params["group"] = "document"
                    if rng.random() < 0.2:
                        params["lang"] = rng.choice(("fi", "sv", "nb", "da", "en"))
                    call(client, "search", "GET", "/search", params=params)
                elif roll < 0.8 or not ids:
                    r = call(
                        client,
                        "documents",
                        "GET",
                        "/documents",
                        params={"limit": 20, "offset": rng.randrange(0, 20)},
                    )
                    if r is not None and r.status_code == 200:
                        ids = [d["document_id"] for d in r.json()["documents"]] or ids
                else:
                    call(client, "document", "GET", f"/documents/{rng.choice(ids)}")

    def uploader() -> None:
        n = 0
        with httpx.Client(base_url=base, timeout=60, headers=write_headers) as client:
            while not stop.is_set():
                files = [
                    ("files", (f"plan-{n + j}.md", report(n + j).encode(), "text/markdown")) for j in range(3)
                ]
                n += 3
                r = call(client, "upload", "POST", "/documents", files=files, params={"background": "true"})
                if r is None or r.status_code != 202:
                    continue
                job_id = r.json()["id"]
                while True:  # a job finishes even after the time is up: its files count in the snapshots
                    time.sleep(0.5)
                    job = call(client, "job", "GET", f"/jobs/{job_id}")
                    if job is None or job.status_code != 200:
                        continue
                    data = job.json()
                    if data["status"] in ("done", "failed", "interrupted"):
                        break
                with lock:
                    result.jobs += 1
                    if data["status"] != "done":
                        result.errors.append(f"job {job_id}: {data['status']} {data.get('error')}")
                    for f in data["result"]["files"] if data.get("result") else []:
                        if f["status"] == "indexed":
                            result.job_passages.append(int(f["passages"]))

    def guarded(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
        def run() -> None:
            try:
                fn(*args)
            except Exception as exc:  # a client that breaks is a failure of the run, not a lost thread
                with lock:
                    result.errors.append(f"{fn.__name__} crashed: {type(exc).__name__}: {exc}")

        return run

    threads = [threading.Thread(target=guarded(reader, i), daemon=True) for i in range(clients)]
    if upload:
        threads.append(threading.Thread(target=guarded(uploader), daemon=True))
    for t in threads:
        t.start()
    while time.monotonic() - started < seconds:
        if memory is not None:
            result.memory_mb.append((time.monotonic() - started, memory()))
        time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    if memory is not None:
        result.memory_mb.append((time.monotonic() - started, memory()))
    return result


def _processes() -> dict[int, tuple[int, float]]:
    """{pid: (parent pid, resident MiB)} of every process on the machine."""
    from pathlib import Path

    out: dict[int, tuple[int, float]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            out[int(fields["Pid"])] = (
                int(fields["PPid"]),
                int(fields.get("VmRSS", "0 kB").split()[0]) / 1024,
            )
        except (OSError, KeyError, ValueError):
            continue
    return out


def _tree(pid: int, processes: dict[int, tuple[int, float]]) -> dict[int, tuple[int, float]]:
    children: dict[int, list[int]] = defaultdict(list)
    for p, (parent, _) in processes.items():
        children[parent].append(p)
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        if p in processes:
            out[p] = processes[p]
    return out


def process_tree(pid: int) -> dict[int, float]:
    """{pid: resident MiB} for a process and all its descendants."""
    return {p: rss for p, (_, rss) in _tree(pid, _processes()).items()}


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def write_paths_loaded(pid: int) -> bool:
    """True once every server process of the server ``pid`` has run an indexing job: each loads
    the ingest stack and starts its extraction fork server on its first job, which is first use,
    not growth. Jobs run in whichever process claims them first (api.jobs)."""
    tree = _tree(pid, _processes())
    servers = [
        p for p, (parent, _) in tree.items() if parent == pid and "multiprocessing.spawn" in _cmdline(p)
    ]
    forking = {parent for p, (parent, _) in tree.items() if "multiprocessing.forkserver" in _cmdline(p)}
    return all(s in forking for s in servers or [pid])


def warm_write_paths(base: str, pid: int, write_headers: dict[str, str], *, timeout: float = 120.0) -> int:
    """Upload one report at a time, each as a job waited for, until ``write_paths_loaded(pid)``;
    the number of jobs it took. Raises TimeoutError after ``timeout`` seconds."""
    import httpx

    deadline, n = time.monotonic() + timeout, 0
    with httpx.Client(base_url=base, timeout=60, headers=write_headers) as client:
        while not write_paths_loaded(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"server processes still cold after {n} jobs")
            files = [("files", (f"warm-{n}.md", report(10_000 + n).encode(), "text/markdown"))]
            r = client.post("/documents", files=files, params={"background": "true"})
            r.raise_for_status()
            job = r.json()["id"]
            n += 1
            while client.get(f"/jobs/{job}").json()["status"] not in ("done", "failed", "interrupted"):
                time.sleep(0.5)
    return n


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (a server runs one process per core)."""
    return sum(process_tree(pid).values())

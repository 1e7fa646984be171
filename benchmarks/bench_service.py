"""Load on the HTTP service: throughput and p50 / p99 latency of the recommendation endpoint.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_service.py --db encore.duckdb     # the demo store

The store (with its saved models, ``encore train``) is copied to a temporary folder, so
the events the run posts never reach it. ``encore serve`` is started on 127.0.0.1 (a free
port; loopback only) as a separate process; a small asyncio client (httpx) then keeps C
requests in flight for ``/users/{user}/recommendations?n=10`` (the store's listeners with
named plays, in turn), C = 1, 16 and 64, each phase bounded by ``--seconds`` and
``--max-requests``:

- reads alone;
- the same with 10 writes a second mixed in (``POST /events``, one play each, with a key),
  posted for the listeners being read, in turn: each write invalidates that listener's
  cached answers, so the next read of them is computed afresh.

For comparison, the mixed phase at C = 16 is run once more with the answers refreshed ahead
(``--refresh-answers``: an invalidated answer is computed again at once, in the background).
Before each phase, every listener's answer is asked once (the saved model loads at start-up;
the answer cache then holds what a running service holds). Each phase's cache
hits and misses come from ``/health`` (a "hit" includes a request that joined the
computation of the same answer in flight). ``/health`` itself (HTTP, routing, two DuckDB
counts on a worker thread) is measured the same way at C = 16, and the cold path (cache off,
``encore serve --answer-cache 0``: every request computes its answer) at C = 1 and 16.
Latency is wall time per request as the client sees it. Aim (issue #17): p99 under 50 ms at
16 clients from saved models. Prints a Markdown table; ``--write`` replaces the section in
docs/benchmarks.md.

``--latency`` times single requests (start-up, unknown-user 404s, segments, one event) and
``--events`` only ``POST /events`` (``--posts`` batches of 1 event and of 100 events:
median and p95), each against ``--base-src`` (the code before, e.g. ``git archive HEAD src
| tar -x -C /tmp/base``) in the same run, the services alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
ENCORE = ROOT / ".venv" / "bin" / "encore"
sys.path.insert(0, str(ROOT / "src"))


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.machine()}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class RawHTTP:
    """One keep-alive HTTP/1.1 connection for the reads: a GET costs the client a fraction of
    what it costs through httpx, so the client, which shares the 2 cores with the service,
    inflates the latency it measures less. Reconnects after an error or a closed connection."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        """The status code of ``GET path`` (the body is read and dropped)."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        try:
            status = int((await self.reader.readline()).split()[1])
            length, close = 0, False
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection":
                    close = value.strip().lower() == "close"
            await self.reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            self.close()
            raise OSError("connection failed") from None
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def phase(
    url: str,
    paths: list[str],
    clients: int,
    seconds: float,
    max_requests: int,
    writes_per_s: float = 0.0,
    key: str | None = None,
    track: int | None = None,
    write_users: list[str] | None = None,
) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    wrote = 0
    write_failures = 0
    sent = 0
    stop = time.monotonic() + seconds
    # room for the writes in flight; idle connections are dropped before the server's 5 s
    # keep-alive timeout closes them (reusing one as it closes is a client-side error)
    limits = httpx.Limits(max_connections=clients + 100, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def reader(i: int) -> None:
            nonlocal sent, failures
            conn = RawHTTP(url)
            while time.monotonic() < stop and sent < max_requests:
                path = paths[(sent + i) % len(paths)]
                sent += 1
                t = time.perf_counter()
                try:
                    failures += await conn.get(path) != 200
                except OSError:  # a failed request, counted, not a crash
                    failures += 1
                latencies.append(time.perf_counter() - t)
            conn.close()

        async def one_write(n: int) -> None:
            nonlocal wrote, write_failures
            users = write_users or ["bench:1"]
            event = {
                "type": "play",
                "user_id": users[n % len(users)],
                "track_id": track,
                "ms_played": 200_000,
            }
            try:
                r = await http.post("/events", json=event, headers={"X-API-Key": key or ""})
            except httpx.TransportError:
                write_failures += 1
                return
            wrote += r.status_code == 201
            write_failures += r.status_code != 201

        async def writer() -> None:
            # independent clients: a write every 1/rate seconds, not waiting for the last
            pending = []
            n = 0
            while time.monotonic() < stop and sent < max_requests:
                n += 1
                pending.append(asyncio.create_task(one_write(n)))
                await asyncio.sleep(1.0 / writes_per_s)
            await asyncio.gather(*pending)

        started = time.perf_counter()
        tasks = [reader(i) for i in range(clients)]
        if writes_per_s:
            tasks.append(writer())
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "failures": failures,
        "rps": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * pct(latencies, 0.99),
        "writes_per_s": wrote / wall,
        "writes_done": wrote,
        "write_failures": write_failures,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", type=Path, default=Path(os.environ.get("ENCORE_DB") or "encore.duckdb"))
    ap.add_argument("--seconds", type=float, default=20.0, help="most seconds per phase")
    ap.add_argument("--max-requests", type=int, default=2000, help="most requests per phase")
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--write", action="store_true", help="append the section to docs/benchmarks.md")
    ap.add_argument(
        "--latency",
        action="store_true",
        help="single-request latencies (start-up, unknown-user 404, a user's segment, one "
        "event) of this tree against --base-src instead of the load phases",
    )
    ap.add_argument(
        "--base-src",
        type=Path,
        default=None,
        help="with --latency or --events: the src/ folder of the code to compare with (e.g. `git archive "
        "HEAD src | tar -x -C /tmp/base`), run as the 'before' service",
    )
    ap.add_argument(
        "--events",
        action="store_true",
        help="`POST /events` latency only (one-event and 100-event batches, --posts of each "
        "per service) of this tree against --base-src",
    )
    ap.add_argument("--posts", type=int, default=50, help="with --events: posts of each size")
    ap.add_argument("--rounds", type=int, default=2, help="with --latency: rounds per service")
    args = ap.parse_args()
    if args.latency:
        return latency(args)
    if args.events:
        return events_latency(args)

    from encore.data.store import Store
    from encore.recommenders.recommend import model_file, models_dir
    from encore.serving.auth import create_key

    if not model_file(args.db, "for_you", "track").is_file():
        sys.exit(f"{args.db} has no saved for_you model: run `encore train --db {args.db}`")
    tmp = Path(tempfile.mkdtemp(prefix="encore-bench-service-"))
    db = tmp / "store.duckdb"
    shutil.copy(args.db, db)
    shutil.copytree(models_dir(args.db), models_dir(db))
    with Store(db, read_only=True) as store:
        users = [
            str(u)
            for (u,) in store.execute(
                """SELECT DISTINCT e.user_id FROM events e JOIN tracks t USING (track_id)
                   WHERE t.title IS NOT NULL AND t.artist_id IS NOT NULL ORDER BY 1"""
            ).fetchall()
        ]
        track = int(  # a named track the listeners play most: a write moves their history
            store.scalar(
                """SELECT e.track_id FROM events e JOIN tracks t USING (track_id)
                   WHERE t.title IS NOT NULL AND t.artist_id IS NOT NULL
                   GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""
            )
        )
        events = int(store.scalar("SELECT count(*) FROM events"))
    key = create_key(db, "bench")[1]
    rows: list[tuple[str, dict[str, float]]] = []
    load_before = os.getloadavg()[0]
    paths = [f"/users/{u}/recommendations?n=10" for u in users]
    try:
        with serve(db) as (url, pid):
            health = phase(url, ["/health"], 16, *bound(args))
            rows.append(measured(url, pid, "`/health` (two DuckDB counts)", health))
            for c in [int(x) for x in args.clients.split(",")]:
                warm(url, paths)
                rows.append(measured(url, pid, "reads", phase(url, paths, c, *bound(args))))
                warm(url, paths)
                writes = phase(url, paths, c, *bound(args), 10.0, key, track, users)
                rows.append(measured(url, pid, "reads + 10 writes/s", writes))
                print(rows[-2], rows[-1], flush=True)
        with serve(db, "--refresh-answers") as (url, pid):
            warm(url, paths)
            writes = phase(url, paths, 16, *bound(args), 10.0, key, track, users)
            rows.append(measured(url, pid, "reads + 10 writes/s, refresh ahead", writes))
            print(rows[-1], flush=True)
        with serve(db, "--answer-cache", "0") as (url, pid):
            httpx.get(url + paths[0], timeout=120).raise_for_status()
            for c in (1, 16):
                cold = phase(url, paths, c, *bound(args))
                rows.append(measured(url, pid, "reads, cache off (every answer computed)", cold))
                print(rows[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()[0]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"`benchmarks/bench_service.py --db {args.db.name}`, run {when} on {machine()}; "
        f"load average {load_before:.2f} before, {load_after:.2f} after. Store: {events:,} events, "
        f"for_you saved beside it; `GET /users/{{user}}/recommendations?n=10` for the store's "
        f"{len(users)} listeners with named plays in turn (each answer asked once before each "
        f"phase); writes are plays of those listeners, in turn; each phase at most "
        f"{args.seconds:.0f} s and {args.max_requests:,} requests; client and server on the "
        "same cores (loopback). *Service CPU* is the server process's user + system time over "
        "the phase divided by its requests and writes: what a request costs, whatever else "
        "runs on the machine.",
        "",
        "| endpoint / mix | clients | requests | failed | req/s | p50 ms | p99 ms | cache hits | "
        "writes/s done | service CPU ms / request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        asked = r["hits"] + r["misses"]
        hits = f"{r['hits'] / asked:.1%}" if asked else ""
        failed = f" ({int(r['write_failures'])} failed)" if r["write_failures"] else ""
        lines.append(
            f"| {name} | {r['clients']:.0f} | {r['requests']:.0f} | {r['failures']:.0f} | "
            f"{r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {hits} | "
            f"{r['writes_per_s']:.1f}{failed} | {r['cpu_ms']:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(text)
    return 0


SECTION = "## The HTTP service under load"


def bound(args: argparse.Namespace) -> tuple[float, int]:
    """A phase's limits: seconds and requests."""
    return args.seconds, args.max_requests


def warm(url: str, paths: list[str]) -> None:
    """Ask every listener's answer once, as a running service has them (before each phase,
    so that one phase's writes do not leave the next one with misses)."""
    for path in paths:
        httpx.get(url + path, timeout=120).raise_for_status()


def cache_counts(url: str) -> tuple[int, int]:
    """The service's answer cache hits and misses so far (``/health``)."""
    stats = httpx.get(f"{url}/health", timeout=120).json()["answer_cache"]
    return int(stats["hits"]) + int(stats["joined"]), int(stats["misses"])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(url: str, pid: int, name: str, work: Any) -> tuple[str, dict[str, float]]:
    """Run the phase coroutine ``work``, with the cache counters it moved and the service's
    CPU time per request (independent of how busy the machine is)."""
    hits, misses = cache_counts(url)
    cpu = cpu_seconds(pid)
    row = asyncio.run(work)
    cpu = cpu_seconds(pid) - cpu
    after = cache_counts(url)
    per = 1000 * cpu / max(1.0, row["requests"] + row["writes_done"])
    return name, {**row, "hits": after[0] - hits, "misses": after[1] - misses, "cpu_ms": per}


LATENCY_SECTION = "## The HTTP service: single-request latencies"


def sample_listeners(store: Any, n: int) -> list[str]:
    """``n`` listeners with plays, the same ones on every run (ordered by a seeded hash)."""
    return [
        u
        for (u,) in store.execute(
            "SELECT user_id FROM (SELECT DISTINCT user_id FROM events) "
            "ORDER BY hash(user_id || 'bench'), user_id LIMIT ?",
            [n],
        ).fetchall()
    ]


def compared_trees(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """The source trees a run compares: ``--base-src`` (before), if given, then this one."""
    sides = [("after (this tree)", ROOT / "src")]
    if args.base_src is not None:
        sides.insert(0, ("before (--base-src)", args.base_src.resolve()))
    return sides


def latency(args: argparse.Namespace) -> int:
    """Start-up, unknown-user 404s, a user's segment and one-event writes, one request at a
    time, on a copy of the store (with its saved models and segment models), for this tree
    and for ``--base-src`` (before), alternating services round by round."""
    from encore.data.store import Store
    from encore.recommenders.recommend import models_dir
    from encore.segments.model import model_dir
    from encore.serving.auth import create_key

    tmp = Path(tempfile.mkdtemp(prefix="encore-bench-latency-"))
    db = tmp / "store.duckdb"
    try:
        shutil.copy(args.db, db)
        shutil.copytree(models_dir(args.db), models_dir(db))
        shutil.copytree(model_dir(args.db).parent, model_dir(db).parent)
        with Store(db, read_only=True) as store:
            heavy = [
                u
                for (u,) in store.execute(
                    "SELECT user_id FROM events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 40"
                ).fetchall()
            ]
            typical = sample_listeners(store, 40)
            track = int(store.scalar("SELECT min(track_id) FROM tracks WHERE title IS NOT NULL"))
            events = int(store.scalar("SELECT count(*) FROM events"))
            users = int(store.scalar("SELECT count(*) FROM users"))
        key = create_key(db, "bench")[1]
        sides = compared_trees(args)
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sides}
        load_before = os.getloadavg()[0]
        n = 0
        for _ in range(args.rounds):
            for name, src in sides:
                # each round's service asks new listeners: every segment is a first answer
                listeners = heavy[n * 5 : n * 5 + 5]
                others = typical[n * 5 : n * 5 + 5]
                one = latency_round(db, src, listeners, others, key, track, n)
                n += 1
                results[name].append(one)
                print(name, {k: round(v, 1) for k, v in one.items()}, flush=True)
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    columns = [
        ("startup_s", "start-up to first /health (s)"),
        ("unknown_first", "unknown-user 404, first (ms)"),
        ("unknown", "unknown-user 404, median of 10 (ms)"),
        ("segment_first", "first `/users/{id}/segment`, a heavy listener (ms)"),
        ("segment_new", "a new heavy listener's segment, median of 4 (ms)"),
        ("segment_typical", "a new listener's segment, 5 drawn at random, median (ms)"),
        ("segment_again", "same listener again, median of 10 (ms)"),
        ("event_first", "first `POST /events` of 1 event (ms)"),
        ("event", "`POST /events` of 1 event, median of 10 (ms)"),
    ]
    lines = [
        LATENCY_SECTION,
        "",
        f"`benchmarks/bench_service.py --latency --db {args.db.name}"
        + (" --base-src BASE" if args.base_src else "")
        + f"`, run {when} on {machine()}; load average {load_before:.2f} before, "
        f"{load_after:.2f} after. Store: {events:,} events, {users:,} users, for_you and the "
        "segment model saved beside it. One request at a time over loopback (`encore serve` "
        "as a separate process, one fresh service per round, the services alternating); "
        "each round asks the segments of 5 listeners it has not asked before from the 40 "
        "with the most events (the costliest to read: 1,384 to 58,264 events each) and of 5 "
        "drawn at random (a fixed hash order) from those with events. Round by round, then the "
        "ratio of the medians:",
        "",
        "| service | round | " + " | ".join(c for _, c in columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for name, rounds in results.items():
        for i, row in enumerate(rounds, 1):
            cells = [f"{row[k]:.2f}" if k == "startup_s" else f"{row[k]:.0f}" for k, _ in columns]
            lines.append(f"| {name} | {i} | " + " | ".join(cells) + " |")
    if len(sides) == 2:
        before, after = (results[name] for name, _ in sides)
        ratio = []
        for k, _ in columns:
            b = statistics.median(r[k] for r in before)
            a = statistics.median(r[k] for r in after)
            ratio.append(f"{b / a:.1f}x" if a > 0 else "")
        lines.append("| before / after (medians) | | " + " | ".join(ratio) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(text, LATENCY_SECTION)
    return 0


def latency_round(
    db: Path,
    src: Path,
    listeners: list[str],
    typical: list[str],
    key: str,
    track: int,
    round_: int,
) -> dict[str, float]:
    """One service (code from ``src``): the timings of one round, in ms (start-up in s)."""

    def ms(client: httpx.Client, method: str, path: str, **kw: Any) -> float:
        t = time.perf_counter()
        r = client.request(method, path, **kw)
        took = (time.perf_counter() - t) * 1000
        if r.status_code >= 500:
            sys.exit(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return took

    started = time.perf_counter()
    with serve(db, env={"PYTHONPATH": str(src)}) as (url, _pid):
        startup = time.perf_counter() - started
        with httpx.Client(base_url=url, timeout=120) as c:
            out: dict[str, float] = {"startup_s": startup}
            out["unknown_first"] = ms(c, "GET", f"/users/nobody-{round_}-0/segment")
            out["unknown"] = statistics.median(
                ms(c, "GET", f"/users/nobody-{round_}-{i}/segment") for i in range(1, 11)
            )
            out["segment_first"] = ms(c, "GET", f"/users/{listeners[0]}/segment")
            out["segment_new"] = statistics.median(
                ms(c, "GET", f"/users/{u}/segment") for u in listeners[1:]
            )
            out["segment_typical"] = statistics.median(
                ms(c, "GET", f"/users/{u}/segment") for u in typical
            )
            out["segment_again"] = statistics.median(
                ms(c, "GET", f"/users/{listeners[-1]}/segment") for _ in range(10)
            )
            auth = {"Authorization": f"Bearer {key}"}

            def post(i: int) -> float:
                event = {
                    "type": "play",
                    "user_id": f"bench:latency-{round_}",
                    "track_id": track,
                    "ts": f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}",
                }
                return ms(c, "POST", "/events", json=event, headers=auth)

            out["event_first"] = post(0)
            out["event"] = statistics.median(post(i) for i in range(1, 11))
    return out


EVENTS_SECTION = "## The HTTP service: `POST /events` latency"


def events_latency(args: argparse.Namespace) -> int:
    """``POST /events`` one request at a time: ``--posts`` batches of one event and as many
    of 100 events, for this tree and for ``--base-src`` (before), on one copy of the store
    (a fresh service per round, the services alternating, each round's posts split evenly);
    median and p95 per batch size."""
    from encore.data.store import Store
    from encore.serving.auth import create_key

    tmp = Path(tempfile.mkdtemp(prefix="encore-bench-events-"))
    db = tmp / "store.duckdb"
    try:
        shutil.copy(args.db, db)
        with Store(db, read_only=True) as store:
            track = int(store.scalar("SELECT min(track_id) FROM tracks WHERE title IS NOT NULL"))
            tracks = [
                int(t)
                for (t,) in store.execute(
                    "SELECT track_id FROM tracks ORDER BY hash(track_id || 'bench'), track_id "
                    "LIMIT 100"
                ).fetchall()
            ]
            listeners = sample_listeners(store, 20)
            events = int(store.scalar("SELECT count(*) FROM events"))
            users = int(store.scalar("SELECT count(*) FROM users"))
        key = create_key(db, "bench")[1]
        sides = compared_trees(args)
        times: dict[str, dict[int, list[float]]] = {n: {1: [], 100: []} for n, _ in sides}
        per_round = -(-args.posts // args.rounds)
        load_before = os.getloadavg()[0]
        n = 0
        for _ in range(args.rounds):
            for name, src in sides:
                with serve(db, env={"PYTHONPATH": str(src)}) as (url, _pid):
                    auth = {"Authorization": f"Bearer {key}"}
                    with httpx.Client(base_url=url, timeout=120) as c:
                        for size in (1, 100):
                            for i in range(per_round + 1):  # the first post of each is not timed
                                n += 1
                                base = datetime(2024, 1, 1) + timedelta(minutes=n)
                                if size == 1:
                                    body: dict[str, Any] = {
                                        "type": "play",
                                        "user_id": f"bench:events-{n % 7}",
                                        "track_id": track,
                                        "ts": base.isoformat(),
                                    }
                                else:
                                    body = {
                                        "events": [
                                            {
                                                "type": "like" if j % 10 == 9 else "play",
                                                "user_id": listeners[j % len(listeners)],
                                                "track_id": t,
                                                "ts": (base + timedelta(seconds=j)).isoformat(),
                                                **({} if j % 10 == 9 else {"ms_played": 1000 * j}),
                                            }
                                            for j, t in enumerate(tracks)
                                        ]
                                    }
                                t0 = time.perf_counter()
                                r = c.post("/events", json=body, headers=auth)
                                took = (time.perf_counter() - t0) * 1000
                                if r.status_code != 201:
                                    sys.exit(f"POST /events: {r.status_code} {r.text[:300]}")
                                if i:
                                    times[name][size].append(took)
                print(
                    name,
                    {s: round(statistics.median(v), 1) for s, v in times[name].items()},
                    flush=True,
                )
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        EVENTS_SECTION,
        "",
        f"`benchmarks/bench_service.py --events --db {args.db.name}"
        + (" --base-src BASE" if args.base_src else "")
        + f"`, run {when} on {machine()}; load average {load_before:.2f} before, "
        f"{load_after:.2f} after. Store: {events:,} events, {users:,} users. One request at "
        f"a time over loopback (`encore serve` as a separate process, a fresh one per round, "
        f"{args.rounds} rounds, the services alternating): per service "
        f"{per_round * args.rounds} posts of one play (a new time each) and as many of 100 "
        "events (90 plays and 10 likes of 100 tracks drawn by a fixed hash, by 20 stored "
        "listeners), each size's first post of a round not timed. Milliseconds as the client "
        "sees them:",
        "",
        "| service | 1 event: median | 1 event: p95 | 100 events: median | 100 events: p95 |",
        "|---|---:|---:|---:|---:|",
    ]
    stats: dict[str, list[float]] = {}
    for name, _ in sides:
        row = []
        for size in (1, 100):
            row += [statistics.median(times[name][size]), pct(times[name][size], 0.95)]
        stats[name] = row
        lines.append(f"| {name} | " + " | ".join(f"{v:.0f}" for v in row) + " |")
    if len(sides) == 2:
        before, after = (stats[name] for name, _ in sides)
        lines.append(
            "| before / after | "
            + " | ".join(f"{b / a:.1f}x" for b, a in zip(before, after, strict=True))
            + " |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(text, EVENTS_SECTION)
    return 0


@contextmanager
def serve(db: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """``encore serve`` over ``db`` on a free loopback port, until the block ends
    (``env``: variables added to the server's environment, e.g. ``PYTHONPATH``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [str(ENCORE), "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [*command, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit(
                    "the service did not start: "
                    + (server.stderr.read().decode() if server.stderr else "")
                )
            time.sleep(0.2)
        yield url, server.pid
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def write_section(text: str, section: str = SECTION) -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    old = DOC.read_text(encoding="utf-8")
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == section), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next(
            (j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines)
        )
        new = "\n".join([*lines[:start], *text.rstrip("\n").splitlines(), "", *lines[end:]])
    DOC.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())

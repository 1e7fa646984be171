"""Load on the HTTP service: throughput and p50 / p99 latency of the recommendation endpoint.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_service.py --db encore.duckdb     # the demo store

The store (with its saved models, ``encore train``) is copied to a temporary folder, so
the events the run posts never reach it. ``encore serve`` is started on 127.0.0.1 (a free
port; loopback only) as a separate process; a small asyncio client (httpx) then keeps C
requests in flight for ``/users/{user}/recommendations?n=10`` (the listeners of the store
in turn), C = 1, 16 and 64, each phase bounded by ``--seconds`` and ``--max-requests``:

- reads alone;
- the same with 10 writes a second mixed in (``POST /events``, one play each, with a key).

Each phase starts after a warm-up request; latency is wall time per request as the client
sees it. The floor of the service (HTTP, routing, one DuckDB count) is measured the same way
on ``/health`` at C = 16 for comparison. Aim (issue #17): p99 under 50 ms at 16 clients from
saved models. Prints a Markdown table; ``--write`` appends it to docs/benchmarks.md.
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
from datetime import UTC, datetime
from pathlib import Path

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


async def phase(
    url: str,
    paths: list[str],
    clients: int,
    seconds: float,
    max_requests: int,
    writes_per_s: float = 0.0,
    key: str | None = None,
    track: int | None = None,
) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    wrote = 0
    write_failures = 0
    sent = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 100)  # room for the writes in flight
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def reader(i: int) -> None:
            nonlocal sent, failures
            while time.monotonic() < stop and sent < max_requests:
                path = paths[(sent + i) % len(paths)]
                sent += 1
                t = time.perf_counter()
                r = await http.get(path)
                latencies.append(time.perf_counter() - t)
                failures += r.status_code != 200

        async def one_write(n: int) -> None:
            nonlocal wrote, write_failures
            event = {"type": "play", "user_id": f"bench:{n % 50}", "track_id": track}
            r = await http.post("/events", json=event, headers={"X-API-Key": key or ""})
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
        "write_failures": write_failures,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", type=Path, default=Path(os.environ.get("ENCORE_DB") or "encore.duckdb"))
    ap.add_argument("--seconds", type=float, default=20.0, help="most seconds per phase")
    ap.add_argument("--max-requests", type=int, default=2000, help="most requests per phase")
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--write", action="store_true", help="append the section to docs/benchmarks.md")
    args = ap.parse_args()

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
                "SELECT DISTINCT user_id FROM events WHERE user_id LIKE 'lh:%' ORDER BY 1"
            ).fetchall()
        ]
        track = int(store.scalar("SELECT min(track_id) FROM tracks"))
        events = int(store.scalar("SELECT count(*) FROM events"))
    key = create_key(db, "bench")[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(ENCORE), "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    rows: list[tuple[str, dict[str, float]]] = []
    load_before = os.getloadavg()[0]
    try:
        deadline = time.monotonic() + 120
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
        paths = [f"/users/{u}/recommendations?n=10" for u in users]
        httpx.get(url + paths[0], timeout=120)  # warm-up: loads the saved model once
        run = asyncio.run
        rows.append(
            ("`/health` (floor)", run(phase(url, ["/health"], 16, args.seconds, args.max_requests)))
        )
        for c in [int(x) for x in args.clients.split(",")]:
            rows.append(("reads", run(phase(url, paths, c, args.seconds, args.max_requests))))
            rows.append(
                (
                    "reads + 10 writes/s",
                    run(phase(url, paths, c, args.seconds, args.max_requests, 10.0, key, track)),
                )
            )
            print(rows[-2], rows[-1], flush=True)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()[0]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## The HTTP service under load",
        "",
        f"`benchmarks/bench_service.py --db {args.db.name}`, run {when} on {machine()}; "
        f"load average {load_before:.2f} before, {load_after:.2f} after. Store: {events:,} events, "
        f"for_you saved beside it; `GET /users/{{user}}/recommendations?n=10` for the store's "
        f"{len(users)} listeners in turn; each phase at most {args.seconds:.0f} s and "
        f"{args.max_requests:,} requests; client and server on the same 2 cores (loopback).",
        "",
        "| endpoint / mix | clients | requests | failed | req/s | p50 ms | p99 ms | writes/s done |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['clients']:.0f} | {r['requests']:.0f} | {r['failures']:.0f} | "
            f"{r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
            f"{r['writes_per_s']:.1f}{' (' + str(int(r['write_failures'])) + ' failed)' if r['write_failures'] else ''} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with DOC.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed of the analytics queries with genre bases and estimated minutes (issue 12).

The same four queries as ``bench_analytics.py`` on the same SYNTHETIC store
(``encore.data.synthetic``, seed 0; no result about music comes from it), timed in the
same run two ways:

- **old path**: ``--genres catalogue --minutes observed`` (the queries as before genre
  resolution: no resolution join, no estimates);
- **new path**: the defaults, ``--genres all --minutes all`` (a predicted genre and an
  estimated duration joined for every play, ``basis`` and ``estimated_minutes`` columns).

To give the new path real work, the store is made to look like real data: the genre of
30 % of the artists (and of their tracks) is removed, and 30 % of the events lose their
duration (as scrobbles do). ``encore genre resolve`` then runs without the model (the
synthetic listeners would teach it nothing), and every artist still unknown gets a
predicted genre with a probability drawn uniformly (seeded), so that about half pass the
default threshold. The ratio new / old is the cost of the new columns.

Usage::

    python benchmarks/bench_coverage.py                      # 1 M and 10 M, writes docs/benchmarks.md
    python benchmarks/bench_coverage.py --sizes 100000 --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from encore.analytics.genres import genre_popularity
from encore.analytics.rankings import top_artists, top_tracks
from encore.analytics.trend import genre_trend
from encore.analytics.window import resolve_window
from encore.data.resolve import resolve
from encore.data.store import Store
from encore.data.synthetic import generate

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Analytics with genre bases and estimated minutes"
TARGET_S = 0.5
UNKNOWN_ARTISTS = 0.3
NO_DURATION = 0.3


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """Fastest and median wall seconds, and the fastest CPU seconds (all threads).

    On a shared machine the wall time depends on the others' load; the process's CPU time
    (every DuckDB thread's) much less so: a quiet machine with ``threads`` free cores
    answers in about CPU / threads seconds at best, and in no less.
    """
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), statistics.median(walls), min(cpus)


def _prepare(path: Path, n: int, seed: int) -> dict[str, Any]:
    store = Store(path)
    t0 = time.perf_counter()
    generate(store, n, seed=seed)
    gen_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    ids = np.asarray([r[0] for r in store.execute("SELECT artist_id FROM artists").fetchall()])
    gone = rng.choice(ids, size=int(len(ids) * UNKNOWN_ARTISTS), replace=False)
    store.con.register("_gone", pd.DataFrame({"id": gone}))
    store.execute("UPDATE artists SET genre = NULL WHERE artist_id IN (SELECT id FROM _gone)")
    store.execute(
        "UPDATE tracks SET genre = NULL, genre_raw = NULL WHERE artist_id IN (SELECT id FROM _gone)"
    )
    store.con.unregister("_gone")
    store.execute(
        f"UPDATE events SET ms_played = NULL WHERE hash(ts, user_id) % 100 < {NO_DURATION * 100:.0f}"
    )
    t0 = time.perf_counter()
    resolve(store, predict=False)
    resolve_s = time.perf_counter() - t0
    unknown = store.df(
        "SELECT artist_id FROM artist_resolution r JOIN artists a USING (artist_id) "
        "WHERE a.genre IS NULL AND r.genre IS NULL"
    )
    genres = [r[0] for r in store.execute("SELECT genre FROM genres ORDER BY genre").fetchall()]
    pred = pd.DataFrame(
        {
            "artist_id": unknown["artist_id"],
            "genre": rng.choice(genres, size=len(unknown)),
            "probability": rng.uniform(0.1, 0.7, size=len(unknown)),
        }
    )
    store.con.register("_pred", pred)
    store.execute(
        "UPDATE artist_resolution SET genre = p.genre, basis = 'predicted', step = 'model', "
        "probability = p.probability FROM _pred p WHERE artist_resolution.artist_id = p.artist_id"
    )
    store.con.unregister("_pred")
    store.close()
    return {"generate_s": gen_s, "resolve_s": resolve_s, "unknown_artists": len(unknown)}


def run_size(n: int, folder: Path, threads: int, repeat: int, seed: int) -> list[dict[str, Any]]:
    path = folder / f"cov_{n}.duckdb"
    facts = _prepare(path, n, seed)
    store = Store(path, read_only=True)
    store.execute(f"SET threads = {threads}")
    queries: dict[str, Callable[[Any], Any]] = {
        "genres": lambda w: genre_popularity(store, w),
        "top-tracks (n=10, by plays)": lambda w: top_tracks(store, w, n=10),
        "top-artists (n=10, by plays)": lambda w: top_artists(store, w, n=10),
        "top-artists (n=10, by listeners)": lambda w: top_artists(store, w, n=10, by="listeners"),
        "trend (weekly)": lambda w: genre_trend(store, w, every="week"),
    }
    old = resolve_window(store, genres="catalogue", minutes="observed")
    new = resolve_window(store)
    rows = []
    for name, fn in queries.items():
        o_min, o_med, o_cpu = _time(lambda fn=fn: fn(old), repeat)
        n_min, n_med, n_cpu = _time(lambda fn=fn: fn(new), repeat)
        rows.append(
            {"events": n, "query": name, "old_min": o_min, "old_median": o_med,
             "new_min": n_min, "new_median": n_med, "old_cpu": o_cpu, "new_cpu": n_cpu,
             "load": os.getloadavg()[0], **facts}
        )  # fmt: skip
        print(
            f"{n:>11,} {name:34s} old {o_min:.3f} s  new {n_min:.3f} s  x{n_min / o_min:.2f}"
            f"  cpu old {o_cpu:.3f} new {n_cpu:.3f}  load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    store.close()
    return rows


def markdown(
    rows: list[dict[str, Any]], threads: int, repeat: int, loads: tuple[float, float]
) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"`benchmarks/bench_coverage.py`, run {now} on {cpu}, {os.cpu_count()} cores, "
        f"{platform.machine()}; DuckDB {duckdb.__version__} limited to {threads} threads. Load "
        f"average before/after the run: {loads[0]:.1f} / {loads[1]:.1f} (the machine is shared "
        "by several engineers; wall times under load are pessimistic).",
        "",
        "**Data: SYNTHETIC** (`encore.data.synthetic`, seed 0), made to need the new path: "
        f"{UNKNOWN_ARTISTS:.0%} of artists lose their genre, {NO_DURATION:.0%} of events their "
        "duration; `resolve(predict=False)` then random predicted genres for the artists still "
        "unknown. *Old* = `--genres catalogue --minutes observed` (the queries as before); "
        "*new* = the defaults (`--genres all --minutes all`: resolution join, estimates, `basis` "
        f"and `estimated_minutes`). Wall seconds, fastest and median of {repeat} runs after "
        "a warm-up, default window; target < 0.5 s at 10 M events. *CPU* is the fastest run's "
        f"CPU seconds over all threads, which the others' load changes far less than the wall "
        f"time: on a quiet machine with {threads} free cores a query takes at least "
        f"CPU / {threads} seconds (*quiet floor*), more where it does not use both threads.",
        "",
        "| events | query | old min | old median | new min | new median | new / old "
        "| CPU old | CPU new | CPU new / old | quiet floor new | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['events']:,} | {r['query']} | {r['old_min']:.3f} | {r['old_median']:.3f} | "
            f"{r['new_min']:.3f} | {r['new_median']:.3f} | {r['new_min'] / r['old_min']:.2f}x | "
            f"{r['old_cpu']:.3f} | {r['new_cpu']:.3f} | {r['new_cpu'] / r['old_cpu']:.2f}x | "
            f"{r['new_cpu'] / threads:.3f} | {r['load']:.0f} |"
        )
    sizes = sorted({r["events"] for r in rows})
    for n in sizes:
        r = next(x for x in rows if x["events"] == n)
        lines.append("")
        lines.append(
            f"At {n:,} events: generate {r['generate_s']:.1f} s, `encore genre resolve` without "
            f"the model {r['resolve_s']:.1f} s, {r['unknown_artists']:,} artists given a random "
            "predicted genre."
        )
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if SECTION in doc:
        head, rest = doc.split(SECTION, 1)
        nxt = rest.find("\n## ")
        doc = head + text + ("\n" + rest[nxt + 1 :] if nxt >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOC.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            rows += run_size(n, Path(tmp), args.threads, args.repeat, args.seed)
    text = markdown(rows, args.threads, args.repeat, (load0, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

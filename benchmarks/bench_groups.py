"""Cost of the catalogue attributes (issue 19): ``encore catalogue resolve`` and ``--group``.

On a copy of a real store (``--db``; the full shared store by default is built by
``make demo`` or ``encore ingest --all ../shared/data``), in one run:

- ``resolve``: :func:`encore.data.attributes.resolve_attributes` once (wall and CPU
  seconds; most of it is the language identification of every title);
- each analytics question plain and with ``--group`` (the peer here is Encore's own
  ungrouped query on the same window): genres vs ``genres --group language``, top
  artists vs ``top-artists --group artist-country``, the monthly trend vs ``trend --group
  decade``; fastest and median wall, fastest CPU, and the ratio grouped / plain.

Usage::

    python benchmarks/bench_groups.py --db /path/to/full.duckdb          # writes docs/benchmarks.md
    python benchmarks/bench_groups.py --db store.duckdb --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from encore.analytics.api import run
from encore.data.attributes import resolve_attributes
from encore.data.store import Store

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Catalogue attributes: resolve and --group"
WINDOW = {"start": "2000-01-01", "end": "2026-12-31"}
PAIRS = (
    ("genres", {}, {"group": "language"}),
    ("top-artists", {"n": 10}, {"n": 10, "group": "artist-country"}),
    ("trend", {"every": "month"}, {"every": "month", "group": "decade"}),
)


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """Fastest and median wall seconds, and the fastest CPU seconds (all threads)."""
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), statistics.median(walls), min(cpus)


def measure(db: Path, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        shutil.copyfile(db, path)
        with Store(path) as store:
            t0, c0 = time.perf_counter(), time.process_time()
            resolve_attributes(store)
            resolve_s, resolve_cpu = time.perf_counter() - t0, time.process_time() - c0
            tracks = int(store.scalar("SELECT count(*) FROM tracks"))
            plays = int(store.scalar("SELECT count(*) FROM events"))
        rows = []
        with Store(path, read_only=True) as store:
            for what, plain, grouped in PAIRS:
                p = _time(lambda w=what, k=plain: run(store, w, **WINDOW, **k), repeat)
                g = _time(lambda w=what, k=grouped: run(store, w, **WINDOW, **k), repeat)
                rows.append(
                    {
                        "question": what,
                        "group": grouped["group"],
                        "plain_min_s": p[0],
                        "plain_median_s": p[1],
                        "plain_cpu_s": p[2],
                        "grouped_min_s": g[0],
                        "grouped_median_s": g[1],
                        "grouped_cpu_s": g[2],
                        "ratio": g[0] / p[0],
                    }
                )
    return {
        "tracks": tracks,
        "plays": plays,
        "resolve_s": resolve_s,
        "resolve_cpu_s": resolve_cpu,
        "rows": rows,
    }


def markdown(res: dict[str, Any], repeat: int, load: tuple[float, float]) -> str:
    lines = [
        SECTION,
        "",
        f"`benchmarks/bench_groups.py`, {datetime.now(UTC):%Y-%m-%d}, on {platform.node()} "
        f"({os.cpu_count()} CPUs shared with other engineers, load average "
        f"{load[0]:.1f} at the start and {load[1]:.1f} at the end; {platform.processor() or platform.machine()}), "
        f"a copy of the full shared store ({res['tracks']:,} tracks, {res['plays']:,} plays). "
        f"Fastest and median of {repeat} runs after a warm-up; CPU = the process's, all threads.",
        "",
        f"`encore catalogue resolve`: {res['resolve_s']:.1f} s wall, {res['resolve_cpu_s']:.1f} s CPU "
        "(one run; the language of every title and artist is most of it).",
        "",
        "| question | --group | plain min / median (s) | plain CPU (s) | grouped min / median (s) | grouped CPU (s) | grouped / plain |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['question']} | {r['group']} | {r['plain_min_s']:.3f} / {r['plain_median_s']:.3f} "
            f"| {r['plain_cpu_s']:.3f} | {r['grouped_min_s']:.3f} / {r['grouped_median_s']:.3f} "
            f"| {r['grouped_cpu_s']:.3f} | {r['ratio']:.2f}x |"
        )
    lines += [
        "",
        "The grouped queries join the two attribute tables to every play of the window and do "
        "not use the integer-coded fast path of the plain ones; the ratio is that cost.",
        "",
    ]
    return "\n".join(lines)


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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="A store to copy and measure.")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load0 = os.getloadavg()[0]
    res = measure(args.db, args.repeat)
    text = markdown(res, args.repeat, (load0, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

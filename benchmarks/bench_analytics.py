"""Speed of the four analytics queries at 1 M and 10 M events, against pandas, same run.

The data are SYNTHETIC (``encore.data.synthetic``: Zipf track popularity, genre-specific
listener tastes, sessions, skips), used only because the real datasets are too small to
show speed; no result about music comes from them. For each size the script:

1. writes a synthetic store (seed 0) into a temporary folder;
2. limits DuckDB to ``--threads`` threads (default 2, the target machine);
3. times each query on the default window (the last 365 days of data, about half of
   the events): one warm-up, then ``--repeat`` runs, reporting the fastest and the
   median wall time, and the process CPU time of the fastest run;
4. runs the same computation in pandas on frames already in memory (loading them is
   timed separately and not counted), checks the answers agree, and reports the ratio.

Usage::

    python benchmarks/bench_analytics.py                    # 1 M and 10 M, writes docs/benchmarks.md
    python benchmarks/bench_analytics.py --sizes 100000 --no-write
    python benchmarks/bench_analytics.py --sizes 10000000 --only "by listeners"
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from encore.analytics.genres import genre_popularity
from encore.analytics.rankings import top_artists, top_tracks
from encore.analytics.trend import genre_trend
from encore.analytics.window import Window, resolve_window
from encore.data.store import Store
from encore.data.synthetic import generate

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Analytics"
TARGET_S = 0.5


@dataclass
class Row:
    """One query at one size."""

    events: int
    query: str
    duckdb_min: float
    duckdb_median: float
    duckdb_cpu: float
    pandas_s: float
    agree: bool


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float, Any]:
    fn()  # warm-up
    walls: list[float] = []
    cpus: list[float] = []
    out: Any = None
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    best = min(range(repeat), key=walls.__getitem__)
    return walls[best], statistics.median(walls), cpus[best], out


# ---------------------------------------------------------------------- pandas peer
@dataclass
class Frames:
    """The store's rows in pandas (what an analyst would load into a notebook)."""

    events: pd.DataFrame
    track_genre: pd.Series
    track_artist: pd.Series
    artist_genre: pd.Series
    track_title: pd.Series
    artist_name: pd.Series


def load_frames(con: duckdb.DuckDBPyConnection) -> Frames:
    """Read events, tracks and artists into pandas."""
    ev = con.execute("SELECT user_id, track_id, artist_id, ts, ms_played, skipped FROM events").df()
    tr = (
        con.execute("SELECT track_id, artist_id, genre, title FROM tracks")
        .df()
        .set_index("track_id")
    )
    ar = con.execute("SELECT artist_id, genre, name FROM artists").df().set_index("artist_id")
    return Frames(ev, tr["genre"], tr["artist_id"], ar["genre"], tr["title"], ar["name"])


def _window(f: Frames, w: Window) -> pd.DataFrame:
    ev = f.events
    part = ev[(ev["ts"] >= w.start) & (ev["ts"] < w.end)].copy()
    artist = part["artist_id"].fillna(part["track_id"].map(f.track_artist))
    part["artist_id"] = artist
    part["genre"] = (
        part["track_id"].map(f.track_genre).fillna(artist.map(f.artist_genre)).fillna("(unknown)")
    )
    part["skipped"] = part["skipped"].fillna(False).astype(bool)
    return part


def pd_genres(f: Frames, w: Window) -> pd.DataFrame:
    """Genre histogram in pandas."""
    part = _window(f, w)
    counted = part[~part["skipped"]]
    out = counted.groupby("genre").agg(
        plays=("ts", "size"), minutes=("ms_played", "sum"), listeners=("user_id", "nunique")
    )
    out["minutes"] = out["minutes"] / 60000
    out["skips"] = part[part["skipped"]].groupby("genre").size()
    out["share"] = out["plays"] / out["plays"].sum()
    return out.sort_values("plays", ascending=False).reset_index()


def _pd_rank(f: Frames, w: Window, key: str, n: int) -> pd.DataFrame:
    part = _window(f, w)
    counted = part[~part["skipped"]]
    g = (
        counted.groupby(["genre", key])
        .agg(plays=("ts", "size"), ms=("ms_played", "sum"))
        .reset_index()
    )
    names = f.track_title if key == "track_id" else f.artist_name
    g["name"] = g[key].map(names)
    g = g.sort_values(
        ["genre", "plays", "ms", "name", key], ascending=[True, False, False, True, True]
    )
    g["rank"] = g.groupby("genre").cumcount() + 1
    top = g[g["rank"] <= n]
    sel = counted[counted[key].isin(top[key])]
    listeners = sel.groupby(["genre", key])["user_id"].nunique().rename("listeners").reset_index()
    return top.merge(listeners, on=["genre", key], how="left")


def pd_top_tracks(f: Frames, w: Window) -> pd.DataFrame:
    """Top 10 tracks per genre by plays in pandas."""
    return _pd_rank(f, w, "track_id", 10)


def pd_top_artists(f: Frames, w: Window) -> pd.DataFrame:
    """Top 10 artists per genre by plays in pandas."""
    return _pd_rank(f, w, "artist_id", 10)


def pd_top_artists_listeners(f: Frames, w: Window) -> pd.DataFrame:
    """Top 10 artists per genre by distinct listeners in pandas."""
    part = _window(f, w)
    counted = part[~part["skipped"]]
    g = (
        counted.groupby(["genre", "artist_id"])
        .agg(listeners=("user_id", "nunique"), plays=("ts", "size"))
        .reset_index()
    )
    g["name"] = g["artist_id"].map(f.artist_name)
    g = g.sort_values(
        ["genre", "listeners", "plays", "name", "artist_id"],
        ascending=[True, False, False, True, True],
    )
    g["rank"] = g.groupby("genre").cumcount() + 1
    return g[g["rank"] <= 10]


def pd_trend(f: Frames, w: Window) -> pd.DataFrame:
    """Weekly plays, minutes, skips and listeners per genre in pandas."""
    part = _window(f, w)
    part["period"] = part["ts"].dt.to_period("W-SUN").dt.start_time
    counted = part[~part["skipped"]]
    out = counted.groupby(["period", "genre"]).agg(
        plays=("ts", "size"), minutes=("ms_played", "sum"), listeners=("user_id", "nunique")
    )
    out["skips"] = part[part["skipped"]].groupby(["period", "genre"]).size()
    out["share"] = out["plays"] / out.groupby(level="period")["plays"].transform("sum")
    return out.reset_index()


# ---------------------------------------------------------------------- run
def _agree(name: str, ours: pd.DataFrame, theirs: pd.DataFrame) -> bool:
    if name == "genres":
        a = ours.set_index("genre")["plays"].sort_index()
        b = theirs.set_index("genre")["plays"].sort_index()
        return bool(a[a > 0].equals(b.astype(a.dtype)))
    if name == "trend":
        a = ours[ours["plays"] > 0].set_index(["period", "genre"])["plays"].sort_index()
        b = theirs.set_index(["period", "genre"])["plays"].sort_index()
        return bool(a.equals(b.astype(a.dtype)))
    key = "track_id" if "track_id" in ours else "artist_id"
    a = ours.sort_values(["genre", "rank"])[key].tolist()
    b = theirs.sort_values(["genre", "rank"])[key].astype("int64").tolist()
    return a == b


def run_size(
    n: int, folder: Path, threads: int, repeat: int, seed: int, only: list[str] | None = None
) -> tuple[list[Row], dict[str, Any]]:
    """Benchmark one size; return the rows and facts about the data."""
    path = folder / f"syn_{n}.duckdb"
    store = Store(path)
    t0 = time.perf_counter()
    summary = generate(store, n, seed=seed)
    gen_s = time.perf_counter() - t0
    store.close()
    store = Store(path, read_only=True)
    store.execute(f"SET threads = {threads}")
    window = resolve_window(store)
    in_window = store.scalar(
        "SELECT count(*) FROM events WHERE ts >= ? AND ts < ?", [window.start, window.end]
    )
    t0 = time.perf_counter()
    frames = load_frames(store.con)
    load_s = time.perf_counter() - t0
    queries: dict[str, tuple[Callable[[], pd.DataFrame], Callable[[], pd.DataFrame]]] = {
        "genres": (lambda: genre_popularity(store, window), lambda: pd_genres(frames, window)),
        "top-tracks (n=10, by plays)": (
            lambda: top_tracks(store, window, n=10),
            lambda: pd_top_tracks(frames, window),
        ),
        "top-artists (n=10, by plays)": (
            lambda: top_artists(store, window, n=10),
            lambda: pd_top_artists(frames, window),
        ),
        "top-artists (n=10, by listeners)": (
            lambda: top_artists(store, window, n=10, by="listeners"),
            lambda: pd_top_artists_listeners(frames, window),
        ),
        "trend (weekly)": (
            lambda: genre_trend(store, window, every="week"),
            lambda: pd_trend(frames, window),
        ),
    }
    if only:
        queries = {k: v for k, v in queries.items() if any(o in k for o in only)}
    rows: list[Row] = []
    for name, (ours, theirs) in queries.items():
        dmin, dmed, dcpu, got = _time(ours, repeat)
        p0 = time.perf_counter()
        ref = theirs()
        pd_s = time.perf_counter() - p0
        kind = name.split(" ")[0]
        rows.append(Row(n, name, dmin, dmed, dcpu, pd_s, _agree(kind, got, ref)))
        print(
            f"{n:>11,} {name:34s} duckdb min {dmin:6.3f} s  median {dmed:6.3f} s  cpu {dcpu:6.3f} s   "
            f"pandas {pd_s:7.3f} s  x{pd_s / dmin:5.1f}  agree={rows[-1].agree}",
            flush=True,
        )
    store.close()
    facts = {
        "events": n,
        "in_window": in_window,
        "users": summary.users,
        "tracks": summary.tracks,
        "artists": summary.artists,
        "generate_s": gen_s,
        "pandas_load_s": load_s,
        "window": window.label(),
    }
    return rows, facts


def machine() -> str:
    """CPU model, cores, memory and load, for the record."""
    model = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.machine()}"


def markdown(
    rows: list[Row],
    facts: list[dict[str, Any]],
    threads: int,
    repeat: int,
    load: tuple[float, float],
) -> str:
    """The ``## Analytics`` section of docs/benchmarks.md."""
    lines = [
        SECTION,
        "",
        f"`benchmarks/bench_analytics.py`, run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
        f"DuckDB {duckdb.__version__} limited to {threads} threads, pandas {pd.__version__}. "
        f"Load average before/after the run: {load[0]:.1f} / {load[1]:.1f} (the machine is shared; "
        "wall times under load are pessimistic, the CPU column is the work the query itself did).",
        "",
        "**Data: SYNTHETIC** (`encore.data.synthetic`, seed 0: Zipf track popularity, genre-specific "
        "listener tastes, sessions, skips), used only to measure speed; no claim about music is drawn "
        "from it. Each query runs on the default window (last 365 days of data).",
        "",
        "| events | users | tracks | events in window | generate (s) | pandas load (s, not counted) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for f in facts:
        lines.append(
            f"| {f['events']:,} | {f['users']:,} | {f['tracks']:,} | {f['in_window']:,} | "
            f"{f['generate_s']:.1f} | {f['pandas_load_s']:.1f} |"
        )
    lines += [
        "",
        f"Times in seconds: DuckDB fastest and median of {repeat} runs after a warm-up, CPU seconds of the "
        f"fastest run; pandas one run on frames already in memory; ratio = pandas / DuckDB fastest; "
        f"target < {TARGET_S} s at 10 M events; *agree* = the pandas answer equals Encore's.",
        "",
        "| events | query | DuckDB min | DuckDB median | DuckDB CPU | CPU / threads | pandas | pandas / DuckDB "
        "| wall < 0.5 s | agree |",
        "|---:|---|---:|---:|---:|---:|---:|---:|:-:|:-:|",
    ]
    for r in rows:
        ok = "yes" if r.duckdb_min < TARGET_S else "**no**"
        lines.append(
            f"| {r.events:,} | {r.query} | {r.duckdb_min:.3f} | {r.duckdb_median:.3f} | {r.duckdb_cpu:.3f} "
            f"| {r.duckdb_cpu / threads:.3f} | {r.pandas_s:.3f} | {r.pandas_s / r.duckdb_min:.1f}x | {ok} "
            f"| {'yes' if r.agree else '**no**'} |"
        )
    big = [r for r in rows if r.events == max(x.events for x in rows)]
    met = [r.query for r in big if r.duckdb_min < TARGET_S]
    bound = [r.query for r in big if r.duckdb_cpu / threads < TARGET_S]
    lines += [
        "",
        f"**Verdict at {big[0].events:,} events.** Measured wall time under {TARGET_S} s: "
        f"{', '.join(met) if met else 'none'} (of {len(big)}). "
        "*CPU / threads* is the CPU time the query used divided by the threads it had, the wall time "
        "it would take with the cores to itself and perfect parallelism (a lower bound, not a measurement); "
        f"under {TARGET_S} s by that bound: {', '.join(bound) if bound else 'none'}. "
        "The wall-clock target is only claimed where it was measured.",
    ]
    lines += [
        "",
        "How the queries stay fast: rankings first aggregate events by integer keys only "
        "(`track_id`, `artist_id`) and join the much smaller result to the catalogue to find genres; "
        "genres are grouped as small integer codes and named at the end; the histogram and the trend "
        "take one pass grouping by (genre, [period], user), which gives plays, minutes, skips and "
        "distinct listeners together; rankings by plays or minutes count listeners only for the rows "
        "already in the top N; durations are summed as DOUBLE (exact below 2^53 ms) rather than "
        "DuckDB's 128-bit integer sum. Distinct listeners are counted over the integer "
        "`events.user_key` (schema v2) rather than the text user id; ranking every artist by "
        "listeners (`--by listeners`) groups the events of artists whose plays all name them and "
        "fall in one genre on their own `artist_id`, and only the rest (plays known through the "
        "track, tracks in several genres) through the catalogue join; both paths are exact.",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace (or append) the ``## Analytics`` section of ``doc``, leaving the others alone."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next(
            (j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines)
        )
        new = "\n".join([*lines[:start], *text.rstrip("\n").splitlines(), "", *lines[end:]])
    doc.write_text(new.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data", type=Path, default=None, help="ignored (synthetic data); accepted for run_all"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="TEXT",
        help="run only the queries whose name contains one of these (e.g. 'by listeners'); "
        "implies --no-write",
    )
    args = parser.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows: list[Row] = []
    facts: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="encore_bench_") as tmp:
        for n in args.sizes:
            r, f = run_size(n, Path(tmp), args.threads, args.repeat, args.seed, args.only)
            rows += r
            facts.append(f)
    text = markdown(rows, facts, args.threads, args.repeat, (load0, os.getloadavg()[0]))
    print(text)
    if not args.no_write and not args.only:
        write_section(text)
        print(f"wrote the {SECTION!r} section of {DOC}")
    return 0 if all(r.agree for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

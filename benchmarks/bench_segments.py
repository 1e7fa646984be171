"""Listener segments: time of fit + map for 10,000 users (speed only).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_segments.py                  # 10k users, 1 and 2 t-SNE threads
    .venv/bin/python benchmarks/bench_segments.py --users 2000 --jobs 1

The users are **synthetic** (seeded, numpy): 8 latent taste groups over 3,000 artists of
the 21 coarse genres, about 40 artists per user with play counts, 20 timestamped events
per user (skip flag, minutes), and a profile (registration date, country, age, gender).
They exist to measure speed at the size the issue names; no quality number is taken from
them. Rows are written straight into a temporary store's tables (the ingest path is
benchmarked elsewhere).

Wall and CPU seconds (``time.process_time``, all threads of the process) are reported
with the load average: on a shared machine the wall time is mostly waiting, and the CPU
time is what an idle machine would need. Measured with :func:`encore.segments.model.fit_segments` (features from the store,
k-means with k chosen by silhouette over 2..10, 5 seeds for the adjusted Rand index,
profiles, friends check, openTSNE map), wall time by stage. Writes
``benchmarks/results/segments.json`` and ``.md`` (the table for ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "src"))

from encore.data.genres import GENRES  # noqa: E402
from encore.data.store import Store  # noqa: E402


def synthetic_store(path: Path, n_users: int, seed: int = 0) -> Store:
    """A store filled with seeded synthetic users (see the module docstring)."""
    rng = np.random.default_rng(seed)
    genres = list(GENRES)
    n_artists = 3000
    artist_genre = rng.choice(
        len(genres), size=n_artists, p=rng.dirichlet(np.ones(len(genres)) * 0.7)
    )
    popularity = rng.pareto(1.2, size=n_artists) + 1
    groups = rng.dirichlet(np.ones(len(genres)) * 0.3, size=8)
    user_group = rng.integers(0, 8, size=n_users)
    users = [f"syn:{i}" for i in range(n_users)]
    pc_rows: list[tuple[str, int, int]] = []
    ev_user, ev_artist = [], []
    for i, g in enumerate(user_group):
        w = popularity * groups[g][artist_genre]
        w /= w.sum()
        arts = rng.choice(n_artists, size=40, replace=False, p=w)
        plays = np.maximum(1, rng.lognormal(3, 1.2, size=40).astype(int))
        pc_rows.extend(zip([users[i]] * 40, (arts + 1).tolist(), plays.tolist(), strict=True))
        ev_user.extend([users[i]] * 20)
        ev_artist.extend((rng.choice(arts, size=20) + 1).tolist())
    n_ev = len(ev_user)
    countries = np.array(["US", "DE", "GB", "PL", "BR", "RU", "JP", "SE", "FR", "MX"])
    regions = np.array(
        [
            "North America",
            "Europe",
            "Europe",
            "Europe",
            "South America",
            "Europe",
            "Asia",
            "Europe",
            "Europe",
            "North America",
        ]
    )
    ci = rng.integers(0, len(countries), size=n_users)
    frames = {
        "artists": pd.DataFrame(
            {
                "artist_id": np.arange(1, n_artists + 1),
                "name": [f"artist {a}" for a in range(n_artists)],
                "name_norm": [f"artist {a}" for a in range(n_artists)],
                "genre": [genres[x] for x in artist_genre],
            }
        ),
        "users": pd.DataFrame(
            {
                "user_id": users,
                "registered_at": pd.Timestamp("2005-01-01")
                + pd.to_timedelta(rng.integers(0, 5000, n_users), unit="D"),
                "country": countries[ci],
                "region": regions[ci],
                "age": rng.integers(15, 60, n_users),
                "gender": rng.choice(["m", "f"], n_users),
            }
        ),
        "playcounts": pd.DataFrame(pc_rows, columns=["user_id", "artist_id", "plays"]),
        "events": pd.DataFrame(
            {
                "user_id": ev_user,
                "artist_id": ev_artist,
                "ts": pd.Timestamp("2020-01-01")
                + pd.to_timedelta(rng.integers(0, 365 * 86400, n_ev), unit="s"),
                "ms_played": rng.integers(5_000, 300_000, n_ev),
                "skipped": rng.random(n_ev) < 0.2,
            }
        ),
    }
    store = Store(path)
    with store.transaction() as con:
        for table, frame in frames.items():
            con.register("_bench", frame)
            cols = ", ".join(frame.columns)
            con.execute(
                f"INSERT INTO {table} ({cols}, source, ingest_id) SELECT {cols}, 'synthetic', 0 FROM _bench"
            )
            con.unregister("_bench")
    return store


def _machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")),
            "?",
        )
    except OSError:
        model = platform.processor() or "?"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()}-core {platform.machine()}, {mem:.0f} GiB, {model}"


def main() -> int:
    from encore.segments.model import fit_segments

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2], help="thread counts to time")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        store = synthetic_store(Path(tmp) / "bench.duckdb", args.users)
        build = time.perf_counter() - t
        for jobs in args.jobs:
            t, c = time.perf_counter(), time.process_time()
            model = fit_segments(store, namespace="syn", n_jobs=jobs, friends_permutations=200)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            s = model.summary()
            rows.append(
                {
                    "users": args.users,
                    "tsne_threads": jobs,
                    "segments": s["segments"],
                    "features_s": s["seconds"]["features"],
                    "cluster_s": s["seconds"]["cluster"],
                    "profile_s": s["seconds"]["profile"],
                    "map_s": s["seconds"]["map"],
                    "total_s": wall,
                    "cpu_s": cpu,
                    "load_1min": os.getloadavg()[0],
                }
            )
            print(rows[-1], flush=True)
        store.close()
    result = {
        "machine": _machine(),
        "store_build_s": build,
        "rows": rows,
        "load_average_at_end": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "segments.json").write_text(json.dumps(result, indent=2))
    lines = [
        "| users | threads | segments | features s | cluster s (k 2-10, 5 seeds) | profile s | t-SNE map s "
        "| total wall s | total CPU s | load avg (1 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['users']:,} | {r['tsne_threads']} | {r['segments']} | {r['features_s']:.1f} | "
            f"{r['cluster_s']:.1f} | {r['profile_s']:.1f} | {r['map_s']:.1f} | {r['total_s']:.1f} | "
            f"{r['cpu_s']:.1f} | {r['load_1min']:.1f} |"
        )
    (RESULTS / "segments.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(
        f"machine: {result['machine']}; 1-min load average at the end: {result['load_average_at_end'][0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Genre prediction speed: training time per model and dataset, prediction latency for one track.

Usage::

    .venv/bin/python benchmarks/bench_genre.py --db encore.duckdb \
        --datasets hetrec all-artists --models logreg lightgbm vae

The store must already hold the datasets (``encore ingest --all ../shared/data``). Reports
wall-clock and CPU seconds (CPU time is what the process itself used: on a shared machine
the wall clock also counts waiting for a core). Prints a Markdown table for
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a Markdown table."""
    from encore.data.store import Store
    from encore.genre.base import make_model
    from encore.genre.features import load_genre_data
    from encore.genre.predict import predict_new, predict_store_items

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", type=Path, default=Path("encore.duckdb"))
    ap.add_argument("--datasets", nargs="+", default=["hetrec", "all-artists"])
    ap.add_argument("--models", nargs="+", default=["logreg", "lightgbm", "vae"])
    ap.add_argument(
        "--repeats", type=int, default=30, help="single-item predictions timed per model"
    )
    args = ap.parse_args(argv)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, load average at start {load:.1f}")
    rows = []
    with Store(args.db, read_only=True) as store:
        for ds in args.datasets:
            w0, c0 = time.perf_counter(), time.process_time()
            data = load_genre_data(store, ds)
            load_wall, load_cpu = time.perf_counter() - w0, time.process_time() - c0
            unl = np.flatnonzero(data.items["genre"].isna().to_numpy())
            some_ids = (
                data.items["item_id"].to_numpy()[unl[: args.repeats]]
                if len(unl)
                else data.items["item_id"].to_numpy()[: args.repeats]
            )
            for name in args.models:
                model = make_model(name, seed=0)
                w0, c0 = time.perf_counter(), time.process_time()
                model.fit(data, data.labelled, unl if model.uses_unlabelled else None)
                fit_wall, fit_cpu = time.perf_counter() - w0, time.process_time() - c0
                new_ms, store_ms, new_cpu, store_cpu = [], [], [], []
                for i in range(args.repeats):
                    t, c = time.perf_counter(), time.process_time()
                    predict_new(
                        model,
                        artist=f"Some Artist {i}",
                        album="Some Album",
                        title="A New Song",
                        release_year=2010,
                    )
                    new_ms.append((time.perf_counter() - t) * 1000)
                    new_cpu.append((time.process_time() - c) * 1000)
                for item in some_ids:
                    t, c = time.perf_counter(), time.process_time()
                    predict_store_items(store, model, [int(item)])
                    store_ms.append((time.perf_counter() - t) * 1000)
                    store_cpu.append((time.process_time() - c) * 1000)
                epochs = ""
                hist = getattr(model, "history_", None)
                if hist is not None:
                    epochs = f"{len(hist.rows)} (best {hist.best_epoch})"
                rows.append(
                    (
                        ds,
                        data.level,
                        len(data),
                        len(data.labelled),
                        name,
                        fit_wall,
                        fit_cpu,
                        f"{statistics.median(new_ms):.1f} / {statistics.median(new_cpu):.1f}",
                        f"{statistics.median(store_ms):.1f} / {statistics.median(store_cpu):.1f}",
                        epochs,
                        load_wall,
                        load_cpu,
                    )
                )
                print(rows[-1], flush=True)
    print()
    print(
        "| dataset | level | items | labelled | model | fit wall s | fit CPU s | predict new item ms wall / CPU "
        "(median) | predict store item ms wall / CPU (median) | VAE epochs | load data wall / CPU s |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]:,} | {r[3]:,} | {r[4]} | {r[5]:.1f} | {r[6]:.1f} | {r[7]} | {r[8]} "
            f"| {r[9]} | {r[10]:.1f} / {r[11]:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

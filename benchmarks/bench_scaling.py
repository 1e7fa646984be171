"""Scaling curves: the single-machine path (DuckDB, implicit) and Spark local[2] by events.

For each size (synthetic events, seeded: structure only, never a quality claim):

- ``generate``: the synthetic store written into DuckDB (the ingest path's writer speed);
- ``export``: ``encore export events`` to a Parquet lake;
- ``ingest_parquet``: the lake read back with ``encore ingest parquet`` (all checks);
- analytics on DuckDB (the store) and on Spark (the lake): genre histogram, top tracks,
  top artists by listeners, monthly trend;
- ``matrix``: the CF models' user x track matrix as ``InteractionDataset.from_store``
  builds it (``encore.data.matrix.build_dataset``: grouped by integer user keys);
  ``matrix_frame``: the same matrix through ``build_interactions`` + ``from_interactions``
  (a string user id per pair; the path before, which evaluation's splits still take);
- ALS fit: ``implicit`` on that matrix vs ``pyspark.ml`` ALS from the lake (64 factors,
  5 iterations here to bound the run).

Every step runs in its own child process, which reports its wall time, CPU time and peak
resident memory (``ru_maxrss`` of itself and of its children, i.e. Spark's JVM). Steps
are bounded by ``--timeout`` seconds each; one that runs out says so. The parent watches
the machine while a step runs: it samples the load average (recorded with each row: other
people's processes share the machine) and the memory available; a step whose process
group drives the machine's available memory under ``--min-free-gb`` is stopped and
reported as out of memory, with its resident size at that moment (each child also sets
its ``oom_score_adj`` to 1000, so if the kernel has to kill something it is the bench).

    nice -n 10 .venv/bin/python benchmarks/bench_scaling.py --sizes 1000000,10000000 \
        [--spark-sizes 1000000] [--work DIR] [--steps generate,export,...] [--keep]

Writes benchmarks/results/scaling.json (or ``--results``), docs/img/scaling_*.png and
prints a Markdown table. ``--charts-from A.json B.json`` only redraws the charts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUESTIONS = (
    ("genres", {}),
    ("top-tracks", {}),
    ("top-artists", {"by": "listeners"}),
    ("trend", {}),
)
WIDE = {"start": "2000-01-01", "end": "2030-12-31"}
FACTORS, ITERATIONS = 64, 5


# ------------------------------------------------------------------ child steps
def _jvm_peak_mb(spark: Any) -> float:
    """Peak resident memory of the Spark driver JVM (VmHWM), read before it stops."""
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    if proc is None:
        return 0.0
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _step(name: str, n: int, work: Path) -> dict[str, Any]:
    db, lake = work / f"syn_{n}.duckdb", work / f"syn_{n}.lake"
    out: dict[str, Any] = {}
    if name == "generate":
        from encore.data.store import Store
        from encore.data.synthetic import generate

        db.unlink(missing_ok=True)
        with Store(db) as store:
            generate(store, n, seed=0)
    elif name == "export":
        from encore.data.store import Store
        from encore.lake.export import export_lake

        with Store(db, read_only=True) as store:
            s = export_lake(store, lake)
        out["lake_mb"] = s.bytes / 1e6
        out["partitions"] = s.partitions
    elif name == "ingest_parquet":
        from encore.data.ingest import ingest
        from encore.data.sources import get_loader
        from encore.data.store import Store

        back = work / f"back_{n}.duckdb"
        back.unlink(missing_ok=True)
        with Store(back) as store:
            if limit := os.environ.get("BENCH_DUCKDB_MEMORY"):
                store.execute(f"SET memory_limit = '{limit}'")
                out["duckdb_memory_limit"] = limit
            result = ingest(store, get_loader("parquet"), lake)
        out["events_loaded"] = result.loaded.get("events", 0)
        back.unlink()
        Path(f"{back}.wal").unlink(missing_ok=True)
    elif name.startswith("duckdb:") or name.startswith("spark:"):
        from encore.analytics import api

        engine, what = name.split(":")
        opts = dict(QUESTIONS)[what]
        if engine == "duckdb":
            from encore.data.store import Store

            with Store(db, read_only=True) as store:
                api.run(store, what, **WIDE, **opts)  # warm (file cache)
                t0 = time.perf_counter()
                api.run(store, what, **WIDE, **opts)
                out["query_s"] = time.perf_counter() - t0
        else:
            from encore.lake.spark import SparkLakeStore, spark_session

            spark = spark_session("local[2]", shuffle_partitions=8)
            with SparkLakeStore(lake, spark) as store:
                t0 = time.perf_counter()
                api.run(store, what, **WIDE, **opts)
                out["query_s"] = time.perf_counter() - t0
            out["jvm_mb"] = _jvm_peak_mb(spark)
            spark.stop()
    elif name in ("matrix", "matrix_frame"):
        from encore.data.dataset import InteractionDataset, build_interactions
        from encore.data.matrix import build_dataset
        from encore.data.store import Store

        with Store(db, read_only=True) as store:
            if name == "matrix":  # grouped by integer user keys (InteractionDataset.from_store)
                ds = build_dataset(store, level="track")
            else:  # the frame path: a string user id per pair (evaluation's splits use it)
                frame = build_interactions(store, level="track")
        if name == "matrix_frame":
            ds = InteractionDataset.from_interactions(frame, item_level="track")
        out["pairs"] = int(ds.matrix.nnz)
        out["shape"] = [ds.n_users, ds.n_items]
    elif name == "als_implicit":
        from encore.data.dataset import InteractionDataset
        from encore.data.store import Store
        from encore.recommenders.registry import get_model

        with Store(db, read_only=True) as store:
            ds = InteractionDataset.from_store(store, level="track")
        model = get_model("als", factors=FACTORS, iterations=ITERATIONS, num_threads=2)
        t0 = time.perf_counter()
        model.fit(ds)
        out["fit_s"] = time.perf_counter() - t0
    elif name == "als_spark":
        from encore.lake.spark import fit_spark_als, lake_interactions, spark_session

        spark = spark_session("local[2]", shuffle_partitions=8)
        ratings, nu, ni = lake_interactions(spark, lake)
        t0 = time.perf_counter()
        fit_spark_als(spark, ratings, nu, ni, factors=FACTORS, iterations=ITERATIONS)
        out["fit_s"] = time.perf_counter() - t0
        out["jvm_mb"] = _jvm_peak_mb(spark)
        spark.stop()
    else:
        raise SystemExit(f"unknown step {name}")
    return out


def _child(name: str, n: int, work: Path) -> None:
    with contextlib.suppress(OSError):  # if the kernel must kill for memory: this one
        Path("/proc/self/oom_score_adj").write_text("1000")
    t0, c0 = time.perf_counter(), time.process_time()
    out = _step(name, n, work)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out.update(
        wall_s=time.perf_counter() - t0,
        cpu_s=time.process_time() - c0,
        peak_mb=own,
        jvm_peak_mb=max(kids, out.pop("jvm_mb", 0.0)),
    )
    print("RESULT " + json.dumps(out))


def _meminfo_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def _group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the process group (the child and its JVM)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:  # field 5 of stat: pgrp
                total += int(fields[21])  # field 24: rss in pages
        except (OSError, ValueError, IndexError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_step(
    name: str,
    n: int,
    work: Path,
    timeout: int,
    min_free_gb: float = 1.0,
    max_rss_gb: float = float("inf"),
) -> dict[str, Any]:
    """Run one step in a child process group, watching time, load and memory."""
    cmd = [
        sys.executable,
        "-W",
        "ignore",
        __file__,
        "--child",
        name,
        "--n",
        str(n),
        "--work",
        str(work),
    ]
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    loads = [load0]
    watch = {"max_group_mb": 0.0, "min_available_mb": _meminfo_available_mb()}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, start_new_session=True)
        killed = ""
        tick = 0
        while proc.poll() is None:
            time.sleep(0.5)
            tick += 1
            avail = _meminfo_available_mb()
            group = _group_rss_mb(proc.pid)
            watch["max_group_mb"] = max(watch["max_group_mb"], group)
            watch["min_available_mb"] = min(watch["min_available_mb"], avail)
            if tick % 20 == 0:
                loads.append(os.getloadavg()[0])
            if avail < min_free_gb * 1024:
                killed = (
                    f"out of memory: the machine's available memory fell under "
                    f"{min_free_gb:g} GB with the step at {group / 1024:.1f} GB resident"
                )
            elif group > max_rss_gb * 1024:
                killed = (
                    f"stopped: the step passed {max_rss_gb:g} GB resident ({group / 1024:.1f} GB)"
                )
            elif time.perf_counter() - t0 > timeout:
                killed = f"did not finish in {timeout} s"
            if killed:
                os.killpg(proc.pid, 9)
                proc.wait()
                break
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    loads.append(os.getloadavg()[0])
    seen = {
        "load_min": round(min(loads), 1),
        "load_max": round(max(loads), 1),
        "watched_peak_mb": round(watch["max_group_mb"], 1),
        "min_available_mb": round(watch["min_available_mb"], 1),
    }
    if killed:
        return {"error": killed, "wall_s": time.perf_counter() - t0, **seen}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            res: dict[str, Any] = json.loads(line[7:])
            return {**res, **seen}
    tail = (stderr or stdout).strip().splitlines()[-3:]
    how = f"exit {proc.returncode}" + (" (killed)" if proc.returncode < 0 else "")
    return {
        "error": f"{how}: " + " | ".join(tail)[-300:],
        "wall_s": time.perf_counter() - t0,
        **seen,
    }


# ------------------------------------------------------------------ charts
def charts(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = {
        "genres": "tab:blue",
        "top-tracks": "tab:orange",
        "top-artists": "tab:green",
        "trend": "tab:red",
        "als": "tab:purple",
        "generate": "tab:gray",
        "export": "tab:brown",
        "ingest_parquet": "tab:pink",
        "matrix": "tab:olive",
        "matrix_frame": "tab:cyan",
    }

    def look(step: str) -> tuple[str, str]:
        key = step.split(":")[-1].replace("als_implicit", "als").replace("als_spark", "als")
        spark = step.startswith("spark:") or step == "als_spark"
        return base.get(key, "black"), "--" if spark else "-"

    paths = []
    for metric, label, fname in (
        ("seconds", "wall time (s)", "scaling_time.png"),
        ("peak_mb", "peak memory (MB, process + JVM)", "scaling_memory.png"),
    ):
        fig, ax = plt.subplots(figsize=(8, 5))
        steps = sorted({r["step"] for r in rows if metric in r})
        for step in steps:
            pts = sorted(
                (r["events"], r[metric]) for r in rows if r["step"] == step and metric in r
            )
            if pts:
                xs, ys = zip(*pts, strict=True)
                color, style = look(step)
                ax.plot(xs, ys, style, color=color, marker="o", label=step)
        # a step stopped (out of memory or time): an x where it stood when stopped
        at = "wall_s" if metric == "seconds" else "watched_peak_mb"
        stopped = [r for r in rows if "error" in r and r.get(at)]
        for r in stopped:
            color, _style = look(r["step"])
            ax.plot(r["events"], r[at], "x", color=color, markersize=11, mew=2.5)
            ax.annotate(
                f"{r['step']}: stopped",
                (r["events"], r[at]),
                textcoords="offset points",
                xytext=(-8, 6),
                ha="right",
                fontsize=7,
                color=color,
            )
        if metric == "peak_mb":  # what one machine has
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
            ax.axhline(ram, color="black", lw=0.8, ls=":")
            ax.annotate(
                f"this machine's RAM ({ram / 1024:.0f} GiB)",
                (1, ram),
                fontsize=7,
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("synthetic events")
        ax.set_ylabel(label)
        ax.set_title(f"Encore scaling: {label}\n(solid: DuckDB / implicit; dashed: Spark local[2])")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(True, which="both", alpha=0.3)
        path = out / fname
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--spark-sizes", default="1000000")
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--steps", default="", help="comma-separated steps (default: all)")
    ap.add_argument(
        "--keep", action="store_true", help="keep the store and lake of each size in --work"
    )
    ap.add_argument(
        "--results", type=Path, default=ROOT / "benchmarks" / "results" / "scaling.json"
    )
    ap.add_argument("--min-free-gb", type=float, default=1.0)
    ap.add_argument(
        "--max-rss-gb",
        type=float,
        default=float("inf"),
        help="stop a step whose processes pass this resident size (GB)",
    )
    ap.add_argument("--no-charts", action="store_true", help="leave docs/img alone")
    ap.add_argument(
        "--duckdb-memory",
        default="",
        help="DuckDB memory_limit of the lake ingest (e.g. 6GB; default DuckDB's, 80%% of RAM)",
    )
    ap.add_argument("--child", default=None)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument(
        "--charts-from", type=Path, nargs="*", help="only redraw the charts from results JSON"
    )
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.n, args.work)
        return
    if args.charts_from:
        rows = [r for f in args.charts_from for r in json.loads(f.read_text())]
        print("\n".join(str(p) for p in charts(rows, ROOT / "docs" / "img")))
        return
    if args.duckdb_memory:
        os.environ["BENCH_DUCKDB_MEMORY"] = args.duckdb_memory
    work = args.work or Path(tempfile.mkdtemp(prefix="encore_scaling_"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    spark_sizes = {int(s) for s in args.spark_sizes.split(",") if s}
    rows: list[dict[str, Any]] = []
    results = args.results
    results.parent.mkdir(parents=True, exist_ok=True)
    only = [x for x in args.steps.split(",") if x]
    for n in sizes:
        steps = ["generate", "export", "ingest_parquet", "matrix_frame", "matrix", "als_implicit"]
        steps += [f"duckdb:{q}" for q, _ in QUESTIONS]
        if n in spark_sizes:
            steps += [f"spark:{q}" for q, _ in QUESTIONS] + ["als_spark"]
        if only:
            steps = [s for s in only if s in steps]
        for step in steps:
            res = run_step(step, n, work, args.timeout, args.min_free_gb, args.max_rss_gb)
            seconds = res.get("query_s", res.get("fit_s", res.get("wall_s")))
            row = {"events": n, "step": step, **res}
            if "error" not in res:
                row["seconds"] = seconds
                row["peak_mb"] = max(res["peak_mb"], res.get("jvm_peak_mb", 0))
            rows.append(row)
            print(json.dumps(row), flush=True)
            results.write_text(json.dumps(rows, indent=2))
        if not args.keep:
            (work / f"syn_{n}.duckdb").unlink(missing_ok=True)
            shutil.rmtree(work / f"syn_{n}.lake", ignore_errors=True)
    paths = [] if args.no_charts else charts(rows, ROOT / "docs" / "img")
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}; charts: {', '.join(str(p) for p in paths)}"
    )
    print("| events | step | seconds | peak MB | load | note |\n|---|---|---|---|---|---|")
    for r in rows:
        note = r.get("error", "")
        secs = f"{r['seconds']:.2f}" if "seconds" in r else ""
        peak = f"{r['peak_mb']:.0f}" if "peak_mb" in r else ""
        load = f"{r.get('load_min', '')}-{r.get('load_max', '')}"
        print(f"| {r['events']:,} | {r['step']} | {secs} | {peak} | {load} | {note} |")


if __name__ == "__main__":
    main()

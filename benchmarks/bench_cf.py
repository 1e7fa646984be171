"""Encore's collaborative-filtering models against RecTools (and implicit) on one split.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_cf.py --data hetrec            # HetRec Last.fm 2K artists
    .venv/bin/python benchmarks/bench_cf.py --data jodie             # JODIE Last.fm sample, tracks
    .venv/bin/python benchmarks/bench_cf.py --data hetrec --no-peer  # Encore only

What it does:

1. Ingests the dataset from ``../shared/data`` into a temporary Encore store and makes
   the split with Encore's own code (HetRec: seeded 20 % per-user random holdout, as it
   has no timestamps; JODIE: global temporal split), with log1p play weights.
2. Writes train and the user list to CSV (the peer venv has no pyarrow: current pyarrow
   wheels need numpy 2), so every library sees identical data.
3. Runs each model in its own process (so ``ru_maxrss`` is that model's peak memory):
   Encore in this environment, RecTools 0.19 and plain implicit in
   ``benchmarks/.venv-rectools`` (created on first use with ``python3.11 -m venv`` and
   ``pip install rectools==0.19.* implicit``, because RecTools pins numpy<2 and pandas<3).
   Each process fits, then recommends top-k for **all** train users with seen items
   filtered; fit and recommend wall times and CPU times (all threads, from
   ``time.process_time``; steadier than wall time on a shared machine) are measured inside
   the process, peak memory is the process's ``VmHWM``.
4. Scores every recommendation frame with Encore's metric code
   (:func:`encore.evaluation.metrics.evaluate_recommendations`) on the test users: full
   ranking, new items only.
5. Writes ``benchmarks/results/cf-<data>.json`` and ``.md`` (the table for
   ``docs/benchmarks.md``).

Thread counts are pinned to ``--threads`` for both sides (BLAS and implicit).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / "benchmarks" / ".venv-rectools"
PEER_SCRIPT = ROOT / "benchmarks" / "peer_rectools.py"
RESULTS = ROOT / "benchmarks" / "results"
SHARED = Path(os.environ.get("ENCORE_DATA", ROOT.parent / "shared" / "data"))

#: Dataset -> (loader, folder, item level, split method).
DATASETS: dict[str, tuple[str, str, str, str]] = {
    "hetrec": ("hetrec2011", "hetrec2011-lastfm-2k", "artist", "random"),
    "jodie": ("jodie", "lastfm-1k-jodie-sample", "track", "global-time"),
}

#: The same hyperparameters for both libraries (Encore config names; the peer script maps them).
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "hetrec": {
        "popular": {},
        "item_knn": {"similarity": "cosine", "k": 100},
        "als": {"factors": 64, "regularization": 0.1, "alpha": 1.0, "iterations": 15},
        "ease": {"l2": 10000.0, "min_item_users": 1, "max_items": None},
        "pure_svd": {"factors": 64},
    },
    "jodie": {
        "popular": {},
        "item_knn": {"similarity": "bm25", "k": 100},
        "als": {"factors": 64, "regularization": 0.1, "alpha": 1.0, "iterations": 15},
        "ease": {"l2": 500.0, "min_item_users": 1, "max_items": None},
        "pure_svd": {"factors": 32},
    },
}
#: Libraries an Encore model imports lazily in its fit; the worker imports them before timing.
LAZY_IMPORTS: dict[str, tuple[str, ...]] = {
    "als": ("implicit.cpu.als", "threadpoolctl"),
    "pure_svd": ("scipy.sparse.linalg",),
}
#: Seeded models: run once per seed with ``--seeds N`` (seeds 0..N-1, the same on every side).
SEEDED: frozenset[str] = frozenset({"als"})
#: Which peers run which model.
PEERS: dict[str, tuple[str, ...]] = {
    "popular": ("rectools",),
    "item_knn": ("rectools", "implicit"),
    "als": ("rectools", "implicit"),
    "ease": ("rectools",),
    "pure_svd": ("rectools",),
}


def rss_mb() -> float:
    """Peak resident set size of this process so far (MiB), from ``VmHWM``.

    ``getrusage``'s ``ru_maxrss`` is not used: Linux carries it over ``fork`` + ``exec``,
    so a child would report its parent's peak when that is larger.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- worker
def encore_worker(args: argparse.Namespace) -> None:
    """Fit one Encore model and recommend for all users (runs in its own process)."""
    from encore.data.dataset import InteractionDataset
    from encore.recommenders.registry import get_model

    train = pd.read_csv(args.train, dtype={"user_id": str}, parse_dates=["ts"])
    users = pd.read_csv(args.users, dtype={"user_id": str})["user_id"].to_numpy()
    params = json.loads(args.params)
    if "num_threads" in get_model(args.model).get_config():
        params.setdefault("num_threads", min(args.threads, 2))
    ds = InteractionDataset.from_interactions(train, item_level=args.level)
    # Encore imports a model's backing library on first use, inside fit; the peer scripts
    # import theirs before the timer starts, so do the same here (import time is not fit time)
    for module in LAZY_IMPORTS.get(args.model, ()):
        importlib.import_module(module)
    rss_data = rss_mb()
    model = get_model(args.model, **params)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(ds)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    recs = model.recommend(users, k=args.k, exclude_seen=True)
    rec_s, rec_cpu = time.perf_counter() - t0, time.process_time() - c0
    recs.to_csv(args.out_recs, index=False)
    Path(args.out_json).write_text(
        json.dumps(
            {
                "library": "encore",
                "model": args.model,
                "params": model.get_config(),
                "fit_s": fit_s,
                "recommend_s": rec_s,
                "fit_cpu_s": fit_cpu,
                "recommend_cpu_s": rec_cpu,
                "peak_rss_mb": rss_mb(),
                "rss_after_data_mb": rss_data,
            }
        )
    )


# ----------------------------------------------------------------------------- driver
def ensure_peer_venv() -> tuple[Path | None, str]:
    """The peer venv's python, creating it when missing; (None, reason) when impossible."""
    py = PEER_VENV / "bin" / "python"
    if py.exists():
        return py, "existing"
    try:
        subprocess.run(
            ["python3.11", "-m", "venv", str(PEER_VENV)], check=True, capture_output=True, text=True
        )
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "rectools==0.19.*", "implicit"],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return None, f"could not create the RecTools environment: {detail.strip()[-500:]}"
    return py, "created"


def build_split(data: str, work: Path) -> tuple[Any, str]:
    """Ingest the dataset into a temporary store and split it with Encore's code."""
    from encore.data.ingest import ingest
    from encore.data.sources import get_loader
    from encore.data.store import Store
    from encore.evaluation.runner import split_store

    loader, folder, level, method = DATASETS[data]
    with Store(work / "bench.duckdb") as store:
        ingest(store, get_loader(loader), SHARED / folder)
        split = split_store(
            store, level=level, method=method, source=loader, weighting="log1p", seed=0
        )
    return split, level


def run_one(cmd: list[str], env: dict[str, str], out_json: Path, timeout: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip()[-800:], "process_s": wall}
    info: dict[str, Any] = json.loads(out_json.read_text())
    info["process_s"] = wall
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Encore vs RecTools/implicit on one split")
    ap.add_argument("--data", choices=sorted(DATASETS), default="hetrec")
    ap.add_argument("--models", default="popular,item_knn,als,ease,pure_svd")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-peer", action="store_true", help="run Encore only")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per model process")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--libraries", default="encore,rectools,implicit", help="which libraries to run"
    )
    ap.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="run seeded models (ALS) with seeds 0..N-1 on every side and summarise NDCG over them",
    )
    ap.add_argument(
        "--merge",
        action="store_true",
        help="replace only the (model, library) rows run now in an existing result file",
    )
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--train", help=argparse.SUPPRESS)
    ap.add_argument("--users", help=argparse.SUPPRESS)
    ap.add_argument("--level", default="track", help=argparse.SUPPRESS)
    ap.add_argument("--out-recs", help=argparse.SUPPRESS)
    ap.add_argument("--out-json", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        encore_worker(args)
        return 0

    from encore.evaluation.metrics import evaluate_recommendations
    from encore.evaluation.report import markdown_table

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    peer_py, peer_note = (None, "skipped (--no-peer)") if args.no_peer else ensure_peer_venv()
    if peer_py is None:
        print(f"peer: {peer_note}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_cf_") as tmp:
        work = Path(tmp)
        split, level = build_split(args.data, work)
        train_path, users_path = work / "train.csv", work / "users.csv"
        split.train[["user_id", "item_id", "weight", "ts"]].to_csv(train_path, index=False)
        users = pd.DataFrame({"user_id": np.sort(split.train["user_id"].unique())})
        users.to_csv(users_path, index=False)
        n_items = int(split.train["item_id"].nunique())
        print(
            f"{args.data}: {split.description}; {len(split.train):,} train rows, "
            f"{len(users):,} users, {n_items:,} items, {len(split.test):,} test rows",
            file=sys.stderr,
        )
        for model in models:
            params = SETTINGS[args.data].get(model, {})
            jobs: list[tuple[str, list[str]]] = [
                ("encore", [sys.executable, str(Path(__file__).resolve()), "--worker"])
            ]
            if peer_py is not None:
                jobs += [
                    (lib, [str(peer_py), str(PEER_SCRIPT), "--library", lib])
                    for lib in PEERS.get(model, ())
                ]
            wanted = {x.strip() for x in args.libraries.split(",")}
            jobs = [job for job in jobs if job[0] in wanted]
            seeds = range(max(args.seeds, 1)) if model in SEEDED else [None]
            for (lib, prefix), seed in [(job, sd) for sd in seeds for job in jobs]:
                run_params = dict(params)
                if seed is not None:  # Encore's config field vs the peer script's parameter
                    run_params["random_state" if lib == "encore" else "seed"] = seed
                recs_path, json_path = work / f"{lib}-{model}.csv", work / f"{lib}-{model}.json"
                cmd = [
                    *prefix,
                    "--model",
                    model,
                    "--params",
                    json.dumps(run_params),
                    "--train",
                    str(train_path),
                    "--users",
                    str(users_path),
                    "--k",
                    str(args.k),
                    "--out-recs",
                    str(recs_path),
                    "--out-json",
                    str(json_path),
                ]
                cmd += ["--level", level] if lib == "encore" else ["--threads", str(args.threads)]
                print(f"running {lib} {model} ...", file=sys.stderr, flush=True)
                try:
                    info = run_one(cmd, env, json_path, args.timeout)
                except subprocess.TimeoutExpired:
                    info = {"error": f"timed out after {args.timeout}s"}
                row: dict[str, Any] = {"model": model, "library": lib, "seed": seed}
                if "error" in info:
                    row["error"] = info["error"]
                    print(f"  failed: {info['error'][-300:]}", file=sys.stderr)
                else:
                    recs = pd.read_csv(recs_path, dtype={"user_id": str})
                    recs["user_id"] = recs["user_id"].astype(str)
                    recs["item_id"] = recs["item_id"].astype("int64")
                    res = evaluate_recommendations(
                        recs, split.test, train=split.train, ks=(args.k,), catalogue_size=n_items
                    )
                    row.update(
                        {
                            key: res.summary[key]
                            for key in (
                                f"ndcg@{args.k}",
                                f"precision@{args.k}",
                                f"recall@{args.k}",
                                f"map@{args.k}",
                                f"mrr@{args.k}",
                                f"hit_rate@{args.k}",
                                f"coverage@{args.k}",
                                f"novelty@{args.k}",
                            )
                        }
                    )
                    row.update(
                        {
                            "fit_s": info["fit_s"],
                            "recommend_s": info["recommend_s"],
                            "fit_plus_recommend_s": info["fit_s"] + info["recommend_s"],
                            "fit_cpu_s": info.get("fit_cpu_s", float("nan")),
                            "recommend_cpu_s": info.get("recommend_cpu_s", float("nan")),
                            "peak_rss_mb": info["peak_rss_mb"],
                            "rss_over_data_mb": info["peak_rss_mb"] - info["rss_after_data_mb"],
                            "n_users_scored": res.n_users,
                            "params": json.dumps(run_params),
                        }
                    )
                    if "versions" in info:
                        row["versions"] = json.dumps(info["versions"])
                    print(
                        f"  ndcg@{args.k}={row[f'ndcg@{args.k}']:.4f} fit={info['fit_s']:.2f}s "
                        f"rec={info['recommend_s']:.2f}s rss={info['peak_rss_mb']:.0f}MiB",
                        file=sys.stderr,
                    )
                rows.append(row)
    table = pd.DataFrame(rows)
    by_seed = table[table["seed"].notna()] if "seed" in table.columns else table.iloc[0:0]
    seed_summary = pd.DataFrame()
    if args.seeds > 1 and len(by_seed) and f"ndcg@{args.k}" in by_seed.columns:
        seed_summary = (
            by_seed.groupby(["model", "library"], sort=False)[f"ndcg@{args.k}"]
            .agg(["count", "mean", "std", "min", "max"])
            .reset_index()
            .rename(columns={"count": "seeds"})
        )
    # the main table shows one run per (model, library): seed 0 for seeded models
    table = table[table["seed"].isna() | (table["seed"] == 0)] if "seed" in table.columns else table
    result_json = args.out / f"cf-{args.data}.json"
    if args.merge and result_json.exists():
        old = pd.DataFrame(json.loads(result_json.read_text())["rows"])
        done = set(zip(table["model"], table["library"], strict=True))
        keep = old[
            [(m, lib) not in done for m, lib in zip(old["model"], old["library"], strict=True)]
        ]
        table = pd.concat([keep, table], ignore_index=True)
        order = {m: i for i, m in enumerate(SETTINGS[args.data])}
        libs = {"encore": 0, "rectools": 1, "implicit": 2}
        table = table.sort_values(
            ["model", "library"], key=lambda c: c.map(order if c.name == "model" else libs)
        )
    machine = _machine()
    meta = {
        "data": args.data,
        "level": level,
        "split": split.description,
        "split_stats": split.stats,
        "k": args.k,
        "threads": args.threads,
        "peer": peer_note,
        "machine": machine,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    result_json.write_text(
        json.dumps(
            {
                "meta": meta,
                "rows": json.loads(table.to_json(orient="records")),
                "seed_summary": json.loads(seed_summary.to_json(orient="records")),
            },
            indent=2,
        )
    )
    k = args.k
    cols = [
        "model",
        "library",
        f"ndcg@{k}",
        f"recall@{k}",
        f"map@{k}",
        f"coverage@{k}",
        "fit_s",
        "recommend_s",
        "fit_plus_recommend_s",
        "fit_cpu_s",
        "recommend_cpu_s",
        "peak_rss_mb",
    ]
    shown = table[[c for c in cols if c in table.columns]]
    md = [
        f"### {args.data} ({level}s), k={k}",
        "",
        f"Split: {split.description}. Machine: {machine}. Threads: {args.threads}. Run {meta['date']}.",
        "",
        markdown_table(shown),
        "",
    ]
    if len(seed_summary):
        md += [
            f"NDCG@{k} of seeded models over seeds 0-{args.seeds - 1} (same seeds on every side):",
            "",
            markdown_table(seed_summary),
            "",
        ]
    if "error" in table.columns:
        for r in table[table["error"].notna()].itertuples():
            md.append(f"- {r.library} {r.model} failed: {str(r.error)[-300:]}")
    (args.out / f"cf-{args.data}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()}-core {platform.machine()} ({model}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


if __name__ == "__main__":
    raise SystemExit(main())

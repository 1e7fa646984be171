"""Peer side of ``bench_cf.py``: fit one RecTools (or plain implicit) model and recommend.

Runs inside ``benchmarks/.venv-rectools`` (RecTools pins numpy<2 and pandas<3, so it
cannot share Encore's environment) and imports nothing from Encore. One model per
process, so that the peak resident memory it reports belongs to that model alone.

Input: the train interactions (CSV: user_id, item_id, weight, ts) and the users to
recommend for. Output: a CSV of recommendations (user_id, item_id, score, rank) and
a JSON of timings and memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: CPU seconds (all threads) of the fit and recommend phases, filled by the runners.
CPU: dict[str, float] = {}


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


def run_rectools(
    name: str, params: dict[str, Any], train: pd.DataFrame, users: np.ndarray, k: int, threads: int
) -> tuple[pd.DataFrame, float, float]:
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.models import (
        EASEModel,
        ImplicitALSWrapperModel,
        ImplicitItemKNNWrapperModel,
        PopularModel,
        PureSVDModel,
    )

    frame = train.rename(
        columns={"user_id": Columns.User, "item_id": Columns.Item, "weight": Columns.Weight}
    )
    if "ts" in frame and frame["ts"].notna().all():
        frame[Columns.Datetime] = pd.to_datetime(frame["ts"])
    else:  # RecTools requires a datetime column; HetRec has none
        frame[Columns.Datetime] = pd.Timestamp("2011-01-01")
    frame = frame[[Columns.User, Columns.Item, Columns.Weight, Columns.Datetime]]
    dataset = Dataset.construct(frame)
    if name == "popular":
        model: Any = PopularModel(popularity="n_users")
    elif name == "item_knn":
        if params.get("similarity", "cosine") == "bm25":
            inner: Any = BM25Recommender(
                K=params["k"],
                K1=params.get("bm25_k1", 1.2),
                B=params.get("bm25_b", 0.75),
                num_threads=threads,
            )
        else:
            inner = CosineRecommender(K=params["k"], num_threads=threads)
        model = ImplicitItemKNNWrapperModel(inner)
    elif name == "als":
        model = ImplicitALSWrapperModel(
            AlternatingLeastSquares(
                factors=params["factors"],
                regularization=params["regularization"],
                alpha=params.get("alpha", 1.0),
                iterations=params["iterations"],
                random_state=params.get("seed", 0),
                num_threads=threads,
            )
        )
    elif name == "ease":
        model = EASEModel(regularization=params["l2"], num_threads=threads)
    elif name == "pure_svd":
        model = PureSVDModel(factors=params["factors"], random_state=params.get("seed", 0))
    else:
        raise SystemExit(f"rectools has no {name}")
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        model.fit(dataset)
    except TypeError as exc:
        # RecTools 0.19 hands a RandomState to scipy>=1.15's svds, which wants an int or
        # Generator; fall back to scipy's own (unseeded) start vector
        if name != "pure_svd" or "SeedSequence" not in str(exc):
            raise
        model = PureSVDModel(factors=params["factors"], random_state=None)
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(dataset)
    fit_s = time.perf_counter() - t0
    CPU["fit_cpu_s"] = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    recs = model.recommend(users=users, dataset=dataset, k=k, filter_viewed=True)
    rec_s = time.perf_counter() - t0
    CPU["recommend_cpu_s"] = time.process_time() - c0
    recs = recs.rename(
        columns={
            Columns.User: "user_id",
            Columns.Item: "item_id",
            Columns.Score: "score",
            Columns.Rank: "rank",
        }
    )
    return recs[["user_id", "item_id", "score", "rank"]], fit_s, rec_s


def run_implicit(
    name: str, params: dict[str, Any], train: pd.DataFrame, users: np.ndarray, k: int, threads: int
) -> tuple[pd.DataFrame, float, float]:
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    uids, uidx = np.unique(train["user_id"].to_numpy(), return_inverse=True)
    iids, iidx = np.unique(train["item_id"].to_numpy(), return_inverse=True)
    user_items = sp.csr_matrix(
        (train["weight"].to_numpy(dtype=np.float32), (uidx, iidx)), shape=(len(uids), len(iids))
    )
    if name == "item_knn":
        if params.get("similarity", "cosine") == "bm25":
            model: Any = BM25Recommender(
                K=params["k"],
                K1=params.get("bm25_k1", 1.2),
                B=params.get("bm25_b", 0.75),
                num_threads=threads,
            )
        else:
            model = CosineRecommender(K=params["k"], num_threads=threads)
    elif name == "als":
        model = AlternatingLeastSquares(
            factors=params["factors"],
            regularization=params["regularization"],
            alpha=params.get("alpha", 1.0),
            iterations=params["iterations"],
            random_state=params.get("seed", 0),
            num_threads=threads,
        )
    else:
        raise SystemExit(f"implicit has no {name}")
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(user_items, show_progress=False)
    fit_s = time.perf_counter() - t0
    CPU["fit_cpu_s"] = time.process_time() - c0
    rows = np.searchsorted(uids, users)
    t0, c0 = time.perf_counter(), time.process_time()
    ids, scores = model.recommend(rows, user_items[rows], N=k, filter_already_liked_items=True)
    rec_s = time.perf_counter() - t0
    CPU["recommend_cpu_s"] = time.process_time() - c0
    keep = ids >= 0
    recs = pd.DataFrame(
        {
            "user_id": np.repeat(users, keep.sum(axis=1)),
            "item_id": iids[ids[keep]],
            "score": scores[keep].astype(float),
            "rank": np.tile(np.arange(1, ids.shape[1] + 1), (ids.shape[0], 1))[keep],
        }
    )
    return recs, fit_s, rec_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--library", choices=["rectools", "implicit"], required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--params", default="{}")
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--users", type=Path, required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-recs", type=Path, required=True)
    ap.add_argument("--out-json", type=Path, required=True)
    args = ap.parse_args()
    train = pd.read_csv(args.train, dtype={"user_id": str}, parse_dates=["ts"])
    users = pd.read_csv(args.users, dtype={"user_id": str})["user_id"].to_numpy()
    params = json.loads(args.params)
    rss_data = rss_mb()
    run = run_rectools if args.library == "rectools" else run_implicit
    recs, fit_s, rec_s = run(args.model, params, train, users, args.k, args.threads)
    recs.to_csv(args.out_recs, index=False)
    import importlib.metadata as md

    versions = {
        p: md.version(p) for p in ("rectools", "implicit", "numpy", "pandas", "scipy") if _has(p)
    }
    args.out_json.write_text(
        json.dumps(
            {
                "library": args.library,
                "model": args.model,
                "params": params,
                "fit_s": fit_s,
                "recommend_s": rec_s,
                **CPU,
                "peak_rss_mb": rss_mb(),
                "rss_after_data_mb": rss_data,
                "versions": versions,
            }
        )
    )


def _has(package: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(package)
    except md.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()

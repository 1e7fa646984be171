"""ALS on Spark (``pyspark.ml``, implicit preferences) against ``implicit`` on the HetRec split.

The same split as ``bench_cf.py --data hetrec`` (HetRec Last.fm 2K, artist level, seeded
per-user random holdout, log1p weights), the same hyper-parameters (64 factors, 15
iterations, alpha 1), full-catalogue ranking of new artists, NDCG@10 with a paired
bootstrap interval of Spark minus implicit. Spark scales the regularisation by each
row's number of ratings (ALS-WR) and ``implicit`` does not, so Spark is also run at a
few ``regParam`` values; the report says which and what each gives.

    nice -n 10 .venv/bin/python benchmarks/bench_spark_als.py [--master local[2]]

Prints a Markdown section for docs/scaling.md and writes benchmarks/results/spark_als.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ENCORE_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT / "src"))


def spark_recs(ds: Any, users: np.ndarray, uf: np.ndarray, vf: np.ndarray, k: int) -> pd.DataFrame:
    """Top-k new items per test user from Spark's factors (seen items excluded)."""
    idx = ds.user_map.to_internal(users)
    scores = uf[idx] @ vf.T
    seen = ds.matrix[idx]
    scores[seen.nonzero()] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    items = ds.item_map.to_external(top.ravel())
    return pd.DataFrame(
        {
            "user_id": np.repeat(users, k),
            "item_id": items,
            "score": np.take_along_axis(scores, top, axis=1).ravel(),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--reg", default="0.1,0.01,0.001", help="Spark regParam values")
    args = ap.parse_args()

    from encore.data.dataset import InteractionDataset
    from encore.data.ingest import ingest
    from encore.data.sources import get_loader
    from encore.data.store import Store
    from encore.evaluation.metrics import evaluate_recommendations
    from encore.evaluation.runner import run_model, split_store
    from encore.evaluation.stats import paired_bootstrap
    from encore.lake.spark import fit_spark_als, spark_session

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "h.duckdb") as store:
        ingest(store, get_loader("hetrec2011"), SHARED / "hetrec2011-lastfm-2k")
        split = split_store(
            store,
            level="artist",
            method="random",
            source="hetrec2011",
            weighting="log1p",
            seed=0,
        )
    ds = InteractionDataset.from_interactions(split.train, item_level="artist")
    ks = (10,)
    run, _ = run_model("als", ds, split, ks=ks)
    assert run.result is not None
    ref = run.result
    print(f"implicit ALS: ndcg@10 {ref.summary['ndcg@10']:.4f}  fit {run.fit_seconds:.1f} s")
    spark = spark_session(args.master, shuffle_partitions=4, **{"spark.ui.enabled": "false"})
    users = pd.unique(split.test["user_id"])
    rows: list[dict[str, Any]] = [
        {
            "engine": "implicit (CPU, 1 thread)",
            "regularization": 0.1,
            "ndcg@10": ref.summary["ndcg@10"],
            "fit_s": run.fit_seconds,
            "diff": None,
        }
    ]
    for reg in (float(r) for r in args.reg.split(",")):
        t0 = time.perf_counter()
        uf, vf = fit_spark_als(
            spark,
            ds.matrix,
            ds.n_users,
            ds.n_items,
            factors=64,
            regularization=reg,
            alpha=1.0,
            iterations=15,
            seed=42,
        )
        fit_s = time.perf_counter() - t0
        res = evaluate_recommendations(
            spark_recs(ds, users, uf, vf, 10),
            split.test,
            train=split.train,
            ks=ks,
            catalogue_size=ds.n_items,
            exclude_seen=True,
        )
        b = paired_bootstrap(res.per_user["ndcg@10"], ref.per_user["ndcg@10"], seed=0)
        diff = {"mean": b.mean_diff, "lo": b.low, "hi": b.high}
        rows.append(
            {
                "engine": f"Spark {args.master}",
                "regularization": reg,
                "ndcg@10": res.summary["ndcg@10"],
                "fit_s": fit_s,
                "diff": diff,
            }
        )
        print(
            f"spark reg {reg}: ndcg@10 {res.summary['ndcg@10']:.4f} fit {fit_s:.1f} s diff {diff}"
        )
    out = ROOT / "benchmarks" / "results" / "spark_als.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2, default=str))
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print("| engine | regularization | NDCG@10 | Spark - implicit [95 % interval] | fit s |")
    print("|---|---|---|---|---|")
    for r in rows:
        d = r["diff"]
        dtxt = "" if d is None else f"{d['mean']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}]"
        print(
            f"| {r['engine']} | {r['regularization']:g} | {r['ndcg@10']:.4f} | {dtxt} | {r['fit_s']:.1f} |"
        )


if __name__ == "__main__":
    main()

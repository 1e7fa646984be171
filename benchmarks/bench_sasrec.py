"""Encore's sequence models (SASRec, Markov chain, item kNN over the last items) against the
CF models and RecTools' SASRec on the JODIE temporal split.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_sasrec.py                    # 3 seeds, with the peer
    .venv/bin/python benchmarks/bench_sasrec.py --seeds 0 --no-peer

What it does:

1. Ingests the JODIE Last.fm sample from ``../shared/data`` into a temporary store and
   makes Encore's global temporal split (the last 20 % of events by time in test); train
   keeps one row per event for the sequence models.
2. Fits every model once on train (SASRec once per seed) and scores two tasks with
   Encore's metric code, full ranking: **next new track** (items the user had in train
   are neither ranked nor relevant; Encore's default) and **next play** (repeats allowed:
   nothing excluded).
3. RecTools' ``SASRecModel`` (softmax loss, the same length, size, learning rate and
   batch size; 3x the epochs, since it trains on each user's latest window only where
   Encore cuts every user's whole history into windows) in ``benchmarks/.venv-rectools`` (``bench_cf.py`` makes it; RecTools
   needs ``rectools[torch]``) on the identical train events, per seed.
4. A paired bootstrap of SASRec (seed 0) against the best non-sequential model on
   next-new-track NDCG@10; the training curve of seed 0 as PNG and HTML.
5. Writes ``benchmarks/results/sasrec-jodie.json`` and ``.md``.

Training threads are pinned to ``--threads`` on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

import _summary

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / "benchmarks" / ".venv-rectools"
PEER_SCRIPT = ROOT / "benchmarks" / "peer_rectools_sasrec.py"
RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"
SHARED = Path(os.environ.get("ENCORE_DATA", ROOT.parent / "shared" / "data"))
BASE_MODELS = ("popular", "recent_popular", "item_knn", "ease", "als", "markov", "last_items_knn")
SEQUENTIAL = ("markov", "last_items_knn", "sasrec", "rectools_sasrec")
K = 10


def score(recs: pd.DataFrame, split: Any, n_items: int, *, new: bool) -> Any:
    from encore.evaluation.metrics import evaluate_recommendations

    return evaluate_recommendations(
        recs, split.test, train=split.train, ks=(K,), catalogue_size=n_items, exclude_seen=new
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument(
        "--peer-epochs",
        type=int,
        default=None,
        help="RecTools epochs (default 3x --epochs: it trains on each user's last window only)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]

    from encore.data.dataset import InteractionDataset
    from encore.data.ingest import ingest
    from encore.data.sources import get_loader
    from encore.data.store import Store
    from encore.evaluation.runner import _dataset_events, split_store
    from encore.evaluation.stats import paired_bootstrap
    from encore.recommenders.registry import get_model

    tmp = Path(tempfile.mkdtemp(prefix="bench-sasrec-"))
    with Store(tmp / "jodie.duckdb") as store:
        ingest(store, get_loader("jodie"), SHARED / "lastfm-1k-jodie-sample")
        split = split_store(store, method="global-time")
    ds = _dataset_events(split, InteractionDataset.from_interactions(split.train))
    assert ds.events is not None
    users = pd.unique(split.test["user_id"])
    rows: list[dict[str, Any]] = []
    per_user: dict[str, pd.Series] = {}

    def record(name: str, seed: int | None, fit_s: float, recs_new: Any, recs_all: Any) -> None:
        new = score(recs_new, split, ds.n_items, new=True)
        allp = score(recs_all, split, ds.n_items, new=False)
        key = name if seed in (None, 0) else f"{name}#{seed}"
        per_user[key] = new.per_user[f"ndcg@{K}"]
        rows.append(
            {
                "model": name,
                "seed": seed,
                "new_ndcg@10": new.summary[f"ndcg@{K}"],
                "new_recall@10": new.summary[f"recall@{K}"],
                "play_ndcg@10": allp.summary[f"ndcg@{K}"],
                "play_recall@10": allp.summary[f"recall@{K}"],
                "fit_s": fit_s,
                "users_new": new.n_users,
                "users_play": allp.n_users,
            }
        )
        print(rows[-1], flush=True)

    curve = None
    for name in BASE_MODELS:
        model = get_model(name)
        t0 = time.perf_counter()
        model.fit(ds)
        fit_s = time.perf_counter() - t0
        record(
            name,
            None,
            fit_s,
            model.recommend(users, k=K),
            model.recommend(users, k=K, exclude_seen=False),
        )
    for seed in seeds:
        model = get_model("sasrec", seed=seed, epochs=args.epochs, threads=args.threads)
        t0 = time.perf_counter()
        model.fit(ds, show_progress=True)
        fit_s = time.perf_counter() - t0
        if curve is None:
            curve = model.training_curve()  # type: ignore[attr-defined]
        record(
            "sasrec",
            seed,
            fit_s,
            model.recommend(users, k=K),
            model.recommend(users, k=K, exclude_seen=False),
        )
    ablation = get_model("sasrec", seed=0, epochs=args.epochs, threads=args.threads, use_gaps=False)
    t0 = time.perf_counter()
    ablation.fit(ds)
    record(
        "sasrec (no time gaps)",
        0,
        time.perf_counter() - t0,
        ablation.recommend(users, k=K),
        ablation.recommend(users, k=K, exclude_seen=False),
    )

    peer_note = "not run (--no-peer)"
    if not args.no_peer:
        py = PEER_VENV / "bin" / "python"
        if not py.exists():
            peer_note = (
                f"not run: {PEER_VENV} is missing (bench_cf.py makes it; add rectools[torch])"
            )
        else:
            ev = ds.events
            secs = ev["ts"].astype("datetime64[ns]").astype("int64") / 1e9
            ev.assign(ts=secs)[["user_id", "item_id", "ts"]].to_csv(tmp / "train.csv", index=False)
            pd.DataFrame({"user_id": users}).to_csv(tmp / "users.csv", index=False)
            peer_note = "RecTools SASRecModel (softmax loss)"
            for seed in seeds:
                out = tmp / f"peer-{seed}"
                cmd = [
                    str(py),
                    str(PEER_SCRIPT),
                    "--train",
                    str(tmp / "train.csv"),
                    "--users",
                    str(tmp / "users.csv"),
                    "--out",
                    str(out),
                    "--epochs",
                    str(args.peer_epochs or 3 * args.epochs),
                    "--seed",
                    str(seed),
                    "--threads",
                    str(args.threads),
                ]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    peer_note = "failed: " + done.stderr.strip().splitlines()[-1][:300]
                    print(done.stderr[-3000:], file=sys.stderr)
                    break
                times = json.loads((out / "times.json").read_text())

                def read(path: Path) -> pd.DataFrame:
                    f = pd.read_csv(path, dtype={"user_id": str})
                    f["rank"] = f.groupby("user_id").cumcount() + 1
                    return f

                record(
                    "rectools_sasrec",
                    seed,
                    times["fit_s"],
                    read(out / "recs_new.csv"),
                    read(out / "recs_all.csv"),
                )

    table = pd.DataFrame(rows)
    summary = (
        table.groupby("model", sort=False)
        .agg(
            seeds=("seed", lambda s: int(s.notna().sum()) or 1),
            new_ndcg=("new_ndcg@10", "mean"),
            new_ndcg_sd=("new_ndcg@10", "std"),
            new_recall=("new_recall@10", "mean"),
            play_ndcg=("play_ndcg@10", "mean"),
            play_recall=("play_recall@10", "mean"),
            fit_s=("fit_s", "mean"),
        )
        .reset_index()
    )
    best_cf = (
        summary[~summary["model"].isin(SEQUENTIAL) & ~summary["model"].str.startswith("sasrec")]
        .sort_values("new_ndcg", ascending=False)
        .iloc[0]["model"]
    )
    bs = paired_bootstrap(per_user["sasrec"], per_user[best_cf], n_boot=2000, seed=0)
    boot = {
        "versus": best_cf,
        "diff": bs.mean_diff,
        "low": bs.low,
        "high": bs.high,
        "n_users": bs.n_users,
    }
    IMG.mkdir(parents=True, exist_ok=True)
    if curve is not None:
        _summary.curve_charts(curve, IMG / "sasrec-curve-jodie", "SASRec on JODIE (seed 0)")
    machine = _summary.describe_machine()
    md = [
        f"JODIE Last.fm sample, global temporal split ({split.stats['train_rows']:,} train pairs, "
        f"{len(ds.events):,} train events, {split.stats['test_users']} test users); "
        f"{args.epochs} epochs at most, {args.threads} training thread(s); machine: {machine}; peer: {peer_note}.",
        "",
        "| model | seeds | next new track NDCG@10 (sd) | recall@10 | next play NDCG@10 | recall@10 | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        sd = "" if pd.isna(r.new_ndcg_sd) else f" ({r.new_ndcg_sd:.4f})"
        md.append(
            f"| {r.model} | {r.seeds} | {r.new_ndcg:.4f}{sd} | {r.new_recall:.4f} | "
            f"{r.play_ndcg:.4f} | {r.play_recall:.4f} | {r.fit_s:.1f} |"
        )
    md += [
        "",
        f"Paired bootstrap, next-new-track NDCG@10, sasrec (seed 0) minus {best_cf}: "
        f"{bs.mean_diff:+.4f}, 95 % interval [{bs.low:+.4f}, {bs.high:+.4f}] over {bs.n_users} users.",
    ]
    payload = {
        "rows": rows,
        "bootstrap": boot,
        "peer": peer_note,
        "machine": machine,
        "curve": None if curve is None else curve.to_dict(orient="list"),
    }
    _summary.write_results(RESULTS / "sasrec-jodie", md, payload)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

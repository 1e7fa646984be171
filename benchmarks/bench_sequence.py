"""Sequence models on a store's data, both tasks, with SASRec's loss and input ablations.

Usage (from the repository root)::

    nice -n 10 .venv/bin/python benchmarks/bench_sequence.py --data listening-histories
    .venv/bin/python benchmarks/bench_sequence.py --data jodie --split global-time --epochs 15

What it does:

1. Ingests the data from ``../shared/data`` (``listening-histories``: the 20 personal
   exports, with Spotify's skips; ``jodie``: the JODIE Last.fm sample) into a temporary
   store and splits it (``user-time`` by default: each listener's own last 20 % by time;
   the histories cover different years, so one global cut-off would leave few test users).
   Train keeps one row per event (``play``, ``partial``, ``skip``, dated ``like``).
2. Fits the baselines, a CF model, the sequence baselines (Markov chain, item kNN over the
   last items, session kNN) and SASRec variants once each on train, and scores two tasks
   with Encore's metric code, full ranking: **next new track** (items the user had in train
   are neither ranked nor relevant) and **next play** (repeats allowed; the same train, a
   test side that keeps repeats).
3. SASRec variants (``--variants``): the loss (sampled softmax, gBCE, full softmax where
   the catalogue allows it) and the input ablations: without the event-kind embedding,
   without time gaps, without the skip term of the loss (skips still in the input), and
   without skip events at all.
4. With ``--seeds 0,1,2`` every SASRec variant is fitted once per seed: the table gives
   the mean and standard deviation over seeds, and each variant is compared with the
   first one on the same users by a paired bootstrap of the per-user NDCG@10 averaged
   over seeds (both tasks).
5. Writes ``benchmarks/results/sequence-<data>.json`` and ``.md`` (and the curve of the
   first SASRec variant as ``docs/img/sasrec-curve-<data>.png`` and ``.html``), the CPU
   seconds of each fit beside its wall time (on a shared machine the wall time measures
   the load).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

import _summary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"
SHARED = Path(os.environ.get("ENCORE_DATA", ROOT.parent / "shared" / "data"))
K = 10
BASELINES = ("popular", "recent_popular", "item_knn", "als", "ease")
SEQUENCE_BASELINES = ("markov", "last_items_knn", "session_knn")
#: name -> (SASRec settings, drop skip events from the input)
VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {
    "sampled_softmax": ({"loss": "sampled_softmax"}, False),
    "gbce": ({"loss": "gbce"}, False),
    "softmax": ({"loss": "softmax"}, False),
    "no_kinds": ({"loss": "sampled_softmax", "use_kinds": False}, False),
    "no_gaps": ({"loss": "sampled_softmax", "use_gaps": False}, False),
    "no_skip_loss": ({"loss": "sampled_softmax", "skip_weight": 0.0}, False),
    "no_skips": ({"loss": "sampled_softmax"}, True),
}


def _ingest(store: Any, data: str) -> str:
    from encore.data.cli import plan_all
    from encore.data.ingest import ingest
    from encore.data.sources import get_loader

    if data == "listening-histories":
        for loader, folder in plan_all(SHARED / "listening-histories"):
            ingest(store, loader, folder)
        return "listening-histories"
    if data == "jodie":
        ingest(store, get_loader("jodie"), SHARED / "lastfm-1k-jodie-sample")
        return "jodie"
    raise SystemExit(f"unknown --data {data!r}: listening-histories or jodie")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="listening-histories")
    ap.add_argument("--split", default="user-time")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--negatives", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--seeds", default=None, help="SASRec seeds, e.g. 0,1,2 (default: --seed alone)."
    )
    ap.add_argument("--variants", default="sampled_softmax,gbce,no_kinds,no_gaps,no_skips")
    ap.add_argument("--models", default=",".join(BASELINES + SEQUENCE_BASELINES))
    ap.add_argument("--tag", default="", help="Suffix of the result and chart file names.")
    ap.add_argument(
        "--sasrec",
        default="",
        help="Settings for every SASRec variant, e.g. monitor=ndcg,dim=32,dropout=0.3.",
    )
    args = ap.parse_args(argv)

    from encore.cli.common import parse_value
    from encore.data.dataset import InteractionDataset
    from encore.data.store import Store
    from encore.evaluation.metrics import evaluate_recommendations
    from encore.evaluation.runner import _dataset_events, select_data, split_store
    from encore.recommenders.registry import get_model, model_class
    from encore.recommenders.sequence import attach_events

    tmp = Path(tempfile.mkdtemp(prefix="bench-sequence-"))
    with Store(tmp / "data.duckdb") as store:
        name = _ingest(store, args.data)
        sel = select_data(store, name)
        kw: dict[str, Any] = {"method": args.split, "source": sel.sources, "users": sel.users}
        split_new = split_store(store, **kw)
        split_play = split_store(store, **kw, keep_seen=True) if args.split == "user-time" else None
    split_play = split_play or split_new
    ds = _dataset_events(split_new, InteractionDataset.from_interactions(split_new.train))
    assert ds.events is not None
    kinds = ds.events["kind"].value_counts().to_dict()
    no_skips = attach_events(ds, ds.events[ds.events["kind"] != "skip"])
    users = pd.unique(pd.concat([split_new.test["user_id"], split_play.test["user_id"]]))
    rows: list[dict[str, Any]] = []
    per_user: _summary.PerUser = {}
    seeds = [int(x) for x in (args.seeds or str(args.seed)).split(",") if x.strip()]
    curve = None

    def record(label: str, model: Any, fit_s: float, cpu_s: float, seed: int | None = None) -> None:
        new = evaluate_recommendations(
            model.recommend(users, k=K),
            split_new.test,
            train=split_new.train,
            ks=(K,),
            catalogue_size=ds.n_items,
        )
        play = evaluate_recommendations(
            model.recommend(users, k=K, exclude_seen=False),
            split_play.test,
            train=split_play.train,
            ks=(K,),
            catalogue_size=ds.n_items,
            exclude_seen=False,
        )
        for task, res in (("new", new), ("play", play)):
            per_user.setdefault((label, task), []).append(res.per_user[f"ndcg@{K}"])
        rows.append(
            {
                "model": label,
                "seed": seed,
                "epochs_run": len(getattr(model, "curve_", [])) or None,
                "new_ndcg@10": new.summary[f"ndcg@{K}"],
                "new_recall@10": new.summary[f"recall@{K}"],
                "play_ndcg@10": play.summary[f"ndcg@{K}"],
                "play_recall@10": play.summary[f"recall@{K}"],
                "fit_s": fit_s,
                "cpu_s": cpu_s,
                "users_new": new.n_users,
                "users_play": play.n_users,
            }
        )
        print(rows[-1], flush=True)

    for m in [m.strip() for m in args.models.split(",") if m.strip()]:
        limit = model_class(m).item_limit
        if limit is not None and ds.n_items > limit:
            print(f"{m}: left out ({ds.n_items:,} items is above its limit of {limit:,})")
            continue
        model = get_model(m)
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(ds)
        record(m, model, time.perf_counter() - t0, time.process_time() - c0)

    def write() -> None:
        """The tables so far (after every SASRec fit: a stopped run keeps what it did)."""
        machine = _summary.describe_machine()
        header = (
            f"{name}, {split_new.method} split ({split_new.stats['train_rows']:,} train pairs, "
            f"{len(ds.events):,} train events: {', '.join(f'{k} {v:,}' for k, v in kinds.items())}; "
            f"{ds.n_items:,} items; test users {split_new.stats['test_users']} (new) / "
            f"{split_play.stats['test_users']} (play)); SASRec {args.epochs} epochs at most"
            f"{'' if args.max_seconds is None else f' or {args.max_seconds:.0f} s'}, "
            f"{args.negatives} negatives, seed(s) {', '.join(map(str, seeds))}, {args.threads} thread(s)"
            f"{'; SASRec settings ' + args.sasrec if args.sasrec else ''}; machine: {machine}."
        )
        labels = [f"sasrec ({v})" for v in variants]
        md, boots = tables(rows, per_user, header, labels, len(seeds))
        tag = f"{name}-{split_new.method}{'-' + args.tag if args.tag else ''}"
        payload = {
            "header": header,
            "rows": rows,
            "bootstrap": boots,
            "per_user_ndcg10": {
                f"{label} | {task}": [x.to_dict() for x in series]
                for (label, task), series in per_user.items()
            },
            "machine": machine,
            "curve": None if curve is None else curve.to_dict(orient="list"),
        }
        _summary.write_results(RESULTS / f"sequence-{tag}", md, payload)
        if curve is not None:
            _summary.curve_charts(curve, IMG / f"sasrec-curve-{tag}", f"SASRec on {tag}")
        print("\n".join(md))

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v, seed in [(v, seed) for seed in seeds for v in variants]:
        params, drop_skips = VARIANTS[v]
        if params.get("loss") == "softmax" and ds.n_items > 20_000:
            print(f"sasrec {v}: left out ({ds.n_items:,} items for a full softmax)")
            continue
        extra = {}
        for item in [i for i in args.sasrec.split(",") if i.strip()]:
            key, _, raw = item.partition("=")
            extra[key.strip()] = parse_value(raw.strip())
        model = get_model(
            "sasrec",
            **{**params, **extra},
            epochs=args.epochs,
            max_seconds=args.max_seconds,
            negatives=args.negatives,
            threads=args.threads,
            seed=seed,
        )
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(no_skips if drop_skips else ds, show_progress=True)
        fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        if curve is None:
            curve = model.training_curve()  # type: ignore[attr-defined]
        record(f"sasrec ({v})", model, fit_s, cpu_s, seed)
        write()

    write()
    return 0


def tables(
    rows: list[dict[str, Any]],
    per_user: _summary.PerUser,
    header: str,
    labels: list[str],
    n_seeds: int,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The markdown of the fits so far (each model over its seeds; each SASRec variant of
    ``labels`` against the first by a paired bootstrap) and the bootstrap rows."""
    summary = _summary.summarise(rows, "model", "epochs_run", means=("fit_s", "cpu_s"))
    md = [
        header,
        "",
        *_summary.md_table(
            [
                "model",
                "seeds",
                "next new track NDCG@10",
                "recall@10",
                "next play NDCG@10",
                "recall@10",
                "epochs",
                "fit s (wall)",
                "CPU s",
            ],
            (
                [
                    r.model,
                    r.seeds,
                    _summary.mean_sd(r.new, r.new_sd),
                    f"{r.new_recall:.4f}",
                    _summary.mean_sd(r.play, r.play_sd),
                    f"{r.play_recall:.4f}",
                    _summary.blank_or(r.epochs, ".1f"),
                    f"{r.fit_s:.1f}",
                    f"{r.cpu_s:.1f}",
                ]
                for r in summary.itertuples()
            ),
        ),
    ]
    # each variant against the first, on the same users: per-user NDCG@10 averaged over seeds
    boots = []
    for task in ("new", "play"):
        if len(labels) < 2 or (labels[0], task) not in per_user:
            break
        base = _summary.seed_mean(per_user, labels[0], task)
        for other in labels[1:]:
            if (other, task) in per_user:
                cur = _summary.seed_mean(per_user, other, task)
                boots.append(_summary.bootstrap_row(task, "variant", other, labels[0], cur, base))
    if boots:
        md += _summary.bootstrap_md(
            f"Paired bootstrap (2,000 resamples) of each variant minus {labels[0]}, per-user "
            f"NDCG@10 averaged over the seeds each has run (of {n_seeds}):",
            [("variant", "variant")],
            boots,
        )
    return md, boots


if __name__ == "__main__":
    raise SystemExit(main())

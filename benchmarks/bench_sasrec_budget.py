"""SASRec settings at a CPU budget: chosen on a validation split carved by time from train,
then scored on the test split across seeds beside RecTools' SASRec, in CPU seconds.

Usage (from the repository root; one torch thread, niced)::

    # 1. choose: every setting on the validation split (the last 20 % of train events)
    nice -n 10 .venv/bin/python benchmarks/bench_sasrec_budget.py --stage validate \\
        --configs "w3:windows_per_user=3,epochs=15;w5:windows_per_user=5,epochs=15" --seeds 0
    # 2. report: the chosen settings on the test split, several seeds, with the peer
    nice -n 10 .venv/bin/python benchmarks/bench_sasrec_budget.py --stage test \\
        --configs "w3:windows_per_user=3,epochs=15" --seeds 0,1,2 --peer

What it does:

1. Ingests the JODIE Last.fm sample from ``../shared/data`` into a temporary store and makes
   Encore's global temporal split (the last 20 % of events by time in test), train with
   one row per event, as ``bench_sasrec.py`` does.
2. ``--stage validate`` never reads the test side: it cuts the train events again at their
   own 80 % time quantile (validation: the events from that time on, as pairs of users and
   items both known before it) and fits on the events before the cut.
   ``--stage test`` fits on the whole train side and scores the test split.
3. Each setting (``--configs "name:key=value,...;name2:..."``, SASRec parameters) is fitted
   once per seed; both tasks are scored with Encore's metric code, full ranking: **next new
   track** (items the user had in train are neither ranked nor relevant) and **next play**
   (repeats allowed). The CPU seconds of each fit (``time.process_time``: this process,
   every thread) are recorded beside its wall time: on a shared machine the wall time
   measures the load, the CPU time the work.
4. ``--peer``: RecTools' ``SASRecModel`` (``peer_rectools_sasrec.py`` in
   ``benchmarks/.venv-rectools``; softmax loss, each user's latest window, the same size,
   length, learning rate and batch size, ``--peer-epochs``) on the identical train events,
   per seed; its CPU is given twice, for the fit alone and for the whole process (start-up,
   data preparation, fit and recommendations).
5. A paired bootstrap (2,000 resamples) of each setting against the first and against the
   peer, per-user NDCG@10 averaged over seeds, both tasks.
6. Writes ``benchmarks/results/sasrec-budget-<stage>[-tag].json`` and ``.md`` after every
   fit (a stopped run keeps what it did), and at the end a chart of each fit's CPU seconds
   against its NDCG@10 on both tasks (``docs/img/sasrec-budget-<stage>[-tag].png`` and
   ``.html``; ``--replot`` draws it again from the JSON without fitting).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import _summary

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / "benchmarks" / ".venv-rectools"
PEER_SCRIPT = ROOT / "benchmarks" / "peer_rectools_sasrec.py"
RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"
SHARED = Path(os.environ.get("ENCORE_DATA", ROOT.parent / "shared" / "data"))
K = 10
PEER = "rectools_sasrec"


def parse_configs(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``"name:key=value,key=value;name2:..."`` as (name, SASRec parameters)."""
    from encore.cli.common import parse_value

    out: list[tuple[str, dict[str, Any]]] = []
    for part in [p.strip() for p in text.split(";") if p.strip()]:
        name, _, body = part.partition(":")
        params: dict[str, Any] = {}
        for item in [i.strip() for i in body.split(",") if i.strip()]:
            key, eq, raw = item.partition("=")
            if not eq:
                raise SystemExit(f"--configs: {item!r} in {name!r} is not key=value")
            params[key.strip()] = parse_value(raw.strip())
        out.append((name.strip(), params))
    if not out:
        raise SystemExit("--configs names no setting")
    return out


def validation_side(events: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train events before their own ``1 - share`` time quantile, and the validation
    pairs (wanted events from the cut on, users and items known before it)."""
    ts = events["ts"].sort_values(kind="stable").reset_index(drop=True)
    cut = ts.iloc[min(len(ts) - 1, int(np.floor(len(ts) * (1.0 - share))))]
    before = events[events["ts"] < cut].reset_index(drop=True)
    after = events[(events["ts"] >= cut) & events["kind"].isin(["play", "like", "partial"])]
    after = after[
        after["user_id"].isin(set(before["user_id"]))
        & after["item_id"].isin(set(before["item_id"]))
    ]
    test = (
        after.groupby(["user_id", "item_id"], as_index=False)
        .agg(weight=("ts", "size"), ts=("ts", "max"))
        .assign(weight=lambda f: np.log1p(f["weight"]))
    )
    return before, test


def pairs_of(events: pd.DataFrame) -> pd.DataFrame:
    """Events as (user, item) pairs weighted ``log1p(count)`` (Encore's default weighting)."""
    wanted = events[events["kind"] != "skip"]
    return (
        wanted.groupby(["user_id", "item_id"], as_index=False)
        .agg(weight=("ts", "size"), ts=("ts", "max"))
        .assign(weight=lambda f: np.log1p(f["weight"]))
    )


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tables(
    rows: list[dict[str, Any]],
    per_user: _summary.PerUser,
    configs: list[tuple[str, dict[str, Any]]],
    *,
    what: str,
    n_users: int,
    threads: int,
    machine: str,
    load: float,
    peer_epochs: int,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The markdown of the fits so far (each setting over its seeds, the settings, the paired
    bootstrap of each setting against the first and against the peer) and the bootstrap rows."""
    summary = _summary.summarise(rows, "config", "epochs", means=("cpu_s", "wall_s"))
    md = [
        f"JODIE Last.fm sample, {what}; {n_users} users scored; "
        f"{threads} training thread(s); machine: {machine}; load average at the end "
        f"{load:.1f}.",
        "",
        *_summary.md_table(
            [
                "setting",
                "seeds",
                "next new NDCG@10",
                "next play NDCG@10",
                "play recall@10",
                "epochs",
                "CPU s",
                "wall s",
            ],
            (
                [
                    r.config,
                    r.seeds,
                    _summary.mean_sd(r.new, r.new_sd),
                    _summary.mean_sd(r.play, r.play_sd),
                    f"{r.play_recall:.4f}",
                    _summary.blank_or(r.epochs, ".1f"),
                    f"{r.cpu_s:.1f}",
                    f"{r.wall_s:.1f}",
                ]
                for r in summary.itertuples()
            ),
        ),
    ]
    md += ["", "Settings (SASRec parameters beyond the defaults):", ""]
    md += [f"- `{n}`: `{', '.join(f'{k}={v}' for k, v in p.items())}`" for n, p in configs]
    if any(r["config"] == PEER for r in rows):
        md.append(
            f"- `{PEER}`: RecTools SASRecModel, softmax loss, {peer_epochs} epochs, "
            "latest window per user; CPU s is the fit alone (whole process: "
            + ", ".join(f"{r['process_cpu_s']:.1f}" for r in rows if r["config"] == PEER)
            + " s)"
        )
    names = list(summary["config"])
    boots = []
    for task in ("new", "play"):
        avg = {n: _summary.seed_mean(per_user, n, task) for n in names if (n, task) in per_user}
        refs = [names[0]] + ([PEER] if PEER in avg and names[0] != PEER else [])
        for ref in refs:
            for n in names:
                if n == ref or n not in avg or (ref == names[0] and n == PEER):
                    continue
                boots.append(_summary.bootstrap_row(task, "setting", n, ref, avg[n], avg[ref]))
    if boots:
        md += _summary.bootstrap_md(
            "Paired bootstrap (2,000 resamples), per-user NDCG@10 averaged over seeds:",
            [("setting", "setting"), ("minus", "versus")],
            boots,
        )
    return md, boots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=("validate", "test"), default="validate")
    ap.add_argument("--configs", required=True)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--peer", action="store_true", help="Run RecTools' SASRec too.")
    ap.add_argument("--peer-epochs", type=int, default=45)
    ap.add_argument("--val-share", type=float, default=0.2)
    ap.add_argument("--tag", default="")
    ap.add_argument("--replot", action="store_true", help="Draw the chart from the JSON only.")
    args = ap.parse_args(argv)
    stem = f"sasrec-budget-{args.stage}{'-' + args.tag if args.tag else ''}"
    if args.replot:
        chart(RESULTS / f"{stem}.json", stem)
        return 0
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    configs = parse_configs(args.configs)

    from encore.data.dataset import InteractionDataset
    from encore.data.ingest import ingest
    from encore.data.sources import get_loader
    from encore.data.store import Store
    from encore.evaluation.metrics import evaluate_recommendations
    from encore.evaluation.runner import _dataset_events, split_store
    from encore.recommenders.registry import get_model
    from encore.recommenders.sequence import attach_events

    tmp = Path(tempfile.mkdtemp(prefix="bench-sasrec-budget-"))
    with Store(tmp / "jodie.duckdb") as store:
        ingest(store, get_loader("jodie"), SHARED / "lastfm-1k-jodie-sample")
        split = split_store(store, method="global-time")
    assert split.events is not None
    if args.stage == "test":
        ds = _dataset_events(split, InteractionDataset.from_interactions(split.train))
        train_pairs, test = split.train, split.test
        what = (
            f"test split (global time; {split.stats['train_rows']:,} train pairs, "
            f"{len(split.events):,} train events)"
        )
    else:
        events, test = validation_side(split.events, args.val_share)
        train_pairs = pairs_of(events)
        ds = attach_events(InteractionDataset.from_interactions(train_pairs), events)
        what = (
            f"validation split carved by time from train (the last {args.val_share:.0%} of "
            f"train events; {len(train_pairs):,} pairs, {len(events):,} events before it)"
        )
    assert ds.events is not None
    users = pd.unique(test["user_id"])
    rows: list[dict[str, Any]] = []
    per_user: _summary.PerUser = {}
    machine = _summary.describe_machine()

    def record(name: str, seed: int, recs_new: Any, recs_all: Any, **extra: Any) -> None:
        res = {}
        for task, new in (("new", True), ("play", False)):
            r = evaluate_recommendations(
                recs_new if new else recs_all,
                test,
                train=train_pairs,
                ks=(K,),
                catalogue_size=ds.n_items,
                exclude_seen=new,
            )
            per_user.setdefault((name, task), []).append(r.per_user[f"ndcg@{K}"])
            res[task] = r
        rows.append(
            {
                "config": name,
                "seed": seed,
                "new_ndcg@10": res["new"].summary[f"ndcg@{K}"],
                "new_recall@10": res["new"].summary[f"recall@{K}"],
                "play_ndcg@10": res["play"].summary[f"ndcg@{K}"],
                "play_recall@10": res["play"].summary[f"recall@{K}"],
                "users_new": res["new"].n_users,
                "users_play": res["play"].n_users,
                **extra,
            }
        )
        print({k: v for k, v in rows[-1].items() if k != "curve"}, flush=True)
        write()

    def write() -> None:
        md, boots = tables(
            rows,
            per_user,
            configs,
            what=what,
            n_users=len(users),
            threads=args.threads,
            machine=machine,
            load=os.getloadavg()[0],
            peer_epochs=args.peer_epochs,
        )
        payload = {
            "stage": args.stage,
            "what": what,
            "configs": dict(configs),
            "rows": rows,
            "bootstrap": boots,
            "machine": machine,
        }
        _summary.write_results(RESULTS / stem, md, payload)

    peer_py = PEER_VENV / "bin" / "python"
    if args.peer:
        if not peer_py.exists():
            raise SystemExit(f"{peer_py} is missing (bench_cf.py makes it; add rectools[torch])")
        ev = ds.events
        secs = ev["ts"].astype("datetime64[ns]").astype("int64") / 1e9
        ev.assign(ts=secs)[["user_id", "item_id", "ts"]].to_csv(tmp / "train.csv", index=False)
        pd.DataFrame({"user_id": users}).to_csv(tmp / "users.csv", index=False)

    def read(path: Path) -> pd.DataFrame:
        f = pd.read_csv(path, dtype={"user_id": str})
        f["rank"] = f.groupby("user_id").cumcount() + 1
        return f

    for seed in seeds:
        for name, params in configs:
            model = get_model("sasrec", **{"threads": args.threads, **params, "seed": seed})
            t0, c0 = time.perf_counter(), time.process_time()
            model.fit(ds, show_progress=True)
            cpu_s, wall_s = time.process_time() - c0, time.perf_counter() - t0
            curve = model.training_curve()  # type: ignore[attr-defined]
            record(
                name,
                seed,
                model.recommend(users, k=K),
                model.recommend(users, k=K, exclude_seen=False),
                cpu_s=cpu_s,
                wall_s=wall_s,
                epochs=len(curve),
                best_epoch=getattr(model, "best_epoch_", None),
                curve=curve.to_dict(orient="list"),
            )
        if args.peer:
            out = tmp / f"peer-{seed}"
            cmd = [
                str(peer_py),
                str(PEER_SCRIPT),
                *("--train", str(tmp / "train.csv"), "--users", str(tmp / "users.csv")),
                *("--out", str(out), "--epochs", str(args.peer_epochs)),
                *("--seed", str(seed), "--threads", str(args.threads)),
            ]
            c0, t0 = child_cpu(), time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            process_cpu, process_wall = child_cpu() - c0, time.perf_counter() - t0
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit("the RecTools run failed")
            times = json.loads((out / "times.json").read_text())
            record(
                PEER,
                seed,
                read(out / "recs_new.csv"),
                read(out / "recs_all.csv"),
                cpu_s=times.get("fit_cpu_s", float("nan")),
                wall_s=times["fit_s"],
                epochs=args.peer_epochs,
                process_cpu_s=process_cpu,
                process_wall_s=process_wall,
            )
    chart(RESULTS / f"{stem}.json", stem)
    print((RESULTS / f"{stem}.md").read_text())
    return 0


def chart(path: Path, stem: str) -> None:
    """Each fit's CPU seconds against its NDCG@10, one panel per task (PNG and HTML)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    data = json.loads(path.read_text(encoding="utf-8"))
    rows = pd.DataFrame(data["rows"])
    names = list(dict.fromkeys(rows["config"]))
    tasks = (("new_ndcg@10", "next new track NDCG@10"), ("play_ndcg@10", "next play NDCG@10"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (col, label) in zip(axes, tasks, strict=True):
        for i, name in enumerate(names):
            part = rows[rows["config"] == name]
            marker = "s" if name == PEER else "o"
            ax.scatter(part["cpu_s"], part[col], label=name, marker=marker, color=f"C{i % 10}")
        ax.set_xlabel("CPU seconds of the fit (one thread)")
        ax.set_ylabel(label)
    axes[1].legend(fontsize=7, loc="best")
    fig.suptitle(f"SASRec settings on JODIE ({data['stage']} split): one point per fit and seed")
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMG / f"{stem}.png", dpi=110)
    plt.close(fig)
    pfig = make_subplots(rows=1, cols=2, subplot_titles=[t[1] for t in tasks])
    for i, name in enumerate(names):
        part = rows[rows["config"] == name]
        for c, (col, _) in enumerate(tasks, start=1):
            pfig.add_trace(
                go.Scatter(
                    x=part["cpu_s"],
                    y=part[col],
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    showlegend=c == 1,
                    marker={"symbol": "square" if name == PEER else "circle", "size": 9},
                    text=[f"seed {s}" for s in part["seed"]],
                    marker_color=f"hsl({(i * 47) % 360}, 65%, 45%)",
                ),
                1,
                c,
            )
    pfig.update_xaxes(title_text="CPU seconds of the fit")
    pfig.update_layout(title=f"SASRec settings on JODIE ({data['stage']} split)")
    pfig.write_html(IMG / f"{stem}.html", include_plotlyjs="cdn")


if __name__ == "__main__":
    raise SystemExit(main())

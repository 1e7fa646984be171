"""Per-user latency of a sequence model's answer from a saved model, events read at request time.

Usage (from the repository root)::

    nice -n 10 .venv/bin/python benchmarks/bench_sequence_serving.py --data jodie
    nice -n 10 .venv/bin/python benchmarks/bench_sequence_serving.py --data listening-histories

What it does: ingests the data from ``../shared/data`` into a temporary store, fits each
model (``markov``, ``session_knn``, ``sasrec`` with small training settings: latency does
not depend on how well it learnt), saves it and loads it back, then for up to ``--users``
users times ``encore.recommenders.recommend.recommend_for_user`` end to end (read the
user's latest events from the store, score, name the tracks), twice per user after one
warm-up call. In the same run it times the two ways of reading the events: every event
of the user (the path before this benchmark) and only the latest ``4 x max_len`` (the
path now). Prints and writes ``benchmarks/results/sequence-serving-<data>.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = Path(os.environ.get("ENCORE_DATA", ROOT.parent / "shared" / "data"))
MODELS: dict[str, dict[str, Any]] = {
    "markov": {},
    "session_knn": {},
    "sasrec": {"epochs": 1, "val_share": 0.0},
}


def _ms(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="jodie")
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)

    from encore.data.cli import plan_all
    from encore.data.ingest import ingest
    from encore.data.sources import get_loader
    from encore.data.store import Store
    from encore.recommenders.base import Recommender
    from encore.recommenders.recommend import fit_model, recommend_for_user
    from encore.recommenders.sequence import load_events

    tmp = Path(tempfile.mkdtemp(prefix="bench-seq-serving-"))
    rows: list[dict[str, Any]] = []
    with Store(tmp / "data.duckdb") as store:
        if args.data == "jodie":
            ingest(store, get_loader("jodie"), SHARED / "lastfm-1k-jodie-sample")
        else:
            for loader, folder in plan_all(SHARED / "listening-histories"):
                ingest(store, loader, folder)
        counts = store.con.execute(
            "SELECT user_id, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC, user_id"
        ).df()
        users = counts["user_id"].astype(str).tolist()[: args.users]
        n_events = counts.set_index("user_id")["n"]
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            fitted = fit_model(store, name, params=MODELS.get(name, {}))
            model = Recommender.load(fitted.save(tmp / name))
            length = model.history_length  # type: ignore[attr-defined]
            full_read, last_read, answer = [], [], []
            recommend_for_user(store, model, users[0], k=10, explain=False)  # warm-up
            for u in users:
                for _ in range(2):
                    t0 = time.perf_counter()
                    load_events(store, users=[u])
                    full_read.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    load_events(store, users=[u], last=4 * length)
                    last_read.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    recommend_for_user(store, model, u, k=10, explain=False)
                    answer.append(time.perf_counter() - t0)
            rows.append(
                {
                    "model": name,
                    "items": model.n_items,
                    "answer": _ms(answer),
                    "read_all": _ms(full_read),
                    "read_latest": _ms(last_read),
                }
            )
            print(rows[-1], flush=True)
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"
    )
    load = os.getloadavg()[0]
    md = [
        f"{args.data}: {len(users)} users with the most events ({int(n_events.iloc[: len(users)].min()):,} "
        f"to {int(n_events.iloc[0]):,} events each), 2 calls each after a warm-up; saved models "
        f"loaded back; machine: {machine}, load average {load:.1f} at the end.",
        "",
        "| model | items | recommend_for_user p50 / p95 ms | read all events p50 / p95 ms | "
        "read latest 4 x max_len p50 / p95 ms |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['model']} | {r['items']:,} | {r['answer'][0]:.1f} / {r['answer'][1]:.1f} | "
            f"{r['read_all'][0]:.1f} / {r['read_all'][1]:.1f} | "
            f"{r['read_latest'][0]:.1f} / {r['read_latest'][1]:.1f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"sequence-serving-{args.data}.md").write_text(
        "\n".join(md) + "\n", encoding="utf-8"
    )
    print("\n".join(md))
    pd.DataFrame(rows).to_json(RESULTS / f"sequence-serving-{args.data}.json", orient="records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Peer side of ``bench_sasrec.py``: RecTools' SASRec on the same train events.

Runs inside ``benchmarks/.venv-rectools`` (made by ``bench_cf.py``: RecTools pins numpy<2)
and imports nothing from Encore. Input: a CSV of train events (user_id, item_id, ts in
Unix seconds; one row per play, in time order) and the users to recommend for. Output: a
CSV of recommendations per task (user_id, item_id, score, rank): ``recs_new.csv`` with
the items the user had in train left out (next new track), ``recs_all.csv`` with them
(next play), and a JSON with the fit and recommend seconds (the fit's wall and CPU time:
``time.process_time``, every thread of the process).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--users", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    from pytorch_lightning import Trainer, seed_everything
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.models import SASRecModel

    torch.set_num_threads(args.threads)
    seed_everything(args.seed, workers=True)
    train = pd.read_csv(args.train)
    frame = pd.DataFrame(
        {
            Columns.User: train["user_id"].astype(str),
            Columns.Item: train["item_id"].astype("int64"),
            Columns.Weight: 1.0,
            Columns.Datetime: pd.to_datetime(train["ts"], unit="s"),
        }
    )
    users = pd.read_csv(args.users)["user_id"].astype(str).to_numpy()

    def trainer() -> Trainer:
        return Trainer(
            max_epochs=args.epochs,
            min_epochs=args.epochs,
            deterministic=True,
            accelerator="cpu",
            devices=1,
            enable_checkpointing=False,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )

    model = SASRecModel(
        session_max_len=args.max_len,
        n_factors=args.dim,
        n_blocks=2,
        n_heads=2,
        dropout_rate=0.2,
        loss="softmax",
        lr=2e-3,
        batch_size=32,
        epochs=args.epochs,
        deterministic=True,
        get_trainer_func=trainer,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    ds = Dataset.construct(frame)
    model.fit(ds)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    recs = model.recommend(users=users, dataset=ds, k=args.k, filter_viewed=True)
    rec_s = time.perf_counter() - t0
    repeats = model.recommend(users=users, dataset=ds, k=args.k, filter_viewed=False)
    args.out.mkdir(parents=True, exist_ok=True)
    names = {Columns.User: "user_id", Columns.Item: "item_id", Columns.Score: "score"}
    recs.rename(columns=names).to_csv(args.out / "recs_new.csv", index=False)
    repeats.rename(columns=names).to_csv(args.out / "recs_all.csv", index=False)
    (args.out / "times.json").write_text(
        json.dumps(
            {
                "fit_s": fit_s,
                "fit_cpu_s": fit_cpu_s,
                "recommend_s": rec_s,
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()

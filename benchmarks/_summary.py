"""The summary tables the sequence benchmarks write (``bench_sequence.py``,
``bench_sasrec_budget.py``; ``bench_sasrec.py`` for the machine line and the result files).

Each fit is a row with ``new_ndcg@10``, ``new_recall@10``, ``play_ndcg@10`` and
``play_recall@10`` (next new track and next play); the per-user NDCG@10 of each fit is kept
per (setting, task) so that two settings can be compared on the same users. This module
holds what the benchmarks share: the machine in words, the mean and standard deviation of
each setting over seeds, the cells and the markdown tables, the paired bootstrap of one
setting against another (per-user NDCG@10 averaged over seeds) and the ``.md``/``.json``
result files. Imported as ``_summary`` (the benchmarks run with this folder on the path).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

#: (setting, task) -> one per-user NDCG@10 series per fit (seed)
PerUser = dict[tuple[str, str], list[pd.Series]]


def describe_machine() -> str:
    """The CPU, its count and the system, as the sequence benchmarks name the machine."""
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"
    )


def summarise(
    rows: list[dict[str, Any]], by: str, epochs: str, means: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per setting (``by``, in first-seen order): ``seeds`` (fits), the mean and
    standard deviation over seeds of both tasks' NDCG@10 (``new``, ``new_sd``, ``play``,
    ``play_sd``), the mean recalls (``new_recall``, ``play_recall``), the mean of the column
    ``epochs`` as ``epochs`` and the mean of each column of ``means`` under its own name."""
    return (
        pd.DataFrame(rows)
        .groupby(by, sort=False)
        .agg(
            seeds=("new_ndcg@10", "size"),
            new=("new_ndcg@10", "mean"),
            new_sd=("new_ndcg@10", "std"),
            new_recall=("new_recall@10", "mean"),
            play=("play_ndcg@10", "mean"),
            play_sd=("play_ndcg@10", "std"),
            play_recall=("play_recall@10", "mean"),
            epochs=(epochs, "mean"),
            **{column: (column, "mean") for column in means},
        )
        .reset_index()
    )


def mean_sd(mean: float, sd: float) -> str:
    """``0.1234 +- 0.0056``; the mean alone where there is no sd (a single seed)."""
    return f"{mean:.4f}" + ("" if pd.isna(sd) else f" +- {sd:.4f}")


def blank_or(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``, or an empty cell where it is missing."""
    return "" if pd.isna(value) else format(value, spec)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A markdown table's lines: the header, the rule and one line per row."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def seed_mean(per_user: PerUser, name: str, task: str) -> pd.Series:
    """A setting's per-user NDCG@10 on ``task``, averaged over the seeds it has run."""
    return pd.concat(per_user[(name, task)], axis=1).mean(axis=1)


def bootstrap_row(
    task: str, key: str, name: str, versus: str, cur: pd.Series, base: pd.Series
) -> dict[str, Any]:
    """``name`` minus ``versus`` on the same users: a paired bootstrap (2,000 resamples,
    seed 0) of the per-user values, as a row ``{"task", key: name, "versus", "diff", "low",
    "high", "n_users"}``."""
    from encore.evaluation.stats import paired_bootstrap

    b = paired_bootstrap(cur, base, n_boot=2000, seed=0)
    return {
        "task": task,
        key: name,
        "versus": versus,
        "diff": b.mean_diff,
        "low": b.low,
        "high": b.high,
        "n_users": b.n_users,
    }


def bootstrap_md(
    intro: str, columns: Sequence[tuple[str, str]], boots: list[dict[str, Any]]
) -> list[str]:
    """The bootstrap rows as a table after a blank line and ``intro``; ``columns`` are the
    (heading, key) of the rows' labels between the task and the difference."""
    return [
        "",
        intro,
        "",
        *md_table(
            ["task", *(heading for heading, _ in columns), "difference", "95 % interval", "users"],
            (
                [
                    b["task"],
                    *(b[key] for _, key in columns),
                    f"{b['diff']:+.4f}",
                    f"[{b['low']:+.4f}, {b['high']:+.4f}]",
                    b["n_users"],
                ]
                for b in boots
            ),
        ),
    ]


def write_results(base: Path, md: list[str], payload: dict[str, Any]) -> None:
    """``base``.md (the lines) and ``base``.json (``payload``, floats for numpy values)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{base}.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    Path(f"{base}.json").write_text(json.dumps(payload, indent=2, default=float), encoding="utf-8")


def curve_charts(curve: pd.DataFrame, stem: Path, title: str) -> None:
    """SASRec's training curve (``epoch``, ``train_loss``, ``val_loss``, ``val_ndcg10``) as
    ``stem``.png (loss and validation NDCG@10 side by side) and ``stem``.html (interactive)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    stem.parent.mkdir(parents=True, exist_ok=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(curve["epoch"], curve["train_loss"], marker=".", label="train")
    a.plot(curve["epoch"], curve["val_loss"], marker=".", label="validation")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    b.plot(curve["epoch"], curve["val_ndcg10"], marker=".", color="C2")
    b.set_xlabel("epoch")
    b.set_ylabel("validation NDCG@10 (next play)")
    fig.suptitle(f"{title}: validation carved by time from train")
    fig.tight_layout()
    fig.savefig(Path(f"{stem}.png"), dpi=110)
    plt.close(fig)
    pfig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "validation NDCG@10"))
    pfig.add_trace(go.Scatter(x=curve["epoch"], y=curve["train_loss"], name="train loss"), 1, 1)
    pfig.add_trace(go.Scatter(x=curve["epoch"], y=curve["val_loss"], name="validation loss"), 1, 1)
    pfig.add_trace(go.Scatter(x=curve["epoch"], y=curve["val_ndcg10"], name="val NDCG@10"), 1, 2)
    pfig.update_layout(title=title)
    pfig.write_html(Path(f"{stem}.html"), include_plotlyjs="cdn")

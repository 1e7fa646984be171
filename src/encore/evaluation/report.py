"""Write a comparison as Markdown, CSV and JSON tables and PNG/HTML charts.

The Markdown table is rendered by hand (``DataFrame.to_markdown`` needs ``tabulate``,
which Encore does not depend on).

Every format applies one small-sample rule (:data:`~encore.evaluation.stats.MIN_USERS_FOR_INTERVALS`):
with fewer evaluated users the interval and verdict columns (:data:`VERDICT_COLUMNS`) are
null, there is no bootstrap table, and the Markdown, the JSON and the command's output
carry :func:`~encore.evaluation.stats.small_sample_sentence` instead.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.evaluation.runner import Comparison
from encore.evaluation.stats import (
    MIN_USERS_FOR_INTERVALS,
    sample_too_small,
    small_sample_sentence,
)
from encore.recommenders.registry import baseline_models

logger = logging.getLogger(__name__)

#: Per-model columns from the paired bootstrap of the best model against each model on
#: the main metric (``diff_to_best`` is best minus this model; blank on the best's row).
INTERVAL_COLUMNS: tuple[str, ...] = (
    "diff_to_best",
    "diff_low",
    "diff_high",
    "p_value",
    "significant",
)
#: Columns that are null when the sample is too small: the intervals and every verdict.
VERDICT_COLUMNS: tuple[str, ...] = (*INTERVAL_COLUMNS, "beats_baselines")
_BOOTSTRAP_COLUMNS = [
    "model",
    "versus",
    "metric",
    "diff",
    "low",
    "high",
    "p_value",
    "n_users",
    "significant",
]


def evaluated_users(comparison: Comparison) -> int:
    """Users every finished model was scored on (the smallest count if they differ)."""
    counts = [r.result.n_users for r in comparison.ok_runs() if r.result is not None]
    return min(counts) if counts else 0


def small_sample_note(comparison: Comparison) -> str | None:
    """:func:`~encore.evaluation.stats.small_sample_sentence` when too few users were
    evaluated for intervals and verdicts, else None."""
    n = evaluated_users(comparison)
    return small_sample_sentence(n) if sample_too_small(n) else None


def bootstrap_table(comparison: Comparison) -> pd.DataFrame:
    """The paired bootstrap of the best model against each other on the main metric.

    Empty (same columns) with fewer than two finished models or fewer than
    :data:`~encore.evaluation.stats.MIN_USERS_FOR_INTERVALS` evaluated users. Computed once
    per comparison (kept in ``comparison.extra["bootstrap"]``).
    """
    if len(comparison.ok_runs()) < 2 or small_sample_note(comparison) is not None:
        return pd.DataFrame(columns=_BOOTSTRAP_COLUMNS)
    cached = comparison.extra.get("bootstrap")
    if not isinstance(cached, pd.DataFrame):
        cached = comparison.bootstrap(comparison.main_metric)
        comparison.extra["bootstrap"] = cached
    return cached


def report_table(comparison: Comparison) -> pd.DataFrame:
    """:meth:`Comparison.table` plus :data:`INTERVAL_COLUMNS`, with the small-sample rule.

    With too few evaluated users every column of :data:`VERDICT_COLUMNS` is null (no
    intervals, no "significant", no "beats_baselines"). This is the table of
    ``comparison.csv``, of the JSON's ``models`` and of ``encore evaluate``'s output.
    """
    table = comparison.table()
    bs = bootstrap_table(comparison).set_index("versus")
    for col, src in zip(
        INTERVAL_COLUMNS, ("diff", "low", "high", "p_value", "significant"), strict=True
    ):
        values = table["model"].map(bs[src]) if len(bs) else pd.Series(None, index=table.index)
        table[col] = values.astype(object).where(values.notna(), None)
    if small_sample_note(comparison) is not None:
        for col in VERDICT_COLUMNS:
            table[col] = None
    return table


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float | np.floating):
        x = float(v)
        if abs(x) >= 100:
            return f"{x:,.0f}"
        if abs(x) >= 1:
            return f"{x:.2f}"
        return f"{x:.{digits}f}"
    return str(v).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (numbers right-aligned)."""
    cols = [str(c) for c in frame.columns]
    align = [
        "---:" if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool else "---"
        for c in frame.columns
    ]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join(align) + " |"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v, digits) for v in row) + " |")
    return "\n".join(lines)


def summary_columns(comparison: Comparison) -> list[str]:
    """The main table's columns: every metric at the smallest k, then times."""
    k0 = min(comparison.ks)
    cols = ["model"]
    cols += [f"{m}@{k0}" for m in ("ndcg", "precision", "recall", "map", "mrr", "hit_rate")]
    cols += [
        f"coverage@{k0}",
        f"novelty@{k0}",
        f"diversity@{k0}",
        "fit_s",
        "recommend_s",
        "beats_baselines",
    ]
    return cols


def larger_k_columns(comparison: Comparison) -> list[str]:
    """Columns of the second table: NDCG, recall and hit rate at every larger k."""
    cols = ["model"]
    for k in sorted(comparison.ks)[1:]:
        cols += [f"ndcg@{k}", f"recall@{k}", f"hit_rate@{k}"]
    return cols if len(cols) > 1 else []


def comparison_markdown(comparison: Comparison, *, title: str | None = None) -> str:
    """The comparison as a Markdown section: split, table, paired intervals, notes."""
    table = report_table(comparison)
    main = comparison.main_metric
    note = small_sample_note(comparison)
    if main in table.columns:
        table = table.sort_values(main, ascending=False, na_position="last")
    shown = table[[c for c in summary_columns(comparison) if c in table.columns]]
    shown = shown[[c for c in shown.columns if c == "model" or shown[c].notna().any()]]
    more = [c for c in larger_k_columns(comparison) if c in table.columns]
    sp = comparison.split
    lines = [f"## {title or f'{comparison.data_name} ({comparison.level}s)'}", ""]
    lines.append(f"- Split: {sp.description}.")
    st = sp.stats
    lines.append(
        f"- Train: {st.get('train_rows', 0):,} (user, item) rows, {st.get('train_users', 0):,} users, "
        f"{st.get('train_items', 0):,} items. Test: {st.get('test_rows', 0):,} rows of "
        f"{st.get('test_users', 0):,} users ({st.get('test_users_cold_dropped', 0):,} users unseen in train and "
        f"{st.get('test_rows_cold_item_dropped', 0):,} rows of items unseen in train dropped)."
    )
    if "users_train_only" in st:
        lines.append(
            f"- Per-user split: {st['users_train_only']:,} users had too few dated interactions to hold a share "
            f"out and are only in train; {st.get('test_rows_seen_dropped', 0):,} test rows of items the user "
            f"already had in train were dropped (new items only), and with them "
            f"{st.get('test_users_only_seen_dropped', 0):,} users whose every test item was one of those."
        )
    ok = comparison.ok_runs()
    if ok and ok[0].result is not None:
        r0 = ok[0].result
        if comparison.extra.get("task", "new") == "play":
            lines.append(
                f"- Task: next plays, repeats allowed. Full ranking over all "
                f"{comparison.extra.get('n_items', 0):,} train items, items a user had in train "
                f"included; every item of a user's test rows is relevant; {r0.n_users:,} users evaluated."
            )
        elif comparison.extra.get("task") == "next-new":
            lines.append(
                f"- Task: every next new item. Each test event that is a user's first play of an "
                "item they had not had is a target, ranked (full ranking, items had by then "
                "excluded) from everything the user did before it, the test events in between "
                f"included; a user's value is the mean over their targets; {r0.n_users:,} users "
                "evaluated. Coverage, novelty and diversity are not computed for this task."
            )
        elif comparison.extra.get("task") == "first-new":
            lines.append(
                f"- Task: first new item. Full ranking over all {comparison.extra.get('n_items', 0):,} "
                "train items, items a user had in train excluded; the only relevant item is the first "
                f"one each user played after the cut-off that they had not had in train; {r0.n_users:,} "
                "users evaluated."
            )
        else:
            lines.append(
                f"- Full ranking over all {comparison.extra.get('n_items', 0):,} train items; items a user had in train are "
                f"excluded from the ranking and from the relevant set; {r0.n_users:,} users evaluated, "
                f"{r0.n_users_no_relevant:,} excluded because all their test items were already seen."
            )
    if note is not None:
        lines.append(f"- **Too few users for intervals.** {note}")
    lines += ["", markdown_table(shown), ""]
    if len(more) > 1:
        lines += ["At larger cut-offs:", "", markdown_table(table[more]), ""]
    failed = [r for r in comparison.runs if r.error]
    for r in failed:
        lines.append(f"- {r.name} did not finish: {r.error}")
    bs = bootstrap_table(comparison)
    if len(bs):
        best = comparison.best(main)
        lines.append(
            f"Paired bootstrap (2,000 resamples of users, 95% interval) of {best.name} minus each model on {main}:"
        )
        lines.append("")
        lines.append(
            markdown_table(bs[["versus", "diff", "low", "high", "p_value", "significant"]])
        )
        lines.append("")
    if main in table.columns:
        baselines = baseline_models()
        base = table[table["model"].isin(baselines)]
        if len(base):
            best_base = base.iloc[int(np.argmax(base[main].to_numpy()))]
            losers = table[(~table["model"].isin(baselines)) & (table[main] <= best_base[main])][
                "model"
            ].tolist()
            if losers:
                lines.append(
                    f"- Not above the best baseline ({best_base['model']}, {main} {best_base[main]:.4f}): "
                    + ", ".join(losers)
                    + ("." if note is None else " (means only; not tested, too few users).")
                )
    configs = table[["model", "config"]]
    lines.append("")
    lines.append(
        "Configurations: "
        + "; ".join(f"{m} ({c})" if c else m for m, c in configs.itertuples(index=False))
        + "."
    )
    return "\n".join(lines) + "\n"


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """Everything about a comparison as plain JSON-able data (per-user values excluded).

    ``small_sample`` holds :func:`small_sample_note` (null when intervals are given);
    with it, ``bootstrap`` is empty and the verdict columns of ``models`` are null.
    """
    table = report_table(comparison)
    records = json.loads(table.to_json(orient="records"))
    bs = bootstrap_table(comparison)
    return {
        "data": comparison.data_name,
        "level": comparison.level,
        "ks": list(comparison.ks),
        "task": comparison.extra.get("task", "new"),
        "split": {
            "method": comparison.split.method,
            "description": comparison.split.description,
            "cutoff": None if comparison.split.cutoff is None else str(comparison.split.cutoff),
            "stats": comparison.split.stats,
        },
        "n_items": comparison.extra.get("n_items"),
        "n_users": comparison.extra.get("n_users"),
        "models": records,
        "evaluated_users": evaluated_users(comparison),
        "min_users_for_intervals": MIN_USERS_FOR_INTERVALS,
        "small_sample": small_sample_note(comparison),
        "bootstrap": json.loads(bs.to_json(orient="records")) if len(bs) else [],
        "users_no_relevant": {
            r.name: r.result.n_users_no_relevant for r in comparison.ok_runs() if r.result
        },
    }


def plot_png(comparison: Comparison, path: Path) -> Path:
    """Bar charts: the main metric by model (left) and fit + recommend time by model (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = comparison.table()
    main = comparison.main_metric
    table = table[table[main].notna()] if main in table.columns else table.iloc[:0]
    table = table.sort_values(main, ascending=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 0.45 * max(4, len(table)) + 1.5))
    baselines = baseline_models()
    colours = ["#999999" if m in baselines else "#1f77b4" for m in table["model"]]
    ax1.barh(table["model"], table[main], color=colours)
    for y, v in enumerate(table[main]):
        ax1.text(v, y, f" {v:.3f}", va="center", fontsize=8)
    ax1.set_xlabel(f"{main.upper()} (higher is better)")
    ax1.set_title(f"{main} by model (grey: baselines)")
    ax2.barh(table["model"], table["fit_s"], color="#2ca02c", label="fit")
    ax2.barh(
        table["model"],
        table["recommend_s"],
        left=table["fit_s"],
        color="#ff7f0e",
        label="recommend (test users)",
    )
    ax2.set_xlabel("time (seconds)")
    ax2.set_title("time by model")
    ax2.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{comparison.data_name} ({comparison.level}s): {comparison.split.method} split")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_html(comparison: Comparison, path: Path) -> Path:
    """Interactive (offline) version of :func:`plot_png` with every metric as a grouped bar."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    table = comparison.table()
    main = comparison.main_metric
    table = table[table[main].notna()] if main in table.columns else table.iloc[:0]
    table = table.sort_values(main, ascending=False)
    k0 = min(comparison.ks)
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=(f"accuracy at {k0} by model", "time by model (s)")
    )
    for m in ("ndcg", "precision", "recall", "map", "mrr", "hit_rate"):
        col = f"{m}@{k0}"
        if col in table.columns:
            fig.add_trace(go.Bar(x=table["model"], y=table[col], name=col), row=1, col=1)
    fig.add_trace(go.Bar(x=table["model"], y=table["fit_s"], name="fit (s)"), row=1, col=2)
    fig.add_trace(
        go.Bar(x=table["model"], y=table["recommend_s"], name="recommend (s)"), row=1, col=2
    )
    fig.update_layout(
        title=f"{comparison.data_name} ({comparison.level}s): {comparison.split.description}",
        barmode="group",
    )
    fig.update_yaxes(title_text="metric value", row=1, col=1)
    fig.update_yaxes(title_text="seconds", row=1, col=2)
    fig.write_html(path, include_plotlyjs=True)
    return path


def write_report(
    comparison: Comparison, out_dir: Path, *, title: str | None = None, charts: bool = True
) -> list[Path]:
    """Write ``comparison.md``, ``.csv``, ``.json``, ``per_user.csv`` and the charts to ``out_dir``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    md = out_dir / "comparison.md"
    md.write_text(comparison_markdown(comparison, title=title), encoding="utf-8")
    paths.append(md)
    csv = out_dir / "comparison.csv"
    report_table(comparison).to_csv(csv, index=False)
    paths.append(csv)
    js = out_dir / "comparison.json"
    js.write_text(json.dumps(comparison_json(comparison), indent=2, default=str), encoding="utf-8")
    paths.append(js)
    pu = out_dir / "per_user.csv"
    comparison.per_user().to_csv(pu, index=False)
    paths.append(pu)
    for name, trials in comparison.extra.get("tuning", {}).items():
        p = out_dir / f"tuning_{name}.csv"
        trials.to_csv(p, index=False)
        paths.append(p)
    if charts and comparison.ok_runs():
        paths.append(plot_png(comparison, out_dir / "comparison.png"))
        paths.append(plot_html(comparison, out_dir / "comparison.html"))
    logger.info("wrote %d report files to %s", len(paths), out_dir)
    return paths

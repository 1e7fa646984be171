"""Charts of a genre evaluation: confusion matrix and per-genre F1 (PNG + offline HTML)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from encore.genre.evaluate import EvalResult


def confusion_frame(y_true: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """Row-normalised confusion matrix (true genre rows, predicted genre columns)."""
    labels = sorted(set(y_true.tolist()) | set(pred.tolist()))
    cm = pd.crosstab(pd.Series(y_true, name="true"), pd.Series(pred, name="predicted"))
    cm = cm.reindex(index=labels, columns=labels, fill_value=0)
    return cm.div(cm.sum(axis=1).replace(0, 1), axis=0)


def confusion_chart(result: EvalResult, model: str, out_dir: Path) -> list[Path]:
    """Confusion matrix of ``model`` as PNG and HTML; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    cm = confusion_frame(result.y_test, result.predictions[model])
    support = pd.Series(result.y_test).value_counts().reindex(cm.index).fillna(0).astype(int)
    ylabels = [f"{g} (n={support[g]})" for g in cm.index]
    title = f"Genre confusion, {model} on {result.dataset} ({result.split}-disjoint split)"
    stem = f"genre-confusion-{result.dataset}-{result.split}-{_slug(model)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(cm)
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * n + 3), max(5, 0.4 * n + 2)))
    im = ax.imshow(cm.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), cm.columns, rotation=60, ha="right")
    ax.set_yticks(range(n), ylabels)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre (test items)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="share of the true genre's items")
    fig.tight_layout()
    png = out_dir / f"{stem}.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    hfig = go.Figure(
        go.Heatmap(
            z=cm.to_numpy(),
            x=list(cm.columns),
            y=ylabels,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "share of true genre"},
        )
    )
    hfig.update_layout(
        title=title,
        xaxis_title="predicted genre",
        yaxis_title="true genre (test items)",
        yaxis_autorange="reversed",
    )
    html = out_dir / f"{stem}.html"
    hfig.write_html(html, include_plotlyjs=True)
    return [png, html]


def per_genre_chart(result: EvalResult, models: list[str], out_dir: Path) -> list[Path]:
    """Grouped bars of per-genre F1 for ``models`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pg = result.per_genre()
    pg = pg[pg["model"].isin(models)]
    wide = pg.pivot_table(index="genre", columns="model", values="f1").fillna(0)
    support = pg.groupby("genre")["support"].max()
    wide = wide.loc[support.sort_values(ascending=False).index.intersection(wide.index)]
    fig, ax = plt.subplots(figsize=(max(7, 0.5 * len(wide) + 3), 4.5))
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(wide))
    for i, m in enumerate([m for m in models if m in wide.columns]):
        ax.bar(x + i * width, wide[m].to_numpy(), width, label=m)
    ax.set_xticks(
        x + 0.4 - width / 2,
        [f"{g}\n(n={support[g]})" for g in wide.index],
        rotation=60,
        ha="right",
        fontsize=8,
    )
    ax.set_ylabel("F1 on test items")
    ax.set_ylim(0, 1)
    ax.set_title(f"Per-genre F1 on {result.dataset} ({result.split} split)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"genre-f1-{result.dataset}-{result.split}.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [png]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").replace("--", "-")

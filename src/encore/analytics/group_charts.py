"""Charts of the analytics by group (:mod:`encore.analytics.groups`): PNG and interactive HTML.

- genres by group: one stacked bar per group (language, country, decade), a segment per
  genre in the genre's colour (the same as in every chart), the ``(unknown)`` group grey;
- top tracks / artists by group: small multiples, one panel per group (the largest
  :data:`~encore.analytics.charts.MAX_PANELS`);
- trend by group: one line per group, its share of each period's plays or minutes.

:func:`encore.analytics.charts.save_chart` sends a grouped frame here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from encore.analytics.charts import MAX_PANELS, _measure_word, _short, genre_colour
from encore.analytics.window import UNKNOWN_GENRE

#: Groups drawn in a genres-by-group chart (the rest are left out and said so).
MAX_GROUPS = 16
#: Genres with their own segment (the rest are summed as "other genres").
MAX_GENRES = 10
_GREY = "#a0a0a0"
_LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#bcbd22", "#17becf", "#7f7f7f", "#393b79")  # fmt: skip


def _subtitle(frame: pd.DataFrame) -> str:
    return str(frame.attrs.get("window", ""))


def _title(frame: pd.DataFrame) -> str:
    what = str(frame.attrs.get("what", ""))
    by = str(frame.attrs.get("by", "plays"))
    return f"{what[:1].upper()}{what[1:]} ({_measure_word(by)})"


def _genre_matrix(frame: pd.DataFrame, by: str) -> tuple[pd.DataFrame, list[str]]:
    """Groups x genres of the measure (largest groups, largest genres, the rest summed)."""
    groups = list(dict.fromkeys(frame["group"]))[:MAX_GROUPS]
    sub = frame[frame["group"].isin(groups)]
    genre_tot = sub.groupby("genre")[by].sum().sort_values(ascending=False, kind="stable")
    top = [g for g in genre_tot.index if g != UNKNOWN_GENRE][:MAX_GENRES]
    label = sub["genre"].where(sub["genre"].isin([*top, UNKNOWN_GENRE]), "other genres")
    mat = sub.assign(g=label).pivot_table(index="group", columns="g", values=by, aggfunc="sum")
    cols = [*top, *(c for c in ("other genres", UNKNOWN_GENRE) if c in mat.columns)]
    return mat.reindex(index=groups, columns=cols).fillna(0.0), cols


def _colour(genre: str) -> str:
    return _GREY if genre in ("other genres", UNKNOWN_GENRE) else genre_colour(genre)


def save_group_chart(frame: pd.DataFrame, out: Path) -> None:
    """Draw a grouped result to ``out`` (``.png`` or ``.html``; the caller checked the suffix)."""
    if out.suffix.lower() == ".png":
        _png(frame, out)
    else:
        _html(frame, out)


def _png(frame: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    what = str(frame.attrs.get("what", ""))
    by = str(frame.attrs.get("by", "plays"))
    fig: Any
    if frame.empty:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.axis("off")
        ax.text(0.5, 0.5, "\n".join(frame.attrs.get("notes", ["no data"])), ha="center", wrap=True)
    elif what.startswith("genres by"):
        mat, cols = _genre_matrix(frame, by)
        fig, ax = plt.subplots(figsize=(10, 1.5 + 0.42 * len(mat)))
        left = pd.Series(0.0, index=mat.index)
        for g in cols:
            ax.barh(mat.index, mat[g], left=left, color=_colour(g), label=g, edgecolor="white")
            left += mat[g]
        ax.invert_yaxis()
        ax.set_xlabel(_measure_word(by))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    elif what.startswith("top"):
        groups = list(dict.fromkeys(frame["group"]))[:MAX_PANELS]
        fig, axes = plt.subplots(
            len(groups), 1, figsize=(10, 1.2 + 2.6 * len(groups)), squeeze=False
        )
        name_col = "track" if "track" in frame else "artist"
        for ax, g in zip(axes[:, 0], groups, strict=True):
            part = frame[frame["group"] == g]
            labels = [
                _short(f"{r[name_col]} – {r['artist']}" if name_col == "track" else r[name_col])
                for _, r in part.iterrows()
            ]
            ax.barh(labels, part[by], color=_GREY if g == "(unknown)" else "#1f77b4")
            ax.invert_yaxis()
            ax.set_title(str(g), loc="left", fontsize=10)
            ax.tick_params(axis="y", labelsize=8)
        axes[-1, 0].set_xlabel(_measure_word(by))
    else:  # trend by group
        fig, ax = plt.subplots(figsize=(10, 5))
        for i, (name, part) in enumerate(frame.groupby("group", sort=False)):
            colour = _GREY if name == "(unknown)" else _LINE_COLOURS[i % len(_LINE_COLOURS)]
            ax.plot(
                part["period"], 100 * part["share"], marker="o", ms=3, label=str(name), color=colour
            )
        ax.set_ylabel(f"share of {_measure_word(by)} (%)")
        ax.legend(fontsize=8)
    fig.suptitle(_title(frame), fontsize=12, x=0.01, ha="left")
    fig.text(0.01, 0.005, _short(_subtitle(frame), 150), fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _html(frame: pd.DataFrame, out: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    what = str(frame.attrs.get("what", ""))
    by = str(frame.attrs.get("by", "plays"))
    notes = "".join(f"<br><sup>note: {n}</sup>" for n in frame.attrs.get("notes", []))
    title = f"{_title(frame)}<br><sup>{_subtitle(frame)}</sup>{notes}"
    if frame.empty:
        fig = go.Figure()
        fig.add_annotation(text="<br>".join(frame.attrs.get("notes", ["no data"])), showarrow=False)
    elif what.startswith("genres by"):
        mat, cols = _genre_matrix(frame, by)
        fig = go.Figure(
            [
                go.Bar(
                    y=list(mat.index),
                    x=mat[g],
                    name=g,
                    orientation="h",
                    marker={"color": _colour(g)},
                    hovertemplate=f"%{{y}} · {g}: %{{x:,.0f}}<extra></extra>",
                )
                for g in cols
            ]
        )
        fig.update_layout(barmode="stack", height=220 + 30 * len(mat))
        fig.update_yaxes(autorange="reversed")
        fig.update_xaxes(title=_measure_word(by))
    elif what.startswith("top"):
        groups = list(dict.fromkeys(frame["group"]))[:MAX_PANELS]
        fig = make_subplots(rows=len(groups), cols=1, subplot_titles=[str(g) for g in groups])
        name_col = "track" if "track" in frame else "artist"
        for i, g in enumerate(groups, start=1):
            part = frame[frame["group"] == g]
            labels = [
                _short(f"{r[name_col]} – {r['artist']}" if name_col == "track" else r[name_col])
                for _, r in part.iterrows()
            ]
            fig.add_trace(
                go.Bar(y=labels, x=part[by], orientation="h", name=str(g), showlegend=False),
                row=i,
                col=1,
            )
            fig.update_yaxes(autorange="reversed", row=i, col=1)
        fig.update_layout(height=200 + 260 * len(groups))
    else:
        fig = go.Figure(
            [
                go.Scatter(
                    x=part["period"],
                    y=100 * part["share"],
                    mode="lines+markers",
                    name=str(g),
                    line={"color": _GREY} if g == "(unknown)" else None,
                )
                for g, part in frame.groupby("group", sort=False)
            ]
        )
        fig.update_yaxes(title=f"share of {_measure_word(by)} (%)")
    fig.update_layout(title=title, template="plotly_white")
    fig.write_html(out, include_plotlyjs=True, full_html=True)

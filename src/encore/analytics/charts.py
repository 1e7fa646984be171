"""Charts of the analytics results: static PNG (matplotlib) and interactive HTML (plotly).

Every chart is meant to be pasted into a report and read without the terminal: a title
that says what is measured, axes with units, the window, source and filters in the
subtitle, genres sorted by size, the "(unknown)" bar in grey, long track and artist
names shortened with an ellipsis. Each genre keeps one colour across all charts.

:func:`save_chart` picks the chart from the frame (``frame.attrs["what"]``, set by the
query functions) and the format from the file's suffix.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from encore.analytics.window import NO_GENRE_TAG, UNKNOWN_GENRE
from encore.data.genres import GENRES
from encore.errors import ConfigError

log = logging.getLogger(__name__)

_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
    "#31a354", "#756bb1", "#bd9e39", "#fd8d3c", "#9c9ede",
)  # fmt: skip
_GREY = "#a0a0a0"
#: Panels in a small-multiples chart of top tracks/artists.
MAX_PANELS = 6
#: Lines in a trend chart.
MAX_LINES = 8
_LABEL_CHARS = 38

_UNITS = {
    "plays": "plays (count)",
    "minutes": "minutes listened (min)",
    "listeners": "distinct listeners (users)",
    "tag_assignments": "tag assignments (count)",
    "taggers": "distinct taggers (users)",
}


def genre_colour(genre: str) -> str:
    """The colour of a genre, the same in every chart (grey for the unknown bar)."""
    if genre in (UNKNOWN_GENRE, NO_GENRE_TAG):
        return _GREY
    names = list(GENRES)
    if genre in names:
        return _PALETTE[names.index(genre) % len(_PALETTE)]
    return _PALETTE[sum(map(ord, genre)) % len(_PALETTE)]


def _short(text: Any, n: int = _LABEL_CHARS) -> str:
    s = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def _meta(frame: pd.DataFrame) -> tuple[str, str, str]:
    what = str(frame.attrs.get("what", ""))
    by = str(frame.attrs.get("by", "plays"))
    window = str(frame.attrs.get("window", ""))
    return what, by, window


def _measure_word(by: str) -> str:
    return {
        "minutes": "minutes listened",
        "tag_assignments": "tag assignments",
        "taggers": "distinct taggers",
        "listeners": "distinct listeners",
    }.get(by, "plays")


def _title(frame: pd.DataFrame) -> str:
    what, by, _ = _meta(frame)
    word = _measure_word(by)
    if what.startswith("genre popularity"):
        return (
            f"Genre popularity by {word}"
            if "tag" not in by
            else "Genre popularity by tag assignments (not listening)"
        )
    if what.startswith("genre trend"):
        return f"Genre {word} per {what.rsplit(' ', 1)[-1]}"
    if "tracks" in what:
        return f"Top tracks in each genre by {word}"
    return f"Top artists in each genre by {word}"


def _label_col(frame: pd.DataFrame) -> pd.Series:
    if "track" in frame:
        return (
            frame["track"]
            .map(_short)
            .str.cat(frame["artist"].map(lambda a: _short(a, 24)), sep=" — ")
        )
    return frame["artist"].map(_short)


def save_chart(frame: pd.DataFrame, path: str | Path) -> Path:
    """Draw ``frame`` (a result of the analytics queries) to ``path``.

    Parameters
    ----------
    frame:
        The result of :func:`~encore.analytics.genres.genre_popularity`,
        :func:`~encore.analytics.rankings.top_tracks`,
        :func:`~encore.analytics.rankings.top_artists` or
        :func:`~encore.analytics.trend.genre_trend` (its ``attrs`` say which).
    path:
        ``*.png`` (matplotlib) or ``*.html`` (plotly, self-contained, works offline).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ConfigError
        The suffix is neither ``.png`` nor ``.html``, or the frame is not an analytics result.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".html"):
        raise ConfigError(f"--chart {out}: the file must end in .png or .html")
    what = str(frame.attrs.get("what", ""))
    if not what:
        raise ConfigError("this frame is not an analytics result (no attrs['what'])")
    out.parent.mkdir(parents=True, exist_ok=True)
    if frame.attrs.get("group"):  # --group: encore.analytics.groups
        from encore.analytics.group_charts import save_group_chart

        save_group_chart(frame, out)
    elif suffix == ".png":
        _png(frame, out, what)
    else:
        _html(frame, out, what)
    log.info("wrote %s", out)
    return out


# ---------------------------------------------------------------------- matplotlib
def _png(frame: pd.DataFrame, out: Path, what: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if frame.empty:
        fig, ax = plt.subplots(figsize=(9, 3))
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            "\n".join(frame.attrs.get("notes", ["no data"])) or "no data",
            ha="center",
            va="center",
            wrap=True,
            fontsize=11,
        )
        fig.suptitle(_title(frame), fontsize=14, fontweight="bold")
    elif what.startswith("genre popularity"):
        fig = _png_genres(plt, frame)
    elif what.startswith("genre trend"):
        fig = _png_trend(plt, frame)
    else:
        fig = _png_top(plt, frame)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)


def _notes(frame: pd.DataFrame) -> list[str]:
    """The result's notes that matter on a chart (durations only when minutes are shown)."""
    _, by, _ = _meta(frame)
    notes = [str(n) for n in frame.attrs.get("notes", [])]
    return [n for n in notes if "no duration" not in n or by == "minutes"]


def _subtitle(fig: Any, frame: pd.DataFrame, extra: str = "") -> None:
    import textwrap

    _, _, window = _meta(frame)
    lines = [window, *([extra] if extra else [])]
    for note in _notes(frame):
        lines.extend(textwrap.wrap("note: " + note, 120))
    text = "\n".join(lines)
    fig.text(0.5, 0.995, text, ha="center", va="bottom", fontsize=9, color="#444444")
    height = fig.get_figheight()
    fig.suptitle(
        _title(frame),
        fontsize=14,
        fontweight="bold",
        y=1.0 + (0.1 + 0.16 * len(lines)) / height,
        va="bottom",
    )


#: How a predicted segment looks: hatched and lighter than the genre's observed one.
PREDICTED_HATCH = "///"
PREDICTED_ALPHA = 0.45
#: A ranking row whose plays are partly observed, partly predicted (basis ``mixed``).
MIXED_HATCH = "..."
MIXED_ALPHA = 0.75


def _by_genre(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """One row per genre, smallest first: ``genre, observed, predicted, total, share``.

    ``observed`` and ``predicted`` are the measure's parts by basis (a frame without a
    ``basis`` column is all observed); ``share`` is the genre's share of the total.
    """
    basis = frame["basis"] if "basis" in frame else pd.Series("observed", index=frame.index)
    parts = frame.assign(_b=basis.where(basis == "predicted", "observed"))
    wide = parts.pivot_table(index="genre", columns="_b", values=by, aggfunc="sum").fillna(0.0)
    for col in ("observed", "predicted"):
        if col not in wide:
            wide[col] = 0.0
    wide["total"] = wide["observed"] + wide["predicted"]
    wide["share"] = parts.groupby("genre")["share"].sum()
    order = frame.drop_duplicates("genre")["genre"].tolist()[::-1]  # the result's order, reversed
    return wide.reindex(order).reset_index()


def _png_genres(plt: Any, frame: pd.DataFrame) -> Any:
    _, by, _ = _meta(frame)
    data = _by_genre(frame, by)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * len(data)))
    colours = [genre_colour(g) for g in data["genre"]]
    bars = ax.barh(data["genre"], data["observed"], color=colours)
    if data["predicted"].any():
        ax.barh(
            data["genre"],
            data["predicted"],
            left=data["observed"],
            color=colours,
            alpha=PREDICTED_ALPHA,
            hatch=PREDICTED_HATCH,
            edgecolor="#555555",
            linewidth=0,
        )
    top = float(data["total"].max()) if len(data) else 0.0
    for bar, value, pred, share in zip(
        bars, data["total"], data["predicted"], data["share"], strict=True
    ):
        label = f"{value:,.0f}  ({share:.1%})"
        if pred > 0:
            label += f", {pred / value:.0%} predicted"
        ax.text(
            value + top * 0.01,
            bar.get_y() + bar.get_height() / 2,
            label,
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, top * 1.35 if top else 1)
    ax.set_xlabel(_UNITS.get(by, by))
    ax.set_ylabel("genre")
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    total = data["total"].sum()
    grey = "tags that name no genre" if "tag" in by else "plays of tracks with no known genre"
    extra = f"total {total:,.0f} {_measure_word(by)}; grey bar = {grey}"
    if data["predicted"].any():
        extra += "; hatched, lighter part = genre predicted by the model"
    if by == "minutes" and "estimated_minutes" in frame and total > 0:
        extra += f"; {frame['estimated_minutes'].sum() / total:.0%} of minutes estimated"
    _subtitle(fig, frame, extra)
    fig.tight_layout()
    return fig


def _basis_key(frame: pd.DataFrame) -> str:
    """What the hatched bars of a ranking mean ("" when every row is observed)."""
    bases = set(frame["basis"]) if "basis" in frame else set()
    key = []
    if "predicted" in bases:
        key.append("hatched, lighter = genre predicted by the model")
    if "mixed" in bases:
        key.append("dotted = genre partly predicted (observed and predicted plays)")
    return "".join(f"; {k}" for k in key)


def _png_top(plt: Any, frame: pd.DataFrame) -> Any:
    _, by, _ = _meta(frame)
    genres = list(dict.fromkeys(frame["genre"]))
    shown = genres[:MAX_PANELS]
    per = int(frame.groupby("genre").size().max())
    cols = 1 if len(shown) == 1 else 2
    rows = (len(shown) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(7.5 * cols, 0.9 + rows * (0.55 + 0.28 * per)), squeeze=False
    )
    for i, genre in enumerate(shown):
        ax = axes[i // cols][i % cols]
        part = frame[frame["genre"] == genre].sort_values("rank", ascending=False)
        labels = [f"{r}. {lbl}" for r, lbl in zip(part["rank"], _label_col(part), strict=True)]
        basis = part["basis"].tolist() if "basis" in part else ["observed"] * len(part)
        bars = ax.barh(range(len(part)), part[by], color=genre_colour(genre))
        for bar, b in zip(bars, basis, strict=True):
            if b == "predicted":
                bar.set_alpha(PREDICTED_ALPHA)
                bar.set_hatch(PREDICTED_HATCH)
            elif b == "mixed":
                bar.set_alpha(MIXED_ALPHA)
                bar.set_hatch(MIXED_HATCH)
        ax.set_yticks(range(len(part)), labels, fontsize=8)
        ax.set_title(genre, fontsize=11, fontweight="bold", loc="left")
        ax.set_xlabel(_UNITS.get(by, by), fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    for j in range(len(shown), rows * cols):
        axes[j // cols][j % cols].axis("off")
    extra = (
        f"top {per} per genre; the {len(shown)} largest of {len(genres)} genres shown"
        if len(genres) > len(shown)
        else f"top {per} per genre"
    )
    extra += _basis_key(frame)
    _subtitle(fig, frame, extra)
    fig.tight_layout()
    return fig


_LINE_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
)  # fmt: skip


def _line_colour(genre: str, top: list[str]) -> str:
    """Distinct colours for the few lines of a trend chart (grey for the unknown line)."""
    if genre in (UNKNOWN_GENRE, NO_GENRE_TAG):
        return _GREY
    known = [g for g in top if g not in (UNKNOWN_GENRE, NO_GENRE_TAG)]
    return (
        _LINE_COLOURS[known.index(genre) % len(_LINE_COLOURS)]
        if genre in known
        else genre_colour(genre)
    )


def _trend_lines(frame: pd.DataFrame, by: str) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    totals = frame.groupby("genre")[by].sum().sort_values(ascending=False)
    top = [g for g in totals.index[:MAX_LINES] if totals[g] > 0]
    wide = frame.pivot_table(index="period", columns="genre", values=by, aggfunc="sum").fillna(0)
    share = frame.pivot_table(
        index="period", columns="genre", values="share", aggfunc="sum"
    ).fillna(0)
    return top, wide, share


def _png_trend(plt: Any, frame: pd.DataFrame) -> Any:
    import matplotlib.dates as mdates

    what, by, _ = _meta(frame)
    every = what.rsplit(" ", 1)[-1]
    top, wide, share = _trend_lines(frame, by)
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(11, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for g in top:
        ax1.plot(
            wide.index,
            wide[g],
            label=g,
            color=_line_colour(g, top),
            lw=1.8,
            ls="--" if g in (UNKNOWN_GENRE, NO_GENRE_TAG) else "-",
        )
        ax2.plot(
            share.index,
            share[g] * 100,
            color=_line_colour(g, top),
            lw=1.5,
            ls="--" if g in (UNKNOWN_GENRE, NO_GENRE_TAG) else "-",
        )
    ax1.set_ylabel(f"{_UNITS.get(by, by)}\nper {every}")
    ax2.set_ylabel(f"share of the {every}'s\n{_measure_word(by)} (%)")
    ax2.set_xlabel(f"{every} (start date, UTC)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    ax2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
    ax1.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, title="genre", frameon=False
    )
    n = frame["genre"].nunique()
    _subtitle(fig, frame, f"the {len(top)} largest of {n} genres")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- plotly
def _html(frame: pd.DataFrame, out: Path, what: str) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    _, by, window = _meta(frame)
    notes = "".join(f"<br><sup>note: {n}</sup>" for n in _notes(frame)) if not frame.empty else ""
    title = f"{_title(frame)}<br><sup>{window}</sup>{notes}"
    if frame.empty:
        fig = go.Figure()
        fig.add_annotation(text="<br>".join(frame.attrs.get("notes", ["no data"])), showarrow=False)
    elif what.startswith("genre popularity"):
        data = _by_genre(frame, by)
        colours = [genre_colour(g) for g in data["genre"]]
        fig = go.Figure()
        for part in ("observed", "predicted"):
            if part == "predicted" and not data["predicted"].any():
                continue
            rows = frame[
                (frame["basis"] if "basis" in frame else pd.Series("observed", index=frame.index))
                .where(lambda b: b == "predicted", "observed")
                .eq(part)
            ].set_index("genre")
            cols = [c for c in rows.columns if c not in ("basis",)]
            custom = rows.reindex(data["genre"])[cols].to_numpy()
            pct = [
                f"{v:,.0f} ({sh:.1%}{f', {p / v:.0%} predicted' if p > 0 else ''})"
                for v, p, sh in zip(data["total"], data["predicted"], data["share"], strict=True)
            ]
            fig.add_trace(
                go.Bar(
                    x=data[part],
                    y=data["genre"],
                    orientation="h",
                    name=f"{part} genre",
                    marker={
                        "color": colours,
                        "opacity": 1.0 if part == "observed" else PREDICTED_ALPHA,
                        "pattern": {"shape": "" if part == "observed" else "/"},
                    },
                    text=pct
                    if part == ("predicted" if data["predicted"].any() else "observed")
                    else None,
                    textposition="outside",
                    customdata=custom,
                    hovertemplate=f"%{{y}} ({part})<br>"
                    + "<br>".join(f"{c}: %{{customdata[{i}]:,.4g}}" for i, c in enumerate(cols))
                    + "<extra></extra>",
                )
            )
        fig.update_layout(
            barmode="stack",
            height=200 + 28 * len(data),
            xaxis_title=_UNITS.get(by, by),
            yaxis_title="genre",
        )
    elif what.startswith("genre trend"):
        every = what.rsplit(" ", 1)[-1]
        top, wide, share = _trend_lines(frame, by)
        fig = make_subplots(
            rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.06
        )
        for g in frame.groupby("genre")[by].sum().sort_values(ascending=False).index:
            visible: bool | str = True if g in top else "legendonly"
            dash = "dash" if g in (UNKNOWN_GENRE, NO_GENRE_TAG) else "solid"
            line = {"color": _line_colour(g, top), "dash": dash}
            fig.add_trace(
                go.Scatter(
                    x=wide.index, y=wide[g], name=g, legendgroup=g, line=line, visible=visible
                ),
                row=1,
                col=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=share.index,
                    y=share[g] * 100,
                    name=g,
                    legendgroup=g,
                    line=line,
                    showlegend=False,
                    visible=visible,
                ),
                row=2,
                col=1,
            )
        fig.update_yaxes(title_text=f"{_UNITS.get(by, by)} per {every}", row=1, col=1)
        fig.update_yaxes(title_text=f"share of the {every} (%)", row=2, col=1)
        fig.update_xaxes(title_text=f"{every} (start date, UTC)", row=2, col=1)
        fig.update_layout(height=720, legend_title_text="genre (click to show/hide)")
    else:
        genres = list(dict.fromkeys(frame["genre"]))
        per = int(frame.groupby("genre").size().max())
        fig = make_subplots(
            rows=len(genres),
            cols=1,
            subplot_titles=genres,
            vertical_spacing=0.25 / max(len(genres), 1),
        )
        for i, genre in enumerate(genres, start=1):
            part = frame[frame["genre"] == genre].sort_values("rank", ascending=False)
            labels = [f"{r}. {lbl}" for r, lbl in zip(part["rank"], _label_col(part), strict=True)]
            basis = part["basis"].tolist() if "basis" in part else ["observed"] * len(part)
            shape = {"predicted": "/", "mixed": "."}
            alpha = {"predicted": PREDICTED_ALPHA, "mixed": MIXED_ALPHA}
            fig.add_trace(
                go.Bar(
                    x=part[by],
                    y=labels,
                    orientation="h",
                    marker={
                        "color": genre_colour(genre),
                        "opacity": [alpha.get(b, 1.0) for b in basis],
                        "pattern": {"shape": [shape.get(b, "") for b in basis]},
                    },
                    customdata=basis,
                    hovertemplate="%{y}: %{x:,.4g} (genre %{customdata})<extra></extra>",
                    name=genre,
                    showlegend=False,
                ),
                row=i,
                col=1,
            )
            fig.update_xaxes(title_text=_UNITS.get(by, by), row=i, col=1)
        fig.update_layout(height=max(400, len(genres) * (90 + 22 * per)))
        if _basis_key(frame):
            title += f"<br><sup>{_basis_key(frame)[2:]}</sup>"
    fig.update_layout(title={"text": title}, template="plotly_white", margin={"l": 20, "r": 20})
    fig.write_html(out, include_plotlyjs=True, full_html=True)

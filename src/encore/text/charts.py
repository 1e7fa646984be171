"""The mood of what a listener played, month by month (PNG and interactive HTML)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from encore.data.store import Store
from encore.errors import ConfigError, UnknownIdError

MOOD_COLOURS = {
    "happy": "#f2b701",
    "angry": "#d1495b",
    "sad": "#30638e",
    "calm": "#66a182",
    "unknown": "#c8c8c8",
}


def mood_by_month(
    store: Store,
    user: str | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Plays per month and mood (``unknown``: tracks without a stored mood, never dropped).

    Columns ``month, mood, plays, share`` (share of the month's plays). ``user`` None
    means every listener.

    Raises
    ------
    UnknownIdError
        The user has no plays in the store.
    """
    cond: list[str] = ["1 = 1"]
    params: dict[str, object] = {}
    if user is not None:
        cond.append("p.user_id = $user")
        params["user"] = user
    if start is not None:
        cond.append("p.ts >= $start")
        params["start"] = start
    if end is not None:
        cond.append("p.ts < $end")
        params["end"] = end
    frame = store.con.execute(
        f"""SELECT date_trunc('month', p.ts)::DATE AS month,
                   coalesce(m.mood, 'unknown') AS mood, count(*) AS plays
            FROM plays p LEFT JOIN track_moods m USING (track_id)
            WHERE {" AND ".join(cond)} GROUP BY ALL ORDER BY month, mood""",
        params,
    ).df()
    if frame.empty:
        if user is not None and not store.scalar(
            "SELECT count(*) FROM events WHERE user_id = ?", [user]
        ):
            raise UnknownIdError("user", [user], hint="see `encore info` for the users")
        raise ConfigError("no plays in that window", hint="widen --from/--to")
    frame["share"] = frame["plays"] / frame.groupby("month")["plays"].transform("sum")
    frame.attrs["user"] = user or "all listeners"
    frame.attrs["known_share"] = float(
        frame.loc[frame["mood"] != "unknown", "plays"].sum() / frame["plays"].sum()
    )
    return frame


def save_mood_chart(frame: pd.DataFrame, path: str | Path) -> Path:
    """Stacked monthly shares by mood: ``.png`` (matplotlib) or ``.html`` (plotly).

    Raises
    ------
    ConfigError
        Another file suffix.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".html"):
        raise ConfigError(f"--out must end in .png or .html, not {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    wide = frame.pivot_table(index="month", columns="mood", values="plays", fill_value=0)
    order = [m for m in MOOD_COLOURS if m in wide.columns]
    wide = wide[order]
    shares = wide.div(wide.sum(axis=1), axis=0)
    known = frame.attrs.get("known_share", float("nan"))
    title = f"Mood of what {frame.attrs.get('user', '')} played, by month"
    sub = f"share of each month's plays; {known:.0%} of plays have a known mood"
    if suffix == ".png":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(10, 4.5))
        bottom = pd.Series(0.0, index=shares.index)
        labels = [pd.Timestamp(m).strftime("%Y-%m") for m in shares.index]
        for mood in order:
            ax.bar(labels, shares[mood], bottom=bottom, color=MOOD_COLOURS[mood], label=mood)
            bottom += shares[mood]
        ax.set_ylabel("share of plays")
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}\n{sub}", fontsize=10)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        if len(labels) > 12:
            step = max(1, len(labels) // 12)
            ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right")
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        plt.close(fig)
    else:
        import plotly.graph_objects as go

        fig = go.Figure()
        for mood in order:
            fig.add_bar(
                x=shares.index,
                y=shares[mood],
                name=mood,
                marker_color=MOOD_COLOURS[mood],
                customdata=wide[mood],
                hovertemplate="%{x|%Y-%m}: %{y:.0%} (%{customdata:,} plays)",
            )
        fig.update_layout(
            barmode="stack", title=f"{title}<br><sup>{sub}</sup>", yaxis_tickformat=".0%"
        )
        fig.write_html(out, include_plotlyjs=True)
    return out

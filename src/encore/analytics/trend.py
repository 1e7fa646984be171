"""Genre measures per week or month across a window, so rises and falls show.

The result is a full grid: every period that overlaps the window times every genre seen
in the window, with zeros where a genre had no plays in a period (a missing row would
read as "no data" in a chart or a spreadsheet). Weeks start on Monday (ISO weeks);
the first and last periods may be cut by the window, which the notes say.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pandas as pd

from encore.analytics.common import (
    check_genre,
    coverage_note,
    coverage_of,
    estimates_minutes,
    finish,
    per_user_sql,
    query_checked,
    resolve_by,
    user_column,
    window_coverage,
    with_basis,
)
from encore.analytics.window import Window
from encore.data.store import Store
from encore.errors import ConfigError

log = logging.getLogger(__name__)

_INTERVAL = {"week": "INTERVAL 7 DAY", "month": "INTERVAL 1 MONTH"}


def genre_trend(
    store: Store,
    window: Window,
    *,
    every: str = "month",
    by: str = "plays",
    genres: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per-period measures of each genre.

    Parameters
    ----------
    store:
        The open store.
    window:
        From :func:`~encore.analytics.window.resolve_window`.
    every:
        ``"week"`` (ISO weeks, Monday first) or ``"month"``.
    by:
        ``"plays"`` or ``"minutes"``: the measure ``share`` is computed of.
    genres:
        Only these genres (the share is still of all plays in the period).

    Returns
    -------
    pandas.DataFrame
        ``period, genre, basis, plays, minutes, estimated_minutes, skips, listeners,
        share`` (``basis`` and ``estimated_minutes`` as in the genre histogram; one row per
        genre and basis; tags:
        ``period, genre, tag_assignments, taggers, share``); ``period`` is the first day of
        the week or month; ``share`` is the genre's fraction of the period's total (0 for a
        period with no data). Sorted by period, then genre (largest overall first).

    Raises
    ------
    ConfigError
        ``every`` is not week or month, or a bad ``by``.
    UnknownIdError
        A genre in ``genres`` is not known.
    """
    if every not in _INTERVAL:
        raise ConfigError(f"--every must be week or month, not {every!r}")
    col = resolve_by(window, by, ("plays", "minutes"))
    cols = (
        ["tag_assignments", "taggers"]
        if window.measure == "tags"
        else [
            "plays",
            "minutes",
            *(["estimated_minutes"] if estimates_minutes(window) else []),
            "skips",
            "listeners",
        ]
    )
    if window.measure == "plays":
        cols.append("_no_duration")  # for the coverage footer, dropped below
    # one row per genre and basis (observed / predicted) where results carry a basis
    gkeys = ["genre", "basis"] if with_basis(window) else ["genre"]
    wanted = [check_genre(g, window) for g in genres] if genres else None
    extra: dict[str, Any] = {"last": window.last}
    genre_filter = ""
    if wanted:
        extra["genres"] = wanted
        genre_filter = "WHERE list_contains($genres, g.genre)"
    user = user_column(store)
    frame = query_checked(
        store,
        lambda fast: _trend_sql(window, every, col, cols, gkeys, genre_filter, user, fast),
        window,
        extra,
    )
    cov = None
    if not frame.empty and window.measure == "plays":
        cov = (
            window_coverage(store, window)
            if window.genres == "predicted" or wanted
            else coverage_of(frame, window)
        )
    frame = frame.drop(columns=["_no_duration"], errors="ignore")
    for name in ("plays", "skips", "listeners", "tag_assignments", "taggers"):
        if name in frame:
            frame[name] = frame[name].astype("int64")
    if not frame.empty:
        frame["period"] = pd.to_datetime(frame["period"])
    notes: list[str] = []
    if not frame.empty and frame[col].sum() > 0:
        first = pd.Timestamp(frame["period"].min()).to_pydatetime()
        last = pd.Timestamp(frame["period"].max()).to_pydatetime()
        next_start = last + (timedelta(days=7) if every == "week" else pd.DateOffset(months=1))
        cut = []
        if first < window.start:
            cut.append(f"first ({first:%Y-%m-%d})")
        if next_start > window.end:
            cut.append(f"last ({last:%Y-%m-%d})")
        if cut:
            notes.append(
                f"the {' and '.join(cut)} {every}{'s are' if len(cut) > 1 else ' is'} only partly inside the window"
            )
    else:
        frame = frame.iloc[0:0]
    notes += coverage_note(cov, window)
    return finish(frame, window, col, f"genre trend per {every}", notes)


def _trend_sql(
    window: Window,
    every: str,
    col: str,
    cols: list[str],
    gkeys: list[str],
    genre_filter: str,
    user: str,
    fast: bool,
) -> str:
    """The trend's grid: :func:`per_user_sql` per period, every period times every genre.

    ``fast``: over ``per_user_sql(..., fast=True)``, with its check columns on every row
    (see :func:`~encore.analytics.common.query_checked`).
    """
    g_sel = ", ".join(f"g.{k}" for k in gkeys)
    # a genre's bases with equal totals (0 minutes of both, say): observed first, always
    tie = ", grid.basis" if "basis" in gkeys else ""
    zeros = ", ".join(f"COALESCE(a.{m}, 0) AS {m}" for m in cols)
    check = (
        ", (SELECT max(_labelled) FROM agg) AS _labelled, (SELECT max(_expected) FROM agg) AS _expected"
        if fast and window.measure == "plays"
        else ""
    )
    return f"""
        WITH agg AS ({per_user_sql(window, ["period"], every=every, user=user, fast=fast)}),
        periods AS (
            SELECT CAST(unnest(generate_series(date_trunc('{every}', CAST($start AS TIMESTAMP)),
                                               date_trunc('{every}', CAST($last AS TIMESTAMP)),
                                               {_INTERVAL[every]})) AS DATE) AS period
        ), genres AS (
            SELECT {", ".join(gkeys)}, sum(sum({col})) OVER (PARTITION BY genre) AS _total,
                   sum({col}) AS _own FROM agg GROUP BY {", ".join(gkeys)}
        ), grid AS (
            SELECT p.period, {g_sel}, g._total, g._own, {zeros}
            FROM periods p CROSS JOIN genres g
            LEFT JOIN agg a ON a.period = p.period
                 AND {" AND ".join(f"a.{k} = g.{k}" for k in gkeys)}
            {genre_filter}
        ), totals AS (
            SELECT period, sum({col}) AS _period_total FROM agg GROUP BY period
        )
        SELECT grid.period, {", ".join(f"grid.{k}" for k in gkeys)},
               {", ".join(f"grid.{m}" for m in cols)},
               COALESCE(grid.{col} / NULLIF(t._period_total, 0), 0.0) AS share{check}
        FROM grid LEFT JOIN totals t USING (period)
        ORDER BY grid.period, grid._total DESC, grid.genre, grid._own DESC{tie}
    """

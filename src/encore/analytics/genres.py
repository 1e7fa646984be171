"""Genre popularity: one bar per coarse genre over a window.

Plays of tracks whose genre (nor their artist's) is known form their own bar,
``(unknown)``, so the bars always add up to the number of plays in the window. With a
genre resolution (``encore genre resolve``) a genre has up to two rows, ``basis``
observed and predicted, and minutes include estimates for plays without a duration
(``estimated_minutes`` says how much); the notes end with the window's coverage.
"""

from __future__ import annotations

import logging

import pandas as pd

from encore.analytics.common import (
    BASIS_ORDER,
    coverage_note,
    coverage_of,
    estimates_minutes,
    finish,
    per_user_sql,
    query_checked,
    resolve_by,
    user_column,
    window_coverage,
)
from encore.analytics.window import Window
from encore.data.store import Store

log = logging.getLogger(__name__)


def genre_popularity(store: Store, window: Window, *, by: str = "plays") -> pd.DataFrame:
    """Plays (or tag assignments) per genre in the window.

    Parameters
    ----------
    store:
        The open store.
    window:
        From :func:`~encore.analytics.window.resolve_window`.
    by:
        ``"plays"`` or ``"minutes"``: the measure the rows are sorted by and ``share`` is
        computed of.

    Returns
    -------
    pandas.DataFrame
        For plays: ``genre, basis, plays, minutes, estimated_minutes, skips, listeners,
        share`` (``basis`` without ``--genres catalogue``, ``estimated_minutes`` without
        ``--minutes observed``; one row per genre and basis); for tag assignments:
        ``genre, tag_assignments, taggers, share``. Sorted by the measure (descending),
        then genre. ``share`` is the genre's fraction of the window's total of the measure.
        ``attrs`` carry the window and notes (see :mod:`encore.analytics.common`).

    Raises
    ------
    ConfigError
        ``by`` is not ``plays`` or ``minutes``.
    """
    col = resolve_by(window, by, ("plays", "minutes"))
    user = user_column(store)
    frame = query_checked(store, lambda fast: per_user_sql(window, user=user, fast=fast), window)
    notes: list[str] = []
    if window.genres == "predicted" and window.measure == "plays":
        cov = window_coverage(store, window)
    else:
        cov = coverage_of(frame, window)
    if "_no_duration" in frame:
        missing = int(frame["_no_duration"].sum())
        if missing and not (estimates_minutes(window) and window.resolved):
            notes.append(
                f"{missing:,} plays have no duration (scrobbles): they count as plays "
                "but add nothing to minutes"
            )
        frame = frame.drop(columns="_no_duration")
    notes += coverage_note(cov, window)
    total = frame[col].sum() if not frame.empty else 0
    frame["share"] = frame[col] / total if total else 0.0
    if "basis" in frame and not frame.empty:
        # a genre's rows together (largest genre first), observed before predicted
        frame["_genre_total"] = frame.groupby("genre")[col].transform("sum")
        frame["_basis_order"] = frame["basis"].map(BASIS_ORDER).fillna(9)
        frame = frame.sort_values(
            ["_genre_total", "genre", "_basis_order"], ascending=[False, True, True], kind="stable"
        ).drop(columns=["_genre_total", "_basis_order"])
    else:
        frame = frame.sort_values([col, "genre"], ascending=[False, True], kind="stable")
    for name in frame.columns:
        if name in ("plays", "skips", "listeners", "tag_assignments", "taggers"):
            frame[name] = frame[name].astype("int64")
    log.debug("genre popularity: %d genres", len(frame))
    return finish(frame, window, col, "genre popularity", notes)

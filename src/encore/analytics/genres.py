"""Genre popularity: one bar per coarse genre over a window.

Plays of tracks whose genre (nor their artist's) is known form their own bar,
``(unknown)``, so the bars always add up to the number of plays in the window.
"""

from __future__ import annotations

import logging

import pandas as pd

from encore.analytics.common import finish, per_user_sql, query, resolve_by, user_column
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
        For plays: ``genre, plays, minutes, skips, listeners, share``; for tag assignments:
        ``genre, tag_assignments, taggers, share``. Sorted by the measure (descending),
        then genre. ``share`` is the genre's fraction of the window's total of the measure.
        ``attrs`` carry the window and notes (see :mod:`encore.analytics.common`).

    Raises
    ------
    ConfigError
        ``by`` is not ``plays`` or ``minutes``.
    """
    col = resolve_by(window, by, ("plays", "minutes"))
    frame = query(store, per_user_sql(window, user=user_column(store)), window)
    notes: list[str] = []
    if "_no_duration" in frame:
        missing = int(frame["_no_duration"].sum())
        if missing:
            notes.append(
                f"{missing:,} plays have no duration (scrobbles): they count as plays "
                "but add nothing to minutes"
            )
        frame = frame.drop(columns="_no_duration")
    total = frame[col].sum() if not frame.empty else 0
    frame["share"] = frame[col] / total if total else 0.0
    frame = frame.sort_values([col, "genre"], ascending=[False, True], kind="stable")
    for name in frame.columns:
        if name in ("plays", "skips", "listeners", "tag_assignments", "taggers"):
            frame[name] = frame[name].astype("int64")
    log.debug("genre popularity: %d genres", len(frame))
    return finish(frame, window, col, "genre popularity", notes)

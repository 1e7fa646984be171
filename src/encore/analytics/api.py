"""One call per analytics question: resolve the window, run the query, return a frame.

>>> from encore.data.store import Store
>>> from encore.analytics import api
>>> with Store("encore.duckdb", read_only=True) as store:       # doctest: +SKIP
...     frame = api.run(store, "genres", start="2024-01-01", end="2024-12-31", by="minutes")

The frames have the same columns as the CLI's CSV/JSON output; ``frame.attrs`` holds the
window, the measure and the notes (see :mod:`encore.analytics.common`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from encore.analytics.genres import genre_popularity
from encore.analytics.rankings import top_artists, top_tracks
from encore.analytics.trend import genre_trend
from encore.analytics.window import resolve_window
from encore.data.store import Store
from encore.errors import ConfigError

#: The questions, by CLI name.
QUESTIONS: tuple[str, ...] = ("genres", "top-tracks", "top-artists", "trend")


def run(
    store: Store,
    what: str,
    *,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    source: str | None = None,
    country: str | None = None,
    segment: int | None = None,
    segment_model: str | None = None,
    user: str | None = None,
    include_skips: bool = False,
    measure: str = "auto",
    by: str = "plays",
    n: int = 10,
    genre: str | None = None,
    genres: Sequence[str] | None = None,
    every: str = "month",
    genres_basis: str = "all",
    minutes_basis: str = "all",
    min_probability: float | None = None,
    group: str | None = None,
    **unused: Any,
) -> pd.DataFrame:
    """Answer one analytics question.

    Parameters
    ----------
    store:
        The open store.
    what:
        ``"genres"``, ``"top-tracks"``, ``"top-artists"`` or ``"trend"``.
    start, end, source, country, segment, segment_model, user, include_skips, measure:
        The window and filters (see :func:`~encore.analytics.window.resolve_window`).
    by:
        The measure to rank/sort by (``plays``, ``minutes``; ``listeners`` for artists).
    n, genre:
        Rows per genre and one genre (rankings).
    genres, every:
        Genres and period (trend).
    genres_basis, minutes_basis, min_probability:
        ``--genres`` (all, observed, predicted, catalogue), ``--minutes`` (all,
        observed) and ``--min-probability`` (see :class:`~encore.analytics.window.Window`).
    group:
        ``language``, ``artist-country`` or ``decade``: answer inside each value of that
        catalogue attribute (:mod:`encore.analytics.groups`; needs ``encore catalogue
        resolve``).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ConfigError
        An unknown question or a bad option.
    """
    if unused:
        raise ConfigError(f"unknown options for {what!r}: {', '.join(unused)}")
    if what not in QUESTIONS:
        raise ConfigError(
            f"unknown analytics question {what!r}", hint="one of " + ", ".join(QUESTIONS)
        )
    window = resolve_window(
        store,
        start,
        end,
        source=source,
        country=country,
        segment=segment,
        segment_model=segment_model,
        user=user,
        include_skips=include_skips,
        measure=measure,
        genres=genres_basis,
        minutes=minutes_basis,
        min_probability=min_probability,
    )
    if group is not None:
        from encore.analytics import groups as by_group

        if what == "genres":
            return by_group.group_genres(store, window, group, by=by)
        if what in ("top-tracks", "top-artists"):
            if genre is not None:
                raise ConfigError("--genre and --group cannot be combined (one grouping at a time)")
            level = "track" if what == "top-tracks" else "artist"
            return by_group.group_top(store, window, group, level=level, n=n, by=by)
        if genres:
            raise ConfigError("--genre and --group cannot be combined (one grouping at a time)")
        return by_group.group_trend(store, window, group, every=every, by=by)
    if what == "genres":
        return genre_popularity(store, window, by=by)
    if what == "top-tracks":
        return top_tracks(store, window, n=n, by=by, genre=genre)
    if what == "top-artists":
        return top_artists(store, window, n=n, by=by, genre=genre)
    return genre_trend(store, window, every=every, by=by, genres=genres)

"""Top tracks and artist rankings inside each genre.

Ranks are computed in SQL with ``row_number()`` per genre; ties are broken
deterministically: by the ranking measure, then a second measure (minutes for plays,
plays for minutes and listeners), then the title or name, then the artist's name, then
the store's id. Only rows with a positive ranking measure are ranked (a track whose only
plays in the window were skips is not a "top track").
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from encore.analytics.common import (
    check_genre,
    coverage_note,
    coverage_of,
    direct_listeners_sql,
    finish,
    listeners_sql,
    measures_sql,
    query,
    resolve_by,
    secondary,
    user_column,
    window_coverage,
    with_basis,
)
from encore.analytics.window import Window
from encore.data.store import Store
from encore.errors import ConfigError

log = logging.getLogger(__name__)


_MEASURED = "_encore_rank_measured"

#: Below this share of the counted plays, the events grouped for listeners are first
#: restricted to the artists that need them (a hash probe per event, worth it only when
#: it drops many events).
_RESTRICT_BELOW = 0.9


def _ids_relation(store: Store, name: str, ids: pd.Series) -> str:
    store.con.register(name, pd.DataFrame({"id": ids.astype("int64").to_numpy()}))
    return name


def _known(people: pd.DataFrame) -> pd.DataFrame:
    """Listener counts of known artists, ``artist_id`` as int64."""
    people = people.dropna(subset=["artist_id"]).copy()
    people["artist_id"] = people["artist_id"].astype("int64")
    return people


#: ``basis`` of a ranking-by-listeners row whose plays in the genre are partly observed and
#: partly predicted (an artist with some tracks of a catalogue genre and its other plays
#: labelled by the model's prediction of the same genre).
MIXED_BASIS = "mixed"


def _one_row_per_artist(m: pd.DataFrame) -> pd.DataFrame:
    """One row per (genre, artist): the observed and predicted rows of a pair summed.

    The measures are sums, so the merged row's plays and minutes are exact; its ``basis``
    is :data:`MIXED_BASIS`. Its listeners are counted over the union of both
    (``listeners_sql(..., merge_basis=True)``), never added.
    """
    keys = ["genre", "artist_id"]
    dup = m.duplicated(keys, keep=False)
    if not dup.any():
        return m
    sums = [c for c in m.columns if c not in ("genre", "basis", "artist_id", "_direct")]
    merged = m[dup].groupby(keys, as_index=False, sort=False)[sums].sum()
    merged["basis"] = MIXED_BASIS
    merged["_direct"] = False
    return pd.concat([m[~dup], merged[m.columns]], ignore_index=True)


def _artists_by_listeners(
    store: Store, window: Window, genre: str | None, user: str
) -> tuple[pd.DataFrame, dict[str, float] | None]:
    """``genre, [basis,] artist_id, plays, minutes, skips, listeners`` of every artist with
    plays, one row per (genre, artist), and the window's coverage.

    Distinct listeners per (genre, artist) are the costly part of a ranking by
    listeners: several million (artist, user) pairs to group. Most artists' plays all
    name the artist and fall in one genre (``_direct``, see
    :func:`~encore.analytics.common.measures_sql`); their listeners are counted by
    grouping ``events`` on its own ``artist_id``, without joining every event to the
    catalogue to find its genre. The other artists (plays known only through the track,
    or tracks in several genres) are counted the general way, on their events only.
    After ``encore genre resolve`` an artist can have observed and predicted plays in
    the same genre: its two rows are merged (basis :data:`MIXED_BASIS`) and its listeners
    counted once over both. Every count is exact; the split only decides which events go
    through which path.
    """
    m = query(store, measures_sql(window, ["artist_id"], direct=True), window)
    cov = coverage_of(m, window)  # every counted play of the window, as the other rankings
    total = max(int(m["plays"].sum()), 1)  # every counted play of the window
    live = m["artist_id"].notna() & (m["plays"] > 0)
    if genre is not None:
        live &= m["genre"] == genre
    m = m[live].copy()
    m["artist_id"] = m["artist_id"].astype("int64")
    if "basis" in m:
        m = _one_row_per_artist(m)
    m["listeners"] = 0
    direct = m["_direct"].astype(bool)
    names: list[str] = []
    try:
        if direct.any():
            only = None
            if m.loc[direct, "plays"].sum() / total < _RESTRICT_BELOW:
                only = _ids_relation(store, "_encore_rank_direct", m.loc[direct, "artist_id"])
                names.append(only)
            people = query(store, direct_listeners_sql(window, only, user=user), window)
            people = _known(people)
            counts = pd.Series(people["listeners"].to_numpy(), index=people["artist_id"])
            got = m.loc[direct, "artist_id"].map(counts).fillna(0)
            m.loc[direct, "listeners"] = got.astype("int64").to_numpy()
        if (~direct).any():
            ids: str | None = None
            if m.loc[~direct, "plays"].sum() / total < _RESTRICT_BELOW:
                ids = _ids_relation(store, "_encore_rank_other", m.loc[~direct, "artist_id"])
                names.append(ids)
            people = query(
                store,
                listeners_sql(
                    window,
                    ["artist_id"],
                    only=ids,
                    user=user,
                    merge_basis=True,  # one count per (genre, artist), over both bases
                ),
                window,
            )
            other = m.loc[~direct, ["genre", "artist_id"]].merge(
                _known(people), on=["genre", "artist_id"], how="left"
            )
            m.loc[~direct, "listeners"] = other["listeners"].fillna(0).astype("int64").to_numpy()
    finally:
        for name in names:
            store.con.unregister(name)
    m["listeners"] = m["listeners"].astype("int64")
    return m.drop(columns="_direct"), cov


def _ranked(
    store: Store, window: Window, *, entity: str, n: int, by: str, genre: str | None
) -> tuple[pd.DataFrame, str]:
    if n <= 0:
        raise ConfigError(f"-n must be a positive number, not {n}")
    allowed = ("plays", "minutes") if entity == "track" else ("plays", "minutes", "listeners")
    col = resolve_by(window, by, allowed)
    tie = secondary(col)
    key = f"{entity}_id"
    who = "taggers" if window.measure == "tags" else "listeners"
    extra: dict[str, Any] = {"n": n}
    genre_cond = ""
    if genre is not None:
        extra["genre"] = check_genre(genre, window)
        genre_cond = " AND m.genre = $genre"
    # People (distinct users) are costly to count for every row; count them first only
    # when they are needed to rank (or the data is small: tag assignments).
    people_first = (
        col in ("listeners", "taggers")
        or tie in ("listeners", "taggers")
        or window.measure == "tags"
    )
    user = user_column(store)
    measures = f"SELECT * FROM ({measures_sql(window, [key])})"
    by_listeners = window.measure == "plays" and entity == "artist" and col == "listeners"
    listeners_cov: dict[str, float] | None = None
    if by_listeners:
        people_first = True
        measured, listeners_cov = _artists_by_listeners(store, window, extra.get("genre"), user)
        store.con.register(_MEASURED, measured)
        measures = f"SELECT * FROM {_MEASURED}"
    elif people_first:
        measures = (
            f"SELECT m0.*, COALESCE(l0.{who}, 0) AS {who} FROM ({measures_sql(window, [key])}) m0 "
            f"LEFT JOIN ({listeners_sql(window, [key], user=user)}) l0 USING (genre, {key})"
        )
    if entity == "track":
        names = "t.title AS track, ar.name AS artist"
        join = "JOIN tracks t ON t.track_id = c.track_id LEFT JOIN artists ar ON ar.artist_id = t.artist_id"
        order_names = "t.title, ar.name"
        out_names = "track_id, track, artist"
    else:
        names = "ar.name AS artist"
        join = "JOIN artists ar ON ar.artist_id = c.artist_id"
        order_names = "ar.name"
        out_names = "artist_id, artist"
    # The window's coverage (plays by genre basis, plays without a duration) from the same
    # measured rows, as one list column: no second pass over the events
    cov_col = ""
    if window.measure == "plays" and not by_listeners:
        cov_key = "basis" if with_basis(window) else "genre"
        cov_col = f""", (SELECT list(struct_pack(k := k, p := p, nd := nd)) FROM (
                SELECT {cov_key} AS k, sum(plays) AS p, sum(_no_duration) AS nd
                FROM m GROUP BY 1)) AS _cov"""
    # Candidates first, by the two measures only: every row with rank() <= n, which keeps
    # every row tied at the n-th place. On DuckDB they are the rows whose (measure, tie) is
    # at least the genre's n-th largest, found with a top-n aggregate (max(x, n)), cheaper
    # than ranking every row with a window (0.08 of 0.27 CPU s for top tracks at 10 M
    # events); Spark SQL has no such aggregate and ranks. Names are joined and compared
    # for those few rows, not for all.
    live = f"m.{key} IS NOT NULL AND m.{col} > 0{genre_cond}"
    if isinstance(store, Store):
        pair = f"struct_pack(a := m.{col}, b := m.{tie})"
        candidates = f"""th AS (
            SELECT m.genre, max({pair}, $n)[-1] AS _nth, sum(m.{col}) AS _genre_total
            FROM m WHERE {live} GROUP BY m.genre
        ), c AS (
            SELECT m.*, th._genre_total
            FROM m JOIN th ON th.genre = m.genre
            WHERE {live} AND {pair} >= th._nth"""
    else:
        candidates = f"""r AS (
            SELECT m.*,
                   rank() OVER (PARTITION BY m.genre ORDER BY m.{col} DESC, m.{tie} DESC) AS _candidate,
                   sum(m.{col}) OVER (PARTITION BY m.genre) AS _genre_total
            FROM m WHERE {live}
        ), c AS (
            SELECT * FROM r WHERE _candidate <= $n"""
    sql = f"""
        WITH m AS MATERIALIZED ({measures}), {candidates}
        ), ranked AS (
            SELECT c.*, {names},
                   row_number() OVER (PARTITION BY c.genre
                                      ORDER BY c.{col} DESC, c.{tie} DESC, {order_names}, c.{key}) AS rank
            FROM c {join}
        )
        SELECT *{cov_col} FROM ranked WHERE rank <= $n
        ORDER BY _genre_total DESC, genre, rank
    """
    try:
        frame = query(store, sql, window, extra)
    finally:
        if by_listeners:
            store.con.unregister(_MEASURED)
    if not people_first:
        ids = pd.DataFrame({"id": frame[key].drop_duplicates().astype("int64")})
        store.con.register("_encore_rank_ids", ids)
        try:
            people = query(
                store,
                listeners_sql(window, [key], only="_encore_rank_ids", user=user),
                window,
            )
        finally:
            store.con.unregister("_encore_rank_ids")
        frame = frame.merge(people, on=["genre", key], how="left")
        frame[who] = frame[who].fillna(0)
    cov: dict[str, float] | None = listeners_cov
    if "_cov" in frame and not frame.empty:
        parts = pd.DataFrame(list(frame["_cov"].iloc[0]))
        by_col = "basis" if with_basis(window) else "genre"
        parts = parts.rename(columns={"k": by_col, "p": "plays", "nd": "_no_duration"})
        cov = coverage_of(parts, window)
    if window.measure == "tags":
        cols = ["tag_assignments", "taggers"]
    else:
        cols = [
            "plays",
            "minutes",
            *(["estimated_minutes"] if "estimated_minutes" in frame else []),
        ]
        cols += ["skips", "listeners"]
    basis = ["basis"] if "basis" in frame else []
    frame = frame[["genre", *basis, "rank", *out_names.split(", "), *cols]].copy()
    frame.attrs["coverage"] = cov
    for name in ("rank", "plays", "skips", "listeners", "tag_assignments", "taggers", key):
        if name in frame:
            frame[name] = frame[name].astype("int64")
    return frame, col


def _footer(store: Store, window: Window, frame: pd.DataFrame) -> list[str]:
    """The coverage footer: from the ranking's own rows, or (``--genres predicted``, which
    measured only the predicted rows) from one more pass over the window."""
    cov = frame.attrs.pop("coverage", None)
    if frame.empty:
        return []
    if window.genres == "predicted" or cov is None:
        cov = window_coverage(store, window)
    return coverage_note(cov, window)


def top_tracks(
    store: Store, window: Window, *, n: int = 10, by: str = "plays", genre: str | None = None
) -> pd.DataFrame:
    """The ``n`` most played tracks inside each genre (or one genre).

    Parameters
    ----------
    store:
        The open store.
    window:
        From :func:`~encore.analytics.window.resolve_window`.
    n:
        Tracks per genre.
    by:
        ``"plays"`` or ``"minutes"``.
    genre:
        One genre (any spelling of a vocabulary genre, or ``unknown``); all when None.

    Returns
    -------
    pandas.DataFrame
        ``genre, basis, rank, track_id, track, artist, plays, minutes,
        estimated_minutes, skips, listeners`` (``basis`` and ``estimated_minutes`` as in
        :func:`~encore.analytics.genres.genre_popularity`); genres ordered by their total
        of the measure, ranks 1..n inside each.

    Raises
    ------
    ConfigError
        ``n`` not positive, a bad ``by``, or a window over tag assignments (they are on
        artists, not tracks).
    UnknownIdError
        ``genre`` is not a known genre (the hint lists the closest).
    """
    if window.measure == "tags":
        raise ConfigError(
            "tag assignments are made to artists, not tracks: there is no top-tracks list for them",
            hint="use `encore analytics top-artists` for tag popularity, or a source with plays",
        )
    frame, col = _ranked(store, window, entity="track", n=n, by=by, genre=genre)
    notes = _footer(store, window, frame)
    return finish(frame, window, col, f"top {n} tracks per genre", notes)


def top_artists(
    store: Store, window: Window, *, n: int = 10, by: str = "plays", genre: str | None = None
) -> pd.DataFrame:
    """Artists ranked inside each genre by plays, minutes or distinct listeners.

    An artist is counted in a genre with the plays of its tracks of that genre, so an
    artist whose tracks span genres can rank in several.

    Parameters
    ----------
    store:
        The open store.
    window:
        From :func:`~encore.analytics.window.resolve_window`.
    n:
        Artists per genre.
    by:
        ``"plays"``, ``"minutes"`` or ``"listeners"`` (distinct users).
    genre:
        One genre, or all when None.

    Returns
    -------
    pandas.DataFrame
        ``genre, basis, rank, artist_id, artist, plays, minutes, estimated_minutes, skips,
        listeners`` (``basis``, ``estimated_minutes`` as in the genre histogram; for tag
        assignments: ``genre, rank, artist_id, artist, tag_assignments, taggers``).

    Raises
    ------
    ConfigError
        ``n`` not positive or a bad ``by``.
    UnknownIdError
        ``genre`` is not a known genre.
    """
    frame, col = _ranked(store, window, entity="artist", n=n, by=by, genre=genre)
    notes = _footer(store, window, frame)
    return finish(frame, window, col, f"top {n} artists per genre", notes)

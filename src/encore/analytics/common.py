"""What the analytics queries share: measure expressions, genre names, result metadata.

Every query returns a plain :class:`pandas.DataFrame`; what a reader must know about it
(window, filters, measure, notes such as "no plays in the window") travels in
``frame.attrs``: ``window`` (text), ``measure``, ``by``, ``notes`` (list of str),
``empty`` (bool). The CLI prints the notes; the charts put the window in the subtitle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from encore.analytics.window import NO_GENRE_TAG, UNKNOWN_GENRE, Window, used_params
from encore.data.genres import GENRES, closest_genres, normalise_tag
from encore.data.rules import played_minutes
from encore.data.store import Store
from encore.errors import ConfigError, UnknownIdError

log = logging.getLogger(__name__)

#: Columns of the measures, per measure kind.
PLAY_MEASURES: tuple[str, ...] = ("plays", "minutes", "skips", "listeners")
TAG_MEASURES: tuple[str, ...] = ("tag_assignments", "taggers")


#: Order of the ``basis`` values in results.
BASIS_ORDER: dict[str, int] = {"observed": 0, "predicted": 1, "unknown": 2}

#: Code offset of a predicted genre: genre code ``c`` observed is ``c + PREDICTED_CODE`` predicted.
PREDICTED_CODE = 1000

#: The id of the "no track" / "no artist" row the fast joins add to their lookups (ids
#: come from sequences starting at 1; see :func:`per_user_sql`).
NO_ID = -1


def uses_resolution(window: Window) -> bool:
    """Whether plays are labelled through the genre resolution (``encore genre resolve``)."""
    return window.measure == "plays" and window.resolved and window.genres != "catalogue"


def with_basis(window: Window) -> bool:
    """Whether results carry a ``basis`` column (observed / predicted / unknown)."""
    return window.measure == "plays" and window.genres != "catalogue"


def estimates_minutes(window: Window) -> bool:
    """Whether plays without a duration get estimated minutes (results carry ``estimated_minutes``)."""
    return window.measure == "plays" and window.minutes == "all"


def _codes_sql(window: Window) -> str:
    """Genre name <-> small integer code and basis; code 0 is the special bar.

    Grouping 10 M rows by an integer is several times faster than by a string, so the
    queries label rows with codes and turn them into names at the end. A predicted genre
    has its own code (:data:`PREDICTED_CODE` above the observed one), so that the basis
    costs nothing extra to group by.
    """
    special = UNKNOWN_GENRE if window.measure == "plays" else NO_GENRE_TAG
    predicted = (
        f"UNION ALL SELECT code + {PREDICTED_CODE}, genre, 'predicted' FROM base"
        if uses_resolution(window)
        else ""
    )
    return f"""
        SELECT 0 AS code, '{special}' AS genre, 'unknown' AS basis
        UNION ALL
        SELECT code, genre, 'observed' FROM base
        {predicted}
    """


def _base_codes_sql() -> str:
    """The observed genre codes: ``code, genre`` (a CTE named ``base`` that gc reads)."""
    return """
        SELECT CAST(row_number() OVER (ORDER BY genre) AS INTEGER) AS code, genre FROM (
            SELECT genre FROM tracks WHERE genre IS NOT NULL
            UNION SELECT genre FROM artists WHERE genre IS NOT NULL
            UNION SELECT genre FROM genre_map WHERE genre IS NOT NULL)
    """


def codes_cte(window: Window) -> str:
    """The ``base`` and ``gc`` CTEs (without ``WITH``): genre codes, names and bases."""
    return f"base AS ({_base_codes_sql()}), gc AS ({_codes_sql(window)})"


def _basis_filter(window: Window) -> str:
    """A condition on ``gc`` keeping the rows that ``--genres`` shows."""
    return "gc.basis = 'predicted'" if window.genres == "predicted" else "TRUE"


def estimate_sql(window: Window) -> str:
    """SQL: the estimated ms of one play without a duration, over the joins of :func:`_genre_joins`.

    The track's estimated duration, else the artist's, else the global median
    (:mod:`encore.data.resolve`); NULL when minutes are not estimated.
    """
    if not estimates_minutes(window) or not window.resolved:
        return "CAST(NULL AS DOUBLE)"
    return f"COALESCE(t.est_ms, a.est_ms, {float(window.global_ms or 0.0)})"


def _dim_sql(dims: Sequence[str], every: str | None, alias: str) -> str:
    """Select-list entries (with a trailing comma) of the event-level dimensions."""
    sel: list[str] = []
    for d in dims:
        if d == "period":
            ts = f"{alias}.ts" if alias == "e" else f"{alias}.tagged_at"
            sel.append(f"CAST(date_trunc('{every}', {ts}) AS DATE) AS period")
    return (", ".join(sel) + ", ") if sel else ""


def _genre_joins(rows: str, window: Window, *, inner: bool = False) -> str:
    """SQL joins labelling rows (alias ``rows``, with ``track_id`` and ``artist_id``) with genre codes.

    ``t.code`` is the track's genre and ``a.code`` the play's artist's genre (the row's own
    artist, else the track's; with a genre resolution, else the artist's resolved genre:
    observed, or predicted at or above the window's probability); the rows' genre is
    ``COALESCE(t.code, a.code, 0)``. ``t.est_ms`` and ``a.est_ms`` are the estimated
    durations (see :func:`estimate_sql`). Needs the genre-code relation ``gc``
    (:func:`codes_cte`) in scope.

    ``inner`` (see :func:`per_user_sql`): INNER joins on a key that is never NULL (the
    track's id, else the :data:`NO_ID` row of the lookup; the artist's likewise) instead of
    LEFT joins. DuckDB answers an INNER join on a small dense integer range with a perfect
    hash join, several times faster per row than a LEFT join; the answer is the same as
    long as every id the rows name is in the catalogue, which the caller checks.
    """
    resolved = uses_resolution(window)
    est = estimates_minutes(window) and window.resolved
    t_est = ", tm.est_ms" if est else ", CAST(NULL AS DOUBLE) AS est_ms"
    t_join = "LEFT JOIN track_minutes tm ON tm.track_id = tr.track_id" if est else ""
    if resolved:
        ok = (
            "r.basis = 'observed'"
            if window.genres == "observed"
            else f"(r.basis = 'observed' OR r.probability >= {float(window.min_probability)!r})"
        )
        a_code = "COALESCE(gc.code, rc.code) AS code"
        a_join = f"""LEFT JOIN artist_resolution r ON r.artist_id = ar.artist_id
                       LEFT JOIN gc rc ON rc.genre = r.genre AND rc.basis = r.basis AND {ok}"""
    else:
        a_code = "gc.code"
        a_join = "LEFT JOIN artist_resolution r ON r.artist_id = ar.artist_id" if est else ""
    a_est = ", r.est_ms" if est else ", CAST(NULL AS DOUBLE) AS est_ms"
    join, t_none, a_none, none = "LEFT JOIN", "", "", ""
    if inner:
        join, none = "JOIN", f", {NO_ID}"
        t_none = f"UNION ALL SELECT {NO_ID}, NULL, NULL, NULL"
        a_none = f"UNION ALL SELECT {NO_ID}, NULL, NULL"
    return f"""{join} (SELECT tr.track_id, tr.artist_id, gc.code{t_est} FROM tracks tr
                       LEFT JOIN gc ON gc.genre = tr.genre AND gc.basis = 'observed'
                       {t_join} {t_none}) t ON t.track_id = COALESCE({rows}.track_id{none})
            {join} (SELECT ar.artist_id, {a_code}{a_est} FROM artists ar
                       LEFT JOIN gc ON gc.genre = ar.genre AND gc.basis = 'observed'
                       {a_join} {a_none}) a
                   ON a.artist_id = COALESCE({rows}.artist_id, t.artist_id{none})"""


def measures_sql(
    window: Window, dims: Sequence[str] = (), *, every: str | None = None, direct: bool = False
) -> str:
    """A relation ``genre, <dims>, <measures without listeners>`` over the window.

    ``dims`` are any of ``track_id``, ``artist_id`` (the play's artist, resolved through
    the track as in the ``plays`` view) and ``period`` (``date_trunc(every, ts)``).

    For plays, ``events`` are first aggregated by ``(track_id, artist_id[, period])``
    with integer keys only, and the (much smaller) result is then joined to the
    catalogue to find each play's genre: the same answer as grouping the ``plays`` view,
    a fraction of the work. Columns: ``plays`` (skips excluded unless
    ``include_skips``), ``minutes`` (the observed minutes of those plays,
    :func:`encore.data.rules.played_minutes` of their summed ``ms_played``, as the
    ``plays`` view's ``minutes`` summed; a play of unknown length adds nothing; the
    milliseconds are summed as DOUBLE, exact below 2**53 ms, and faster than DuckDB's
    128-bit integer sum), ``skips`` (always counted). For tags: ``tag_assignments``.

    ``direct`` (plays, ``dims == ["artist_id"]`` only) adds a boolean column ``_direct``:
    TRUE when every event of the window whose play resolves to this artist names the
    artist itself (``events.artist_id``, not only through its track) and all of them fall
    in this one genre. For such an artist, grouping ``events`` by ``artist_id`` alone gives
    exactly its rows of this genre, with no catalogue join (see
    :func:`direct_listeners_sql`).
    """
    if direct and (window.measure != "plays" or list(dims) != ["artist_id"]):
        raise ValueError("direct=True needs plays and dims == ['artist_id']")
    period_sel = _dim_sql(dims, every, "e" if window.measure == "plays" else "t")
    outer = ", ".join(["x.code", *[f"x.{d}" for d in dims]])
    if window.measure == "tags":
        inner = f"""
            SELECT COALESCE(gc.code, 0) AS code, t.artist_id, NULL::BIGINT AS track_id, {period_sel}
                   count(*) AS tag_assignments
            FROM artist_tags t LEFT JOIN genre_map gm ON gm.tag = t.tag
            LEFT JOIN gc ON gc.genre = gm.genre
            WHERE {window.where("t")}
            GROUP BY ALL
        """
        agg = "sum(x.tag_assignments)::BIGINT AS tag_assignments"
    else:
        counted = "TRUE" if window.include_skips else "NOT COALESCE(e.skipped, FALSE)"
        pre_keys = "e.track_id, e.artist_id" + (", period" if "period" in dims else "")
        inner = f"""
            SELECT COALESCE(t.code, a.code, 0) AS code, pre.track_id,
                   COALESCE(pre.artist_id, t.artist_id) AS artist_id,
                   {"pre.period, " if "period" in dims else ""}
                   pre.plays, pre.ms, pre.skips, pre.nodur, pre.nodur * {estimate_sql(window)} AS est
                   {", pre.artist_id IS NOT NULL AS named" if direct else ""}
            FROM (
                SELECT e.track_id, e.artist_id, {period_sel}
                       count(*) FILTER (WHERE {counted}) AS plays,
                       sum(CAST(e.ms_played AS DOUBLE)) FILTER (WHERE {counted}) AS ms,
                       count(*) FILTER (WHERE COALESCE(e.skipped, FALSE)) AS skips,
                       count(*) FILTER (WHERE {counted} AND e.ms_played IS NULL) AS nodur
                FROM events e WHERE {window.where("e")}
                GROUP BY {pre_keys}
            ) pre
            {_genre_joins("pre", window)}
        """
        agg = (
            f"sum(x.plays)::BIGINT AS plays, {minutes_sql(window, 'x.ms', 'x.est')}, "
            "sum(x.skips)::BIGINT AS skips, sum(x.nodur)::BIGINT AS _no_duration"
        )
    dim_cols = "".join(f", x.{d}" for d in dims)
    if direct:
        agg += ", bool_and(x.named) AS _named"
    basis = ", gc.basis" if with_basis(window) else ""
    sql = f"""
        WITH {codes_cte(window)}, x AS ({inner})
        SELECT gc.genre{basis}{dim_cols}, {agg}
        FROM x JOIN gc ON gc.code = x.code
        WHERE {_basis_filter(window)}
        GROUP BY {outer}, gc.genre{basis}
    """
    if direct:
        # one genre row for the artist, and every play of it names the artist
        sql = f"""
            SELECT * EXCLUDE (_named),
                   _named AND count(*) OVER (PARTITION BY artist_id) = 1 AS _direct
            FROM ({sql})
        """
    return sql


def minutes_sql(window: Window, ms: str, est: str) -> str:
    """Select-list entries: ``minutes`` (and ``estimated_minutes`` when minutes are estimated).

    ``ms`` and ``est`` are the columns holding the observed and the estimated milliseconds
    of the rows being summed. Observed minutes are
    :func:`encore.data.rules.played_minutes` of the summed ``ms_played`` (a play of
    unknown length adds nothing); with ``--minutes all`` the estimate of each play without
    a duration is added, and ``estimated_minutes`` says how much of ``minutes`` that is.
    """
    if not estimates_minutes(window):
        return f"{played_minutes(f'COALESCE(sum({ms}), 0)')} AS minutes"
    return (
        f"{played_minutes(f'(COALESCE(sum({ms}), 0) + COALESCE(sum({est}), 0))')} AS minutes, "
        f"{played_minutes(f'COALESCE(sum({est}), 0)')} AS estimated_minutes"
    )


def listeners_sql(
    window: Window,
    dims: Sequence[str] = (),
    *,
    every: str | None = None,
    only: str | None = None,
    user: str = "user_id",
    merge_basis: bool = False,
) -> str:
    """A relation ``genre, <dims>, listeners`` (distinct users with a counted play).

    For tag assignments the column is ``taggers`` (distinct users who tagged).
    ``only`` is an SQL relation of one column ``id``: when given, listeners are counted
    for those ids of ``dims[0]`` (``track_id`` or ``artist_id``) only, the top rows of a
    ranking. The raw rows are filtered on the id before the catalogue joins, so that those
    run on the few rows that matter; a play naming no artist (its artist comes from its
    track) passes that filter and is decided after the join. ``user`` is the events column
    identifying users for plays (see :func:`user_column`).

    Users are counted per genre code, i.e. per genre *and basis*: after a genre resolution
    a (genre, dims) can come back twice, observed and predicted. ``merge_basis`` counts
    them per genre name instead (distinct users over the union of both bases, one row per
    genre and dims).
    """
    _check_user(user)
    alias = "e" if window.measure == "plays" else "t"
    period_sel = _dim_sql(dims, every, alias)
    prefilter = restrict = ""
    if only is not None:
        key = dims[0]
        if key not in ("track_id", "artist_id"):
            raise ValueError(f"only= needs track_id or artist_id first in dims, not {key!r}")
        ids = f"(SELECT id FROM {only})"
        prefilter = f" AND ({alias}.{key} IN {ids}"
        if key == "artist_id" and alias == "e":
            # the other rows are decided by the prefilter: testing them again after the
            # join cost a third of the query
            prefilter += f" OR {alias}.artist_id IS NULL"
            restrict = f"x.named OR x.artist_id IN {ids}"
        prefilter += ")"
    if window.measure == "tags":
        inner = f"""
            SELECT COALESCE(gc.code, 0) AS code, t.artist_id, NULL::BIGINT AS track_id, {period_sel} t.user_id
            FROM artist_tags t LEFT JOIN genre_map gm ON gm.tag = t.tag
            LEFT JOIN gc ON gc.genre = gm.genre
            WHERE {window.where("t")}{prefilter}
        """
        name = "taggers"
    else:
        counted = "" if window.include_skips else " AND NOT COALESCE(e.skipped, FALSE)"
        inner = f"""
            SELECT COALESCE(t.code, a.code, 0) AS code, e.track_id,
                   COALESCE(e.artist_id, t.artist_id) AS artist_id,
                   e.artist_id IS NOT NULL AS named, {period_sel} e.{user} AS user_id
            FROM events e
            {_genre_joins("e", window)}
            WHERE {window.where("e")}{counted}{prefilter}
        """
        name = "listeners"
    where = f"WHERE {restrict}" if restrict else ""
    keys = "".join(f", x.{d}" for d in dims)
    dim_cols = "".join(f", y.{d}" for d in dims)
    if merge_basis:
        # the genre without its basis is the code modulo PREDICTED_CODE (an integer to
        # group 10 M rows by, not the name)
        cond = f"x.code >= {PREDICTED_CODE}" if window.genres == "predicted" else "TRUE"
        cond += f" AND ({restrict})" if restrict else ""
        return f"""
            WITH {codes_cte(window)}, x AS ({inner}),
            y AS (SELECT x.code % {PREDICTED_CODE} AS gcode{keys}, x.user_id FROM x
                  WHERE {cond} GROUP BY gcode{keys}, x.user_id)
            SELECT gc.genre{dim_cols}, count(y.user_id) AS {name}
            FROM y JOIN gc ON gc.code = y.gcode
            GROUP BY y.gcode, gc.genre{dim_cols}
        """
    # distinct users as a GROUP BY and a count: faster in DuckDB than count(DISTINCT)
    return f"""
        WITH {codes_cte(window)}, x AS ({inner}),
        y AS (SELECT x.code{keys}, x.user_id FROM x {where} GROUP BY x.code{keys}, x.user_id)
        SELECT gc.genre{dim_cols}, count(y.user_id) AS {name}
        FROM y JOIN gc ON gc.code = y.code
        WHERE {_basis_filter(window)}
        GROUP BY y.code, gc.genre{dim_cols}
    """


def _check_user(user: str) -> None:
    """``user`` must name an events column that identifies users (see :func:`user_column`)."""
    if user not in ("user_id", "user_key"):
        raise ValueError(f"unknown user column {user!r}")


def user_column(store: Store) -> str:
    """The events column to count distinct users over: ``user_key`` or ``user_id``.

    ``user_key`` (schema v2) is a dense INTEGER, one per user id (``user_keys`` maps them
    one to one), so counting distinct keys is exactly counting distinct ids, and cheaper.
    It is used only when every event has one (the check reads column statistics, well
    under a millisecond); a store opened read-only before its upgrade, or an event
    written without a key, falls back to ``user_id``.
    """
    # fetchall: a result left half-read would block the next register() on the connection
    has = store.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'events' AND column_name = 'user_key'"
    ).fetchall()
    if not has[0][0]:
        return "user_id"
    missing = store.execute(
        "SELECT EXISTS (SELECT 1 FROM events WHERE user_key IS NULL)"
    ).fetchall()
    return "user_id" if missing[0][0] else "user_key"


def direct_listeners_sql(window: Window, only: str | None = None, *, user: str = "user_id") -> str:
    """A relation ``artist_id, listeners`` grouping ``events`` by their own ``artist_id``.

    No catalogue join: the answer is each artist's listeners in its genre only for the
    artists :func:`measures_sql` marks ``_direct`` (the others' rows are wrong or
    missing, and the row of ``artist_id`` NULL is meaningless). ``only`` is an SQL
    relation of one column ``id``: when given, only the events of those artists are
    grouped. ``user`` is the column identifying users (see :func:`user_column`). Plays
    only.
    """
    _check_user(user)
    if window.measure != "plays":
        raise ValueError("direct listeners are counted over plays only")
    counted = "" if window.include_skips else " AND NOT COALESCE(e.skipped, FALSE)"
    keep = f" AND e.artist_id IN (SELECT id FROM {only})" if only else ""
    # distinct users as a GROUP BY and a count: faster in DuckDB than count(DISTINCT)
    return f"""
        SELECT y.artist_id, count(y.{user}) AS listeners FROM (
            SELECT e.artist_id, e.{user} FROM events e
            WHERE {window.where("e")}{counted}{keep}
            GROUP BY e.artist_id, e.{user}
        ) y GROUP BY y.artist_id
    """


def per_user_sql(
    window: Window,
    dims: Sequence[str] = (),
    *,
    every: str | None = None,
    user: str = "user_id",
    fast: bool = False,
) -> str:
    """All measures per genre (and ``period``): ``genre, <dims>, <measures>``.

    Each row of the window is labelled with its genre code once. For plays, the labelled
    rows are then grouped twice: per ``(code, <dims>)`` for the measures (a few thousand
    groups), and the distinct ``(code, <dims>, user)`` of counted plays, counted per
    ``(code, <dims>)``, for the listeners. Grouping by listener only for the listeners is
    the cheap way: the measures summed in the large per-listener groups cost about as
    much again (0.40 against 0.31 s for the weekly trend at 10 M events). For tags, the
    rows are grouped by ``(code, <dims>, user)`` and summed per ``(code, <dims>)``.
    Columns as :func:`measures_sql` plus ``listeners`` (``taggers`` for tags). ``user`` is
    the events column identifying users for plays (see :func:`user_column`).

    ``fast`` (plays only; DuckDB): label the events through INNER joins (see
    :func:`_genre_joins`), about a quarter less CPU at 10 M events; the relation then has
    two more columns, ``_labelled`` (the rows the joins labelled, before ``--genres
    predicted`` drops any) and ``_expected`` (the window's events). The joins give the
    LEFT joins' answer exactly when the two are equal: an event naming a track or artist
    that is not in the catalogue would be dropped (and a duplicate id doubled), and the
    counts would differ. Run it with :func:`query_checked`, which checks that and falls
    back to the LEFT joins.
    """
    _check_user(user)
    fast = fast and window.measure == "plays"
    period_sel = _dim_sql(dims, every, "e" if window.measure == "plays" else "t")
    keep = "".join(f", {d}" for d in dims)
    if window.measure == "tags":
        inner = f"""
            SELECT COALESCE(gc.code, 0) AS code, {period_sel} t.user_id, count(*) AS n
            FROM artist_tags t LEFT JOIN genre_map gm ON gm.tag = t.tag
            LEFT JOIN gc ON gc.genre = gm.genre
            WHERE {window.where("t")}
            GROUP BY ALL
        """
        agg = "sum(u.n)::BIGINT AS tag_assignments, count(u.user_id)::BIGINT AS taggers"
    else:
        counted = "TRUE" if window.include_skips else "NOT COALESCE(e.skipped, FALSE)"
        dims_sel = "".join(f"{d}, " for d in dims)
        using = ", ".join(["code", *dims])
        # the labelled rows (x), their measures per (code, dims) (m) and listeners (l)
        inner = f"""
            WITH x AS (
                SELECT COALESCE(t.code, a.code, 0) AS code, {period_sel} e.{user} AS user_id,
                       {counted} AS counted, COALESCE(e.skipped, FALSE) AS skipped,
                       e.ms_played, {estimate_sql(window)} AS est_ms
                FROM events e
                {_genre_joins("e", window, inner=fast)}
                WHERE {window.where("e")}
            ), m AS (
                SELECT code, {dims_sel}
                       count(*) FILTER (WHERE counted) AS plays,
                       sum(CAST(ms_played AS DOUBLE)) FILTER (WHERE counted) AS ms,
                       count(*) FILTER (WHERE skipped) AS skips,
                       count(*) FILTER (WHERE counted AND ms_played IS NULL) AS no_duration,
                       sum(est_ms) FILTER (WHERE counted AND ms_played IS NULL) AS est
                FROM x GROUP BY ALL
            ), l AS (
                SELECT code, {dims_sel} count(user_id) AS listeners
                FROM (SELECT DISTINCT code, {dims_sel} user_id FROM x WHERE counted) GROUP BY ALL
            )
            SELECT m.*, COALESCE(l.listeners, 0) AS listeners FROM m LEFT JOIN l USING ({using})
        """
        agg = (
            f"sum(u.plays)::BIGINT AS plays, {minutes_sql(window, 'u.ms', 'u.est')}, "
            "sum(u.skips)::BIGINT AS skips, sum(u.listeners)::BIGINT AS listeners, "
            "sum(u.no_duration)::BIGINT AS _no_duration"
        )
    basis = ", gc.basis" if with_basis(window) else ""
    if fast:
        keep_basis = "v.basis = 'predicted'" if window.genres == "predicted" else "TRUE"
        # every labelled row is a counted play or a skip (a skip is a play with --include-skips)
        rows = "plays" if window.include_skips else "plays + u.skips"
        return f"""
        WITH {codes_cte(window)}, u AS ({inner}),
        v AS (SELECT gc.genre{basis}{keep}, {agg},
                     CAST(sum(sum(u.{rows})) OVER () AS BIGINT) AS _labelled
              FROM u JOIN gc ON gc.code = u.code
              GROUP BY u.code, gc.genre{basis}{keep})
        SELECT v.*, (SELECT count(*) FROM events e WHERE {window.where("e")}) AS _expected
        FROM v WHERE {keep_basis}
    """
    return f"""
        WITH {codes_cte(window)}, u AS ({inner})
        SELECT gc.genre{basis}{keep}, {agg}
        FROM u JOIN gc ON gc.code = u.code
        WHERE {_basis_filter(window)}
        GROUP BY u.code, gc.genre{basis}{keep}
    """


#: Whether :func:`query_checked` tries the fast joins at all (``benchmarks/bench_coverage.py``
#: sets it to False to time the LEFT joins in the same run).
FAST_JOINS = True

#: The columns :func:`per_user_sql` adds with ``fast=True`` (its completeness check).
CHECK_COLUMNS: tuple[str, str] = ("_labelled", "_expected")


def query_checked(
    store: Store,
    build: Callable[[bool], str],
    window: Window,
    extra: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``build(fast)``, a query over :func:`per_user_sql`, the fast way where it is exact.

    ``build(True)`` must return the :data:`CHECK_COLUMNS` of ``per_user_sql(...,
    fast=True)`` (any row). It runs on DuckDB stores over plays; when its joins did not
    label exactly the window's events (a play naming a track or artist missing from the
    catalogue), or it returned no row, ``build(False)`` (LEFT joins) is run instead, so the
    answer never depends on the path. Other stores (Spark) run ``build(False)``.
    """
    if FAST_JOINS and window.measure == "plays" and isinstance(store, Store):
        frame = query(store, build(True), window, extra)
        if not frame.empty:
            labelled, expected = (int(frame[c].iloc[0]) for c in CHECK_COLUMNS)
            if labelled == expected:
                return frame.drop(columns=list(CHECK_COLUMNS))
            log.debug(
                "fast joins labelled %d of %d events (ids missing from the catalogue): "
                "running the query with LEFT joins",
                labelled,
                expected,
            )
    return query(store, build(False), window, extra)


def coverage_of(frame: pd.DataFrame, window: Window) -> dict[str, float] | None:
    """Shares of the counted plays by genre basis and by minutes basis, from a result.

    ``frame`` has one row per (genre, basis) with ``plays`` and ``_no_duration`` (the
    genre histogram, or :func:`measures_sql` without dimensions). Returns
    ``genre_observed``, ``genre_predicted``, ``genre_unknown``, ``minutes_observed``,
    ``minutes_estimated``, ``minutes_missing`` (shares of plays), or None without plays.
    """
    if window.measure != "plays" or frame.empty or "plays" not in frame:
        return None
    total = float(frame["plays"].sum())
    if total <= 0:
        return None
    if "basis" in frame:
        by = frame.groupby("basis")["plays"].sum()
    else:
        unknown = frame.loc[frame["genre"] == UNKNOWN_GENRE, "plays"].sum()
        by = pd.Series({"observed": total - unknown, "unknown": unknown})
    missing = float(frame["_no_duration"].sum()) if "_no_duration" in frame else 0.0
    estimated = missing if estimates_minutes(window) and window.resolved else 0.0
    return {
        "genre_observed": float(by.get("observed", 0)) / total,
        "genre_predicted": float(by.get("predicted", 0)) / total,
        "genre_unknown": float(by.get("unknown", 0)) / total,
        "minutes_observed": (total - missing) / total,
        "minutes_estimated": estimated / total,
        "minutes_missing": (missing - estimated) / total,
    }


def coverage_note(cov: dict[str, float] | None, window: Window) -> list[str]:
    """The footer every analytics answer over plays ends with (empty without plays)."""
    if cov is None:
        return []
    pct = {k: f"{100 * v:.1f} %" for k, v in cov.items()}
    genre = f"genre {pct['genre_observed']} observed"
    if window.genres != "catalogue" and window.resolved:
        genre += f", {pct['genre_predicted']} predicted (p ≥ {window.min_probability:g})"
    genre += f", {pct['genre_unknown']} unknown"
    if window.genres == "predicted":
        genre += " (only the predicted plays are shown)"
    minutes = f"minutes {pct['minutes_observed']} observed"
    if cov["minutes_estimated"]:
        minutes += f", {pct['minutes_estimated']} estimated"
    minutes += f", {pct['minutes_missing']} missing"
    if cov["minutes_missing"] > 0:
        minutes += " (count as plays, add no minutes)"
    hint = ""
    if not window.resolved and (cov["genre_unknown"] > 0 or cov["minutes_missing"] > 0):
        hint = " (`encore genre resolve` fills genres and minutes, marked)"
    return [f"coverage of the window's plays: {genre}; {minutes}{hint}"]


def window_coverage(store: Store, window: Window) -> dict[str, float] | None:
    """:func:`coverage_of` over every counted play of the window (one aggregate query).

    With ``--genres predicted`` the shares are still of all the window's plays.
    """
    if window.measure != "plays":
        return None
    from dataclasses import replace

    wide = replace(window, genres="all") if window.genres == "predicted" else window
    return coverage_of(query(store, measures_sql(wide), wide), wide)


def query(
    store: Store, sql: str, window: Window, extra: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Run ``sql`` with the window's named parameters (and ``extra`` ones)."""
    params = {**window.params(), **(extra or {})}
    return store.df(sql, used_params(sql, params))


def resolve_by(window: Window, by: str, allowed: Sequence[str]) -> str:
    """The measure column to rank or chart by.

    With tag assignments, ``plays``/``minutes`` mean ``tag_assignments`` and
    ``listeners`` means ``taggers``.

    Raises
    ------
    ConfigError
        ``by`` is not one of ``allowed``.
    """
    if by not in allowed:
        raise ConfigError(f"--by must be one of {', '.join(allowed)}, not {by!r}")
    if window.measure == "tags":
        return "taggers" if by == "listeners" else "tag_assignments"
    return by


def secondary(by: str) -> str:
    """The measure that breaks ties of ``by`` (before names and ids)."""
    return {
        "plays": "minutes",
        "minutes": "plays",
        "listeners": "plays",
        "tag_assignments": "taggers",
        "taggers": "tag_assignments",
    }[by]


def check_genre(name: str, window: Window) -> str:
    """The canonical name of a genre given on the command line.

    Case, accents and punctuation are ignored ("Hip-Hop" is "hip hop"); ``unknown`` is the
    bar of plays without a known genre.

    Raises
    ------
    UnknownIdError
        Not a genre of the vocabulary; the hint lists the closest ones.
    """
    special = UNKNOWN_GENRE if window.measure == "plays" else NO_GENRE_TAG
    norm = normalise_tag(name)
    if norm in GENRES:
        return norm
    if norm in (normalise_tag(special), "unknown", "none"):
        return special
    close = closest_genres(name)
    raise UnknownIdError(
        "genre",
        [name],
        hint="closest known genres: "
        + ", ".join(close)
        + f" (all: {', '.join(GENRES)}, {special!r})",
    )


def finish(
    frame: pd.DataFrame, window: Window, by: str, what: str, notes: Sequence[str] = ()
) -> pd.DataFrame:
    """Attach the result's metadata (see the module docstring) and an index 0..n-1."""
    frame = frame.reset_index(drop=True)
    all_notes = list(window.notes) + list(notes)
    empty = frame.empty
    if empty:
        all_notes.append(window.empty_note())
    frame.attrs.update(
        {
            "what": what,
            "window": window.describe(),
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "measure": window.measure,
            "by": by,
            "notes": all_notes,
            "empty": empty,
        }
    )
    return frame

"""Analytics by a catalogue attribute: language, artist country or release decade.

``--group language|artist-country|decade`` on ``encore analytics genres``, ``top-tracks``,
``top-artists`` and ``trend`` answers the same questions inside each value of the
attribute (from ``encore catalogue resolve``, :mod:`encore.data.attributes`):

- genres: the genre histogram of each group (``group, genre, plays, minutes, ...``,
  ``share`` of the group's total), groups by size;
- top-tracks / top-artists: the top ``n`` inside each group;
- trend: each group's plays (or minutes) and share per week or month ("which languages do
  our listeners play, by month").

Plays whose track (or artist) has no value form the group ``(unknown)``, so the groups
add up to the window's plays, and the notes say how much of the window each basis covers
(observed, derived, unknown). A play's genre is its track's, else its artist's, else (with
a genre resolution) the resolved one, observed or predicted at or above the window's
probability, as in the genre histogram; minutes include the estimates of plays without a
duration under ``--minutes all``.

The queries read the events of the window once, label them with the attribute through
the two small attribute tables, and aggregate; they are not the integer-coded fast path of
:mod:`encore.analytics.common` (a grouped question is asked less often than the plain
histogram; on the full shared store, 514k plays, one takes 0.24-0.30 s of CPU, 1.0-3.4
times the plain query: ``benchmarks/bench_groups.py``, docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from encore.analytics.common import estimates_minutes, finish, query, resolve_by, user_column
from encore.analytics.window import UNKNOWN_GENRE, Window
from encore.data.attributes import OBSERVED_BASES, has_attributes
from encore.data.store import Store
from encore.errors import ConfigError

#: ``--group`` values: (label expression over ``ta``/``aa``, basis column, attribute).
GROUPS: dict[str, tuple[str, str, str]] = {
    "language": ("ta.language", "ta.language_basis", "language"),
    "artist-country": ("aa.country", "aa.country_basis", "country"),
    "decade": (
        "CAST(CAST(floor(ta.release_year / 10) * 10 AS INTEGER) AS VARCHAR) || 's'",
        "ta.year_basis",
        "release_year",
    ),
}
UNKNOWN_GROUP = "(unknown)"


def check_group(store: Store, group: str, window: Window) -> None:
    """Refuse an unknown ``--group``, a tag window, or a store without attributes.

    Raises
    ------
    ConfigError
        With the hint to run ``encore catalogue resolve`` where that is what is missing.
    """
    if group not in GROUPS:
        raise ConfigError(f"--group must be one of {', '.join(GROUPS)}, not {group!r}")
    if window.measure != "plays":
        raise ConfigError("--group needs plays (the window holds tag assignments only)")
    if not has_attributes(store):
        raise ConfigError(
            "the store has no catalogue attributes",
            hint="run `encore catalogue resolve` first (release year, language, country)",
        )


def _labelled_sql(window: Window, group: str, *, every: str | None = None) -> str:
    """One row per counted play of the window: ``grp, basis, genre, track_id, artist_id,
    user, ms, est[, period]``."""
    expr, basis, _ = GROUPS[group]
    counted = "TRUE" if window.include_skips else "NOT COALESCE(e.skipped, FALSE)"
    if window.resolved and window.genres != "catalogue":
        ok = (
            "r.basis = 'observed'"
            if window.genres == "observed"
            else f"(r.basis = 'observed' OR r.probability >= {float(window.min_probability)!r})"
        )
        resolved = f"CASE WHEN {ok} THEN r.genre END"
    else:
        resolved = "NULL"
    est = (
        f"CASE WHEN e.ms_played IS NULL THEN COALESCE(tm.est_ms, r.est_ms, "
        f"{float(window.global_ms or 0.0)}) END"
        if estimates_minutes(window) and window.resolved
        else "CAST(NULL AS DOUBLE)"
    )
    r_join = (
        "LEFT JOIN artist_resolution r ON r.artist_id = COALESCE(e.artist_id, t.artist_id)"
        if window.resolved
        else "LEFT JOIN (SELECT NULL::BIGINT AS artist_id, NULL AS genre, NULL AS basis, "
        "NULL::DOUBLE AS probability, NULL::DOUBLE AS est_ms) r ON FALSE"
    )
    tm_join = "LEFT JOIN track_minutes tm ON tm.track_id = e.track_id" if window.resolved else ""
    period = f", CAST(date_trunc('{every}', e.ts) AS DATE) AS period" if every else ""
    return f"""
        SELECT COALESCE({expr}, '{UNKNOWN_GROUP}') AS grp, {basis} AS basis,
               COALESCE(t.genre, a.genre, {resolved}, '{UNKNOWN_GENRE}') AS genre,
               e.track_id, COALESCE(e.artist_id, t.artist_id) AS artist_id,
               e.{{user}} AS u, CAST(e.ms_played AS DOUBLE) AS ms, {est} AS est{period}
        FROM events e
        LEFT JOIN tracks t ON t.track_id = e.track_id
        LEFT JOIN artists a ON a.artist_id = COALESCE(e.artist_id, t.artist_id)
        LEFT JOIN track_attributes ta ON ta.track_id = e.track_id
        LEFT JOIN artist_attributes aa ON aa.artist_id = COALESCE(e.artist_id, t.artist_id)
        {r_join} {tm_join}
        WHERE {window.where("e")} AND {counted}
    """


def _measures(window: Window) -> str:
    est = estimates_minutes(window) and window.resolved
    minutes = (
        "(COALESCE(sum(ms), 0) + COALESCE(sum(est), 0)) / 60000.0 AS minutes, "
        "COALESCE(sum(est), 0) / 60000.0 AS estimated_minutes"
        if est
        else "COALESCE(sum(ms), 0) / 60000.0 AS minutes"
    )
    return f"count(*) AS plays, {minutes}, count(DISTINCT u) AS listeners"


def _coverage_notes(store: Store, window: Window, group: str) -> list[str]:
    """How much of the window's plays each basis of the attribute covers."""
    attr = GROUPS[group][2]
    sql = _labelled_sql(window, group).replace("{user}", "user_id")
    frame = query(store, f"SELECT basis, count(*) AS n FROM ({sql}) GROUP BY basis", window)
    total = int(frame["n"].sum()) if not frame.empty else 0
    if not total:
        return []
    observed = set(OBSERVED_BASES[attr])
    parts = {"observed": 0, "derived": 0, "unknown": 0}
    detail = []
    for b, n in zip(frame["basis"], frame["n"], strict=True):
        kind = "unknown" if b is None or pd.isna(b) else "observed" if b in observed else "derived"
        parts[kind] += int(n)
        if kind == "derived":
            detail.append(f"{b} {100 * int(n) / total:.1f} %")
    text = (
        f"{group} of the window's plays: {100 * parts['observed'] / total:.1f} % observed, "
        f"{100 * parts['derived'] / total:.1f} % derived"
        + (f" ({', '.join(detail)})" if detail else "")
        + f", {100 * parts['unknown'] / total:.1f} % unknown"
    )
    return [text]


def _ints(frame: pd.DataFrame) -> pd.DataFrame:
    for c in ("plays", "listeners", "rank"):
        if c in frame:
            frame[c] = frame[c].astype("int64")
    return frame


def group_genres(store: Store, window: Window, group: str, *, by: str = "plays") -> pd.DataFrame:
    """The genre histogram inside each group.

    Returns
    -------
    pandas.DataFrame
        ``group, genre, plays, minutes, [estimated_minutes,] listeners, share,
        group_share``: ``share`` is the genre's fraction of its group's measure,
        ``group_share`` the group's fraction of the window's. Groups by size (the
        ``(unknown)`` group last), genres by size inside each.
    """
    check_group(store, group, window)
    col = resolve_by(window, by, ("plays", "minutes"))
    sql = _labelled_sql(window, group).replace("{user}", user_column(store))
    frame = query(
        store,
        f'SELECT grp AS "group", genre, {_measures(window)} FROM ({sql}) GROUP BY ALL',
        window,
    )
    if not frame.empty:
        g_total = frame.groupby("group")[col].transform("sum")
        total = frame[col].sum()
        frame["share"] = frame[col] / g_total.where(g_total > 0, 1)
        frame["group_share"] = g_total / (total if total else 1)
        frame["_unknown"] = frame["group"] == UNKNOWN_GROUP
        frame = frame.sort_values(
            ["_unknown", "group_share", "group", col, "genre"],
            ascending=[True, False, True, False, True],
            kind="stable",
        ).drop(columns="_unknown")
    frame = _ints(frame)
    frame.attrs["group"] = group
    return finish(frame, window, col, f"genres by {group}", _coverage_notes(store, window, group))


def group_top(
    store: Store, window: Window, group: str, *, level: str, n: int = 10, by: str = "plays"
) -> pd.DataFrame:
    """The top ``n`` tracks or artists inside each group.

    Returns
    -------
    pandas.DataFrame
        ``group, rank, track_id, track, artist, plays, minutes, [estimated_minutes,]
        listeners`` (artists: ``artist_id, artist, ...``). Groups by their total plays
        (``(unknown)`` last); ties by the other measures, then id.
    """
    check_group(store, group, window)
    if n < 1:
        raise ConfigError(f"-n must be at least 1, not {n}")
    allowed = ("plays", "minutes", "listeners") if level == "artist" else ("plays", "minutes")
    col = resolve_by(window, by, allowed)
    sql = _labelled_sql(window, group).replace("{user}", user_column(store))
    key = "track_id" if level == "track" else "artist_id"
    names = (
        "LEFT JOIN tracks tt ON tt.track_id = m.track_id "
        "LEFT JOIN artists aa2 ON aa2.artist_id = tt.artist_id",
        "tt.title AS track, aa2.name AS artist",
    )
    if level == "artist":
        names = ("LEFT JOIN artists aa2 ON aa2.artist_id = m.artist_id", "aa2.name AS artist")
    ties = ", ".join(f"m.{c} DESC" for c in ("plays", "minutes", "listeners") if c != col)
    frame = query(
        store,
        f"""
        WITH m AS (
            SELECT grp, {key}, {_measures(window)} FROM ({sql})
            WHERE {key} IS NOT NULL GROUP BY ALL
        ), g AS (SELECT grp, sum(plays) AS gp FROM m GROUP BY grp),
        ranked AS (
            SELECT m.*, row_number() OVER (PARTITION BY m.grp
                        ORDER BY m.{col} DESC, {ties}, m.{key}) AS rank
            FROM m
        )
        SELECT m.grp AS "group", m.rank, m.{key}, {names[1]}, m.* EXCLUDE (grp, rank, {key})
        FROM ranked m JOIN g USING (grp) {names[0]}
        WHERE m.rank <= $n
        ORDER BY m.grp = '{UNKNOWN_GROUP}', g.gp DESC, m.grp, m.rank
        """,
        window,
        {"n": n},
    )
    frame = _ints(frame)
    frame.attrs["group"] = group
    return finish(
        frame,
        window,
        col,
        f"top {'tracks' if level == 'track' else 'artists'} by {group}",
        _coverage_notes(store, window, group),
    )


def group_trend(
    store: Store,
    window: Window,
    group: str,
    *,
    every: str = "month",
    by: str = "plays",
    top: int = 8,
) -> pd.DataFrame:
    """Each group's measure and share per period.

    The ``top`` groups by the window's total keep their name; the rest are summed as
    ``(other)``. Returns ``period, group, plays, minutes, [estimated_minutes,]
    listeners, share`` (of the period's total), by period then size.
    """
    check_group(store, group, window)
    if every not in ("week", "month"):
        raise ConfigError(f"--every must be week or month, not {every!r}")
    col = resolve_by(window, by, ("plays", "minutes"))
    sql = _labelled_sql(window, group, every=every).replace("{user}", user_column(store))
    frame = query(
        store,
        f'SELECT period, grp AS "group", {_measures(window)} FROM ({sql}) GROUP BY ALL',
        window,
    )
    if not frame.empty:
        totals = frame.groupby("group")[col].sum().sort_values(ascending=False, kind="stable")
        keep = [g for g in totals.index if g != UNKNOWN_GROUP][:top]
        frame["group"] = frame["group"].where(
            frame["group"].isin(keep) | (frame["group"] == UNKNOWN_GROUP), "(other)"
        )
        agg: dict[str, Any] = {c: "sum" for c in frame.columns if c not in ("period", "group")}
        # distinct listeners cannot be summed across merged groups: the largest is a floor
        agg["listeners"] = "max"
        frame = frame.groupby(["period", "group"], as_index=False).agg(agg)
        # every group in every period (0 where it had no plays), so lines do not bridge gaps
        full = pd.MultiIndex.from_product(
            [sorted(frame["period"].unique()), frame["group"].unique()], names=["period", "group"]
        )
        frame = frame.set_index(["period", "group"]).reindex(full, fill_value=0).reset_index()
        p_total = frame.groupby("period")[col].transform("sum")
        frame["share"] = frame[col] / p_total.where(p_total > 0, 1)
        order = {g: i for i, g in enumerate([*keep, "(other)", UNKNOWN_GROUP])}
        frame["_o"] = frame["group"].map(order)
        frame = frame.sort_values(["period", "_o"], kind="stable").drop(columns="_o")
        frame["period"] = pd.to_datetime(frame["period"])
    frame = _ints(frame)
    frame.attrs["group"] = group
    notes = _coverage_notes(store, window, group)
    if not frame.empty and (frame["group"] == "(other)").any():
        notes.append(
            f"groups after the largest {top} are summed as (other); its listeners are the "
            "largest of theirs (a floor)"
        )
    return finish(frame, window, col, f"trend by {group}", notes)

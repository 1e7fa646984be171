"""The time window and filters every analytics query runs over.

A :class:`Window` is resolved once against the store (:func:`resolve_window`): the
``--from``/``--to`` strings are parsed (dates are whole days, both ends inclusive), a
missing end defaults to the data's last timestamp and a missing start to 365 days
before the end, names are checked (source, country, segment), and the data's own span
is looked up so that an empty answer can say where the data is.

The queries select the window's rows with :meth:`Window.where` (SQL conditions with
named parameters) over ``events`` (measure **plays**) or ``artist_tags`` (measure
**tags**), and label each row with a coarse genre:

- **plays**: the play's genre as in the ``plays`` view (the track's genre, else its
  artist's), ``'(unknown)'`` when neither is known; a NULL skip flag counts as not
  skipped.
- **tags** (dated tag assignments, HetRec 2011): one row per ``artist_tags`` row with a
  ``tagged_at`` date; the genre is the one the *tag itself* names
  (``'(not a genre tag)'`` for "seen live", "favourites", ...) and the user is the tagger.

:meth:`Window.base_sql` gives those rows one per play (or tag assignment), for small
data and cross-checks.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from encore.data.countries import to_iso2
from encore.data.store import Store
from encore.errors import ConfigError, UnknownIdError

log = logging.getLogger(__name__)

Measure = Literal["plays", "tags"]
GenreBasis = Literal["all", "observed", "predicted", "catalogue"]
MinutesBasis = Literal["all", "observed"]

#: ``--genres`` and ``--minutes`` values.
GENRE_BASES: tuple[str, ...] = ("all", "observed", "predicted", "catalogue")
MINUTES_BASES: tuple[str, ...] = ("all", "observed")

#: The bar of plays whose track and artist have no known genre.
UNKNOWN_GENRE = "(unknown)"
#: The bar of tag assignments whose tag names no genre ("seen live", "favourites").
NO_GENRE_TAG = "(not a genre tag)"
#: Default window length when ``--from`` is not given.
DEFAULT_DAYS = 365

_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)


def parse_when(text: str | date | datetime, *, option: str) -> tuple[datetime, bool]:
    """Parse one window bound.

    Parameters
    ----------
    text:
        ``YYYY-MM-DD`` (a whole day), an ISO timestamp (``YYYY-MM-DDTHH:MM[:SS]``, a space
        also works; an offset is converted to UTC), or a ``date``/``datetime``.
    option:
        The option's name, for the error message.

    Returns
    -------
    (datetime, bool)
        The instant (naive UTC) and whether the bound was a whole day.

    Raises
    ------
    ConfigError
        The text is neither a date nor a timestamp.
    """
    if isinstance(text, datetime):
        value = text
        is_day = False
    elif isinstance(text, date):
        value, is_day = datetime.combine(text, time()), True
    else:
        raw = text.strip()
        try:
            if len(raw) == 10:
                value, is_day = datetime.combine(date.fromisoformat(raw), time()), True
            else:
                value, is_day = datetime.fromisoformat(raw.replace("Z", "+00:00")), False
        except ValueError as exc:
            raise ConfigError(
                f"{option} {text!r} is not a date or timestamp",
                hint="use YYYY-MM-DD (a whole day) or YYYY-MM-DDTHH:MM[:SS]",
            ) from exc
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if not _FIRST_WHEN <= value < _LAST_WHEN:
        # the window's arithmetic (a day after --to, a year before it) must stay in range
        raise ConfigError(
            f"{option} {text!s} is out of range",
            hint=f"use a date from {_FIRST_WHEN:%Y-%m-%d} to {_LAST_WHEN - _ONE_DAY:%Y-%m-%d}",
        )
    return value, is_day


_FIRST_WHEN = datetime(1000, 1, 1)
_LAST_WHEN = datetime(9000, 1, 1)


def _fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d") if ts.time() == time() else ts.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Window:
    """A resolved time window plus filters (build it with :func:`resolve_window`).

    Attributes
    ----------
    start, end:
        The half-open interval ``[start, end)`` in naive UTC.
    measure:
        ``"plays"`` (listening events) or ``"tags"`` (dated tag assignments).
    include_skips:
        Whether skipped plays count as plays (they are always counted in ``skips``).
    source, country, segment, segment_model:
        The optional filters (``country`` as ISO alpha-2).
    user:
        Only this listener's rows (a personal chart).
    data_span:
        First and last timestamp of the rows that match the filters, ignoring the window
        (``None`` when nothing matches).
    defaulted:
        Which bounds were defaulted (``"from"``, ``"to"``).
    notes:
        Things the reader must be told (the measure chosen automatically, ...).
    genres:
        Which genres label plays (``--genres``): ``all`` (observed, else a predicted genre
        at or above ``min_probability``), ``observed`` (catalogue and cross-source
        matching; a predicted genre counts as unknown), ``predicted`` (only the plays whose
        genre is predicted) or ``catalogue`` (the track's genre, else its artist's, as
        before genre resolution).
    minutes:
        ``all`` (observed, else estimated for plays without a duration) or ``observed``.
    min_probability:
        The lowest model probability at which a predicted genre counts.
    resolved, global_ms:
        Whether the store holds a genre resolution (``encore genre resolve``), and its
        global median duration in ms (the estimate of last resort).
    """

    start: datetime
    end: datetime
    measure: Measure = "plays"
    include_skips: bool = False
    source: str | None = None
    country: str | None = None
    segment: int | None = None
    segment_model: str | None = None
    user: str | None = None
    data_span: tuple[datetime, datetime] | None = None
    defaulted: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    genres: GenreBasis = "all"
    minutes: MinutesBasis = "all"
    min_probability: float = 0.4
    resolved: bool = False
    global_ms: float | None = None

    # ------------------------------------------------------------------ text
    @property
    def last(self) -> datetime:
        """The last instant inside the window (``end`` is exclusive)."""
        return self.end - (_ONE_DAY if self.end.time() == time() else _TICK)

    def label(self) -> str:
        """The window as ``YYYY-MM-DD – YYYY-MM-DD`` (both inclusive)."""
        return f"{_fmt(self.start)} – {_fmt(self.last)}"

    def describe(self) -> str:
        """One line for chart subtitles and table titles: window, source and filters."""
        parts = [self.label()]
        parts.append(f"source: {self.source or 'all sources'}")
        if self.user:
            parts.append(f"listener: {self.user}")
        if self.country:
            parts.append(f"country: {self.country}")
        if self.segment is not None:
            parts.append(
                f"segment {self.segment}"
                + (f" ({self.segment_model})" if self.segment_model else "")
            )
        if self.measure == "plays":
            parts.append("skips included" if self.include_skips else "skips excluded")
            if self.genres != "all":
                parts.append(f"genres: {self.genres}")
            elif self.resolved:
                parts.append(f"predicted genres from p ≥ {self.min_probability:g}")
            if self.minutes != "all":
                parts.append("minutes: observed only")
        else:
            parts.append("measure: tag assignments")
        return " · ".join(parts)

    def span_text(self) -> str:
        """The data's span, in words."""
        if self.data_span is None:
            return "there is no data for these filters"
        first, last = self.data_span
        what = "plays" if self.measure == "plays" else "tag assignments"
        return f"the {what} span {first:%Y-%m-%d} – {last:%Y-%m-%d}"

    def empty_note(self) -> str:
        """The message for a window that holds no rows."""
        what = "plays" if self.measure == "plays" else "tag assignments"
        if self.data_span is not None:
            first, last = self.data_span
            if self.end <= first or self.start > last:
                return f"the window {self.label()} is outside the data: {self.span_text()}"
        return f"no {what} in the window {self.label()} ({self.span_text()})"

    # ------------------------------------------------------------------ SQL
    def where(self, alias: str) -> str:
        """SQL conditions selecting the window's rows of ``events`` (or ``artist_tags``).

        Uses named parameters (``$start``, ``$end``, ``$source``, ``$country``,
        ``$segment``, ``$segment_model``, ``$user``); pass :meth:`params` with the query.
        """
        ts = "ts" if self.measure == "plays" else "tagged_at"
        sql = f"{alias}.{ts} >= $start AND {alias}.{ts} < $end"
        if self.measure == "tags":
            sql += f" AND {alias}.tagged_at IS NOT NULL"
        if self.source:
            sql += f" AND {alias}.source = $source"
        if self.user:
            sql += f" AND {alias}.user_id = $user"
        if self.country:
            sql += f" AND {alias}.user_id IN (SELECT user_id FROM users WHERE country = $country)"
        if self.segment is not None:
            sql += f" AND {alias}.user_id IN (SELECT user_id FROM user_segments WHERE segment = $segment"
            if self.segment_model:
                sql += " AND model = $segment_model"
            sql += ")"
        return sql

    def params(self) -> dict[str, Any]:
        """Values of the named parameters :meth:`where` uses."""
        return {
            "start": self.start,
            "end": self.end,
            "source": self.source,
            "country": self.country,
            "segment": self.segment,
            "segment_model": self.segment_model,
            "user": self.user,
        }

    def base_sql(self) -> tuple[str, dict[str, Any]]:
        """One row per play (or tag assignment) in the window, see the module docstring.

        Used for small data and to cross-check the aggregated queries; the analytics
        queries themselves aggregate ``events`` before joining (see
        :mod:`encore.analytics.common`).
        """
        if self.measure == "plays":
            sql = (
                "SELECT p.user_id, p.track_id, p.artist_id, p.ts, p.ms_played, "
                "COALESCE(p.skipped, FALSE) AS skipped, "
                f"COALESCE(p.genre, '{UNKNOWN_GENRE}') AS genre "
                f"FROM plays p WHERE {self.where('p')}"
            )
        else:
            sql = (
                "SELECT t.user_id, CAST(NULL AS BIGINT) AS track_id, t.artist_id, t.tagged_at AS ts, "
                "CAST(NULL AS BIGINT) AS ms_played, FALSE AS skipped, "
                f"COALESCE(gm.genre, '{NO_GENRE_TAG}') AS genre "
                f"FROM artist_tags t LEFT JOIN genre_map gm ON gm.tag = t.tag WHERE {self.where('t')}"
            )
        return sql, used_params(sql, self.params())


def used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The named parameters that ``sql`` uses (DuckDB refuses extra ones)."""
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}


# ---------------------------------------------------------------------- resolution
def _has_table(store: Store, name: str) -> bool:
    row = store.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def _span(store: Store, probe: Window) -> tuple[datetime, datetime] | None:
    """First and last timestamp of the rows matching the filters (window ignored)."""
    wide = Window(
        start=datetime(1, 1, 1),
        end=datetime(9999, 1, 1),
        measure=probe.measure,
        source=probe.source,
        country=probe.country,
        segment=probe.segment,
        segment_model=probe.segment_model,
        user=probe.user,
    )
    alias = "e" if wide.measure == "plays" else "t"
    table = "events" if wide.measure == "plays" else "artist_tags"
    ts = "ts" if wide.measure == "plays" else "tagged_at"
    sql = f"SELECT min({alias}.{ts}), max({alias}.{ts}) FROM {table} {alias} WHERE {wide.where(alias)}"
    row = store.execute(sql, used_params(sql, wide.params())).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def _check_source(store: Store, source: str) -> None:
    known = sorted(
        r[0]
        for r in store.execute(
            "SELECT DISTINCT source FROM events UNION SELECT DISTINCT source FROM artist_tags "
            "UNION SELECT DISTINCT source FROM ingests"
        ).fetchall()
    )
    if source not in known:
        raise UnknownIdError(
            "source",
            [source],
            hint="sources in this store: "
            + (", ".join(known) if known else "none (ingest data first)"),
        )


def _check_segment(store: Store, segment: int, model: str | None) -> str | None:
    # the table exists from schema v3 on (a store older than that, read-only, has none)
    models = (
        [
            r[0]
            for r in store.execute("SELECT DISTINCT model FROM user_segments ORDER BY 1").fetchall()
        ]
        if _has_table(store, "user_segments")
        else []
    )
    if not models:
        raise ConfigError(
            "--segment needs listener segments, and this store has none",
            hint="run `encore segments fit` first",
        )
    if model is None:
        if len(models) > 1:
            raise ConfigError(
                f"the store holds segments of several models ({', '.join(models)})",
                hint="name one with --segment-model",
            )
        model = models[0] if models else None
    elif model not in models:
        raise UnknownIdError("segment model", [model], hint="known models: " + ", ".join(models))
    segs = [
        r[0]
        for r in store.execute(
            "SELECT DISTINCT segment FROM user_segments WHERE model IS NOT DISTINCT FROM ? ORDER BY 1",
            [model],
        ).fetchall()
    ]
    if segment not in segs:
        raise UnknownIdError(
            "segment", [segment], hint="known segments: " + ", ".join(map(str, segs))
        )
    return model


def choose_measure(store: Store, source: str | None, measure: str) -> tuple[Measure, str | None]:
    """Pick ``plays`` or ``tags``; ``auto`` takes tags only when the source has no plays.

    Returns
    -------
    (measure, note)
        The note says why tag assignments were chosen (``None`` otherwise).
    """
    if measure not in ("auto", "plays", "tags"):
        raise ConfigError(f"--measure must be auto, plays or tags, not {measure!r}")
    if measure != "auto":
        return measure, None  # type: ignore[return-value]
    where = " WHERE source = ?" if source else ""
    params = [source] if source else []
    has_plays = store.execute(f"SELECT EXISTS (SELECT 1 FROM events{where})", params).fetchone()
    if has_plays and has_plays[0]:
        return "plays", None
    has_tags = store.execute(
        f"SELECT EXISTS (SELECT 1 FROM artist_tags WHERE tagged_at IS NOT NULL"
        f"{' AND source = ?' if source else ''})",
        params,
    ).fetchone()
    if has_tags and has_tags[0]:
        who = f"source {source!r}" if source else "this store"
        return "tags", (
            f"{who} has no plays, only dated tag assignments: showing tag popularity "
            "(number of tag assignments per genre the tag names), not listening"
        )
    return "plays", None


def resolve_window(
    store: Store,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    *,
    source: str | None = None,
    country: str | None = None,
    segment: int | None = None,
    segment_model: str | None = None,
    user: str | None = None,
    include_skips: bool = False,
    measure: str = "auto",
    days: int = DEFAULT_DAYS,
    genres: str = "all",
    minutes: str = "all",
    min_probability: float | None = None,
) -> Window:
    """Resolve the window and filters of one analytics question against ``store``.

    Parameters
    ----------
    store:
        The open store.
    start, end:
        Inclusive bounds (see :func:`parse_when`). Defaults: ``end`` is the last
        day of the filtered data (or ``days`` days after ``start`` when that is later),
        ``start`` is ``days`` days before ``end``.
    source:
        Only rows of this loader (``events.source`` / ``artist_tags.source``).
    country:
        Only listeners from this country (ISO alpha-2 or an English name).
    segment, segment_model:
        Only listeners of this segment (table ``user_segments`` written by
        ``encore segments fit``).
    user:
        Only this listener (a personal chart); an unknown id names the closest ones.
    include_skips:
        Count skipped plays as plays.
    measure:
        ``"plays"``, ``"tags"`` or ``"auto"`` (tags only when the source has no plays).
    days:
        Length of the default window.
    genres, minutes, min_probability:
        Genre and minutes basis (see :class:`Window`); ``min_probability`` defaults to
        :data:`encore.data.resolve.DEFAULT_MIN_PROBABILITY`.

    Returns
    -------
    Window

    Raises
    ------
    ConfigError
        A bound that does not parse, ``start`` after ``end``, an unknown country, or
        ``--segment`` without segments in the store.
    UnknownIdError
        An unknown source, segment or segment model.
    """
    if days <= 0:
        raise ConfigError(f"the default window length must be positive, not {days}")
    from encore.data import resolve as resolution

    if genres not in GENRE_BASES:
        raise ConfigError(f"--genres must be one of {', '.join(GENRE_BASES)}, not {genres!r}")
    if minutes not in MINUTES_BASES:
        raise ConfigError(f"--minutes must be one of {', '.join(MINUTES_BASES)}, not {minutes!r}")
    if min_probability is None:
        min_probability = resolution.DEFAULT_MIN_PROBABILITY
    if not 0.0 <= min_probability <= 1.0:
        raise ConfigError(f"--min-probability must be between 0 and 1, not {min_probability}")
    run = resolution.last_run(store)
    extra_notes: list[str] = []
    if run is None:
        # without a resolution there is nothing to mark: the catalogue's genres and the
        # observed minutes, as before (the coverage footer says how to fill the gaps)
        if genres == "predicted":
            raise ConfigError(
                "--genres predicted needs predicted genres, and this store has none",
                hint="run `encore genre resolve` first",
            )
        genres, minutes = "catalogue", "observed"
    else:
        last_ingest = store.execute("SELECT max(finished_at) FROM ingests").fetchall()[0][0]
        if last_ingest is not None and last_ingest > run["resolved_at"]:
            extra_notes.append(
                "data was ingested after the last genre resolution: new artists count as "
                "unknown and new tracks get no estimate (run `encore genre resolve` again)"
            )
        unpredicted = (run["report"].get("refreshed") or {}).get("new_artists_unpredicted")
        if unpredicted:
            extra_notes.append(
                f"{unpredicted:,} artists ingested after the genre model was fitted have no "
                "predicted genre (no saved model; run `encore genre resolve` again)"
            )
    parsed_start = parse_when(start, option="--from") if start is not None else None
    parsed_end = parse_when(end, option="--to") if end is not None else None
    if parsed_start and parsed_end and parsed_start[0] > parsed_end[0]:
        raise ConfigError(
            f"--from {_fmt(parsed_start[0])} is after --to {_fmt(parsed_end[0])}",
            hint="swap them: --from is the first day of the window, --to the last",
        )
    if source is not None:
        _check_source(store, source)
    iso: str | None = None
    if country is not None:
        iso = to_iso2(country)
        if iso is None:
            raise ConfigError(
                f"unknown country {country!r}", hint="use an ISO code (DE, US) or an English name"
            )
    if segment is not None:
        segment_model = _check_segment(store, segment, segment_model)
    if user is not None:
        from encore.data.users import resolve_user

        user = resolve_user(store, user)
    chosen, note = choose_measure(store, source, measure)
    probe = Window(
        start=datetime(1, 1, 1),
        end=datetime(9999, 1, 1),
        measure=chosen,
        source=source,
        country=iso,
        segment=segment,
        segment_model=segment_model,
        user=user,
    )
    span = _span(store, probe)
    defaulted: list[str] = []
    if parsed_end is not None:
        end_excl = parsed_end[0] + (_ONE_DAY if parsed_end[1] else _TICK)
    else:
        defaulted.append("to")
        if span is not None:
            last_day = datetime.combine(span[1].date(), time())
            end_excl = last_day + _ONE_DAY
        else:
            today = datetime.combine(date.today(), time())
            end_excl = today + _ONE_DAY
        if parsed_start is not None and parsed_start[0] >= end_excl:
            # --from after the data: a window of the default length, empty, whose note
            # gives the data's span (rather than an error about an inverted window)
            end_excl = datetime.combine(parsed_start[0].date(), time()) + timedelta(days=days)
    if parsed_start is not None:
        start_incl = parsed_start[0]
    else:
        defaulted.append("from")
        start_incl = end_excl - timedelta(days=days)
    if start_incl >= end_excl:
        raise ConfigError(
            f"the window {_fmt(start_incl)} – {_fmt(end_excl)} is empty",
            hint="--from must be before --to"
            + (f"; {span[0]:%Y-%m-%d} – {span[1]:%Y-%m-%d} holds data" if span else ""),
        )
    notes: tuple[str, ...] = (note,) if note else ()
    if chosen == "plays":
        notes += tuple(extra_notes)
    window = Window(
        start=start_incl,
        end=end_excl,
        measure=chosen,
        include_skips=include_skips,
        source=source,
        country=iso,
        segment=segment,
        segment_model=segment_model,
        user=user,
        data_span=span,
        defaulted=tuple(defaulted),
        notes=notes,
        genres=genres,  # type: ignore[arg-type]
        minutes=minutes,  # type: ignore[arg-type]
        min_probability=float(min_probability),
        resolved=run is not None,
        global_ms=None if run is None else run["global_ms"],
    )
    log.info("analytics window %s", window.describe())
    return window

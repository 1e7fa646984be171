"""Plausibility bounds on what a play can be: defined once, used by every loader and by ingest.

A value outside these bounds is not a listening record but a damaged or invented one (a
timestamp of 1970-01-03 from a cut-off Unix time, ``ms_played`` of 10^18, a year 9999).
Loaders that know the line of a value check it there (``file, line N, field 'ts'``); ingest
checks every staged frame once more before writing, so no loader can let one through.

- **play times** (``events.ts``): from :data:`MIN_TIME` (1990-01-01, before any streaming
  or scrobbling service) to one day after now (clocks of exporters drift; a day covers
  any time zone);
- **time played** (``events.ms_played``): 0 up to 24 hours, exclusive;
- **track durations** (``tracks.duration_ms``): 0 up to 24 hours, exclusive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Earliest plausible play time (naive UTC).
MIN_TIME = datetime(1990, 1, 1)
#: How far past "now" a play time may lie (exporters' clocks, time zones).
FUTURE_SLACK = timedelta(days=1)
#: Longest plausible play, in milliseconds (exclusive).
MAX_PLAY_MS = 24 * 3600 * 1000
#: Longest plausible track, in milliseconds (exclusive).
MAX_DURATION_MS = 24 * 3600 * 1000


def max_time() -> datetime:
    """Latest plausible play time (naive UTC): one day after now."""
    return datetime.now(UTC).replace(tzinfo=None) + FUTURE_SLACK


def time_range_text() -> str:
    """The time bounds in words, for messages."""
    return f"between {MIN_TIME:%Y-%m-%d} and {max_time():%Y-%m-%d} (a day after today)"


def time_ok(ts: datetime) -> bool:
    """True when ``ts`` (naive UTC) is a plausible play time."""
    return MIN_TIME <= ts <= max_time()


def ts_out_of_bounds_sql(expr: str) -> str:
    """SQL condition: the TIMESTAMP ``expr`` is set and outside the play-time bounds.

    ``infinity`` and ``-infinity`` are outside too.
    """
    hi = max_time().strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"({expr} IS NOT NULL AND (NOT isfinite({expr}) OR {expr} < TIMESTAMP "
        f"'{MIN_TIME:%Y-%m-%d %H:%M:%S}' OR {expr} > TIMESTAMP '{hi}'))"
    )


def ms_out_of_bounds_sql(expr: str, limit: int = MAX_PLAY_MS) -> str:
    """SQL condition: the milliseconds ``expr`` are set and negative or at least ``limit``."""
    return f"({expr} IS NOT NULL AND ({expr} < 0 OR {expr} >= {limit}))"


#: Bounded columns of staged frames: table -> column -> (kind, words for messages).
STAGED_BOUNDS: dict[str, dict[str, str]] = {
    "events": {"ts": "time", "ms_played": "play"},
    "tracks": {"duration_ms": "duration"},
}


def bound_sql(kind: str, expr: str) -> str:
    """SQL condition for a bounded column of kind ``time``, ``play`` or ``duration``."""
    if kind == "time":
        return ts_out_of_bounds_sql(expr)
    return ms_out_of_bounds_sql(expr, MAX_PLAY_MS if kind == "play" else MAX_DURATION_MS)


def bound_text(kind: str) -> str:
    """The bound of a kind in words."""
    if kind == "time":
        return "a play time must lie " + time_range_text()
    if kind == "play":
        return f"time played must be at least 0 and under 24 hours ({MAX_PLAY_MS:,} ms)"
    return f"a duration must be at least 0 and under 24 hours ({MAX_DURATION_MS:,} ms)"

"""Last.fm scrobble exports as CSV (``lastfm_csv``): the layouts third-party exporters write.

One person's scrobbles: the user id is ``--user`` if given, else ``lh:<folder name>``. A folder
is read as every ``*.csv`` directly in it whose layout is recognised (others, e.g. top-chart
tables, are ignored with a log line); a single file given explicitly must be recognised.

Recognised layouts (column names are matched case-insensitively, extra columns are ignored):

* no header, 4 columns ``artist, album, track, date`` with dates like ``20 Nov 2020 09:35``
  (benjaminbenben/lastfm-to-csv);
* a header naming ``artist`` and ``track`` (optionally ``album``, ``artist_mbid``,
  ``album_mbid``, ``track_mbid``, ``track_genre``) plus a time column, used in this order:
  ``uts`` or ``timestamp`` (Unix seconds), ``played_at`` or ``datetime``
  (``YYYY-MM-DD HH:MM[:SS]``), ``utc_time`` or ``date`` (``20 Nov 2020 09:35``,
  ``11 Jul 2024, 09:07``, or ISO). This covers ``uts,utc_time,artist,artist_mbid,album,
  album_mbid,track,track_mbid``; ``artist,album,track,uts``;
  ``artist,artist_mbid,album,album_mbid,track,track_mbid,timestamp,datetime`` and
  ``artist,track,album,played_at,date,month,weekday,hour,track_genre``.

All times are taken as UTC (Last.fm's own; an owner-derived ``played_at`` is taken as written).
Scrobbles carry no play duration: ``ms_played`` is NULL and the writer counts them as listened
(a scrobble means at least half the track or four minutes were played).

Documented quirks, dropped and counted in the log (not rejects): rows with an empty time
(the "now playing" row some exporters repeat at the top of every page), rows at Unix time 0
(``1970-01-01 00:00:00``, Last.fm's "unknown date"), and duplicate scrobbles: the same artist
and track again less than 30 s after the previous scrobble of it (see
:func:`duplicate_scrobbles`; identical double scrobbles, bursts one second apart, and the
"now playing" row some exporters stamp with the page-fetch time). A ``track_genre`` column is the owner's
own label, free text that is sometimes no genre at all: it is kept as a track tag of kind
``user_genre`` (weight = scrobbles carrying it), which does not feed the coarse genre
mapping. Non-music scrobbles (e.g. YouTube videos scrobbled by a browser plug-in) cannot be
told apart and are loaded as plays.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from encore.data import bounds
from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources.spotify_history import (
    Bad,
    BrokenRecord,
    check_text,
    csv_rows,
    export_user,
    mark_truncation,
    report_bad,
)
from encore.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_ALIASES = {
    "artist": ("artist", "artist_name", "artistname"),
    "album": ("album", "album_name", "albumname"),
    "track": ("track", "track_name", "trackname", "title"),
    "artist_mbid": ("artist_mbid",),
    "album_mbid": ("album_mbid",),
    "track_mbid": ("track_mbid",),
    "user_genre": ("track_genre",),
}
#: Time columns in order of preference, with how they are written.
_TIME_COLUMNS = (
    ("uts", "unix"),
    ("timestamp", "unix"),
    ("played_at", "text"),
    ("datetime", "text"),
    ("utc_time", "text"),
    ("date", "text"),
)
#: Text time formats tried in order (the first that parses a column's first value is used).
_TEXT_FORMATS = (
    ("%d %b %Y %H:%M", "'20 Nov 2020 09:35'"),
    ("%d %b %Y, %H:%M", "'11 Jul 2024, 09:07'"),
    ("%Y-%m-%d %H:%M:%S", "'2025-08-16 11:45:00'"),
    ("%Y-%m-%d %H:%M", "'2025-08-16 11:45'"),
    ("ISO8601", "an ISO 8601 time"),
)
_NO_HEADER_DATE = re.compile(r"\d{1,2} [A-Za-z]{3} \d{4},? \d{1,2}:\d{2}")
_EPOCH = pd.Timestamp("1970-01-01")


@dataclass(frozen=True)
class Layout:
    """Where each field is in a file: column index per canonical name, and the time column."""

    header: bool
    columns: dict[str, int]
    time_col: int
    time_name: str
    time_kind: str  # 'unix' or 'text'
    width: int

    def describe(self) -> str:
        names = ",".join(sorted(self.columns, key=self.columns.__getitem__))
        return f"{'header' if self.header else 'no header'}: {names}, time from {self.time_name!r}"


def layout_of(first: list[str], second: list[str] | None) -> Layout | None:
    """The layout of a CSV from its first row (and second, for header-less files), else None."""
    names = [h.strip().lower().lstrip("\ufeff") for h in first]
    cols: dict[str, int] = {}
    for canon, aliases in _ALIASES.items():
        for a in aliases:
            if a in names:
                cols[canon] = names.index(a)
                break
    if "artist" in cols and "track" in cols:
        for tname, kind in _TIME_COLUMNS:
            if tname in names:
                return Layout(True, cols, names.index(tname), tname, kind, len(names))
        return None
    rows = [r for r in (first, second) if r is not None]
    if (
        all(len(r) == 4 for r in rows)
        and any(_NO_HEADER_DATE.fullmatch(r[3].strip()) for r in rows)
        and all(not r[3].strip() or _NO_HEADER_DATE.fullmatch(r[3].strip()) for r in rows)
    ):
        return Layout(False, {"artist": 0, "album": 1, "track": 2}, 3, "date", "text", 4)
    return None


def sniff(path: Path, errors: list[DataError] | None = None) -> Layout | None:
    """The layout of ``path`` if it is a recognised Last.fm scrobble CSV, else None.

    ``errors``: where a read error (bad bytes, a broken quote) is kept, so that a loader
    can report it rather than "no scrobble CSV found".
    """
    if path.suffix.lower() != ".csv" or not path.is_file():
        return None
    try:
        rows = csv_rows(path, tolerant=True)
        first = next(rows, None)
        second = next(rows, None)
        rows.close()
    except DataError as exc:
        if errors is not None:
            errors.append(exc)
        return None
    except OSError:
        return None
    if first is None:
        return None
    if isinstance(first[1], BrokenRecord):
        if errors is not None:
            errors.append(DataError(first[1].reason, file=str(path), line=first[0]))
        return None
    if second is not None and isinstance(second[1], BrokenRecord):
        second = None  # reported when the file is read
    return layout_of(first[1], second[1] if second else None)


def _parse_time(
    values: list[str | None], layout: Layout, out: list[Bad]
) -> tuple[pd.Series, np.ndarray]:
    """Parse the time column; returns the times and a mask of rows with no time (now playing)."""
    s = pd.Series(values, dtype=object)
    empty = np.array([v is None for v in values], dtype=bool)
    field = layout.time_name
    if layout.time_kind == "unix":
        num = pd.to_numeric(s, errors="coerce")
        ok = num.notna() & (num == num.round()) & (num >= 0) & (num < 4e9)
        parsed = pd.to_datetime(num.where(ok), unit="s", errors="coerce")
        expected = "Unix seconds"
    else:
        first = next((v for v in values if v is not None), None)
        fmt, expected = _TEXT_FORMATS[-1]
        for f, e in _TEXT_FORMATS:
            if first is not None and not pd.isna(
                pd.to_datetime(pd.Series([first]), format=f, errors="coerce", utc=True).iloc[0]
            ):
                fmt, expected = f, e
                break
        parsed = pd.to_datetime(s, format=fmt, errors="coerce", utc=True).dt.tz_convert(None)
    for i in np.flatnonzero(parsed.isna().to_numpy() & ~empty):
        out.append(Bad(int(i), field, f"bad date {values[i]!r}: expected {expected}"))
    # Unix time 0 is the exporters' "unknown date" (dropped and counted by the loader)
    lo, hi = pd.Timestamp(bounds.MIN_TIME), pd.Timestamp(bounds.max_time())
    outside = ((parsed < lo) & (parsed != _EPOCH)) | (parsed > hi)
    for i in np.flatnonzero(outside.to_numpy()):
        out.append(
            Bad(int(i), field, f"{values[i]!r} is out of bounds: {bounds.bound_text('time')}")
        )
    return parsed, empty


#: Two scrobbles of one track closer than this are one listen recorded twice.
DUPLICATE_WINDOW = pd.Timedelta(seconds=30)


def duplicate_scrobbles(events: pd.DataFrame) -> np.ndarray:
    """Mask of scrobbles that repeat the same artist and track less than 30 s after the previous one.

    Last.fm scrobbles only tracks longer than 30 seconds, so two scrobbles of one track less
    than 30 s apart cannot be two listens: they are double scrobbles (two scrobbling apps,
    identical rows) or an exporter's "now playing" row stamped with the time of each page
    fetch (one second apart). The first of each run is kept.
    """
    if events.empty:
        return np.zeros(0, dtype=bool)
    order = events.sort_values(["artist", "track", "ts"], kind="stable")
    same = order["artist"].eq(order["artist"].shift()) & order["track"].eq(order["track"].shift())
    close = (order["ts"] - order["ts"].shift()) < DUPLICATE_WINDOW
    mask = pd.Series((same & close).to_numpy(), index=order.index)
    return mask.reindex(events.index).to_numpy(dtype=bool)


class LastfmCsv(Loader):
    """Last.fm scrobble exports (CSV, five exporter layouts)."""

    name: ClassVar[str] = "lastfm_csv"
    description: ClassVar[str] = (
        "Last.fm scrobble export as CSV (lastfm-to-csv and other exporters' layouts)"
    )
    priority: ClassVar[int] = 50

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A recognised scrobble CSV, or a folder holding one directly."""
        if path.is_file():
            return sniff(path) is not None
        return path.is_dir() and any(sniff(p) is not None for p in sorted(path.glob("*.csv")))

    def _files(self, path: Path) -> list[tuple[Path, Layout]]:
        errors: list[DataError] = []
        if path.is_file():
            lay = sniff(path, errors)
            if lay is None and errors:
                raise errors[0]
            if lay is None:
                raise DataError(
                    "not a recognised Last.fm scrobble CSV (need a header with artist, track and a time "
                    "column such as uts, timestamp, played_at or date; or header-less artist,album,track,date)",
                    file=str(path),
                    line=1,
                )
            return [(path, lay)]
        found = [(p, sniff(p, errors)) for p in sorted(path.glob("*.csv"))]
        if not any(lay for _, lay in found):
            found = [(p, sniff(p, errors)) for p in sorted(path.rglob("*.csv"))]
        hits = [(p, lay) for p, lay in found if lay is not None]
        for p, lay in found:
            if lay is None:
                log.info("%s: %s is not a scrobble CSV; not read", self.name, p)
        if not hits and errors:
            raise errors[0]  # a scrobble CSV that cannot be read says why, at its line
        if not hits:
            raise DataError(
                "no Last.fm scrobble CSV found",
                file=str(path),
                hint="point at the folder or file of the exported scrobbles (.csv)",
            )
        folders = sorted({p.parent for p, _ in hits})
        if len(folders) > 1:
            raise ConfigError(
                f"{path}: scrobble CSVs found in {len(folders)} folders ({', '.join(map(str, folders[:5]))})",
                hint="ingest each person's export folder on its own, or use `encore ingest --all`",
            )
        return hits

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read every scrobble CSV into ``events`` (plus album MBIDs and owner genre labels)."""
        user = export_user(path, ctx)
        events: list[pd.DataFrame] = []
        dropped: Counter[str] = Counter()
        for f, lay in self._files(path):
            ctx.step(f"{self.name}: parsing {f.name} ({lay.describe()})")
            problems: list[Bad] = []
            starts: list[int] = []
            rows: list[list[str]] = []
            it = csv_rows(f, tolerant=True)
            if lay.header:
                next(it)
            for line, row in it:
                if isinstance(row, BrokenRecord):
                    problems.append(Bad(len(rows), None, row.reason))
                elif not row or (len(row) == 1 and not row[0].strip()):
                    continue
                elif len(row) != lay.width:
                    problems.append(
                        Bad(len(rows), None, f"expected {lay.width} fields, got {len(row)}")
                    )
                starts.append(line)
                rows.append(row)
            w = lay.width

            def col(j: int, rows: list[list[str]] = rows, w: int = w) -> list[Any]:
                return [(r[j].strip() or None) if len(r) == w else None for r in rows]

            artist = col(lay.columns["artist"])
            track = col(lay.columns["track"])
            times = col(lay.time_col)
            empty_time = np.array([t is None for t in times], dtype=bool)
            check_text(
                [(a or "") if not e else "x" for a, e in zip(artist, empty_time, strict=True)],
                "artist",
                required=True,
                out=problems,
            )
            check_text(
                [(t or "") if not e else "x" for t, e in zip(track, empty_time, strict=True)],
                "track",
                required=True,
                out=problems,
            )
            ts, _ = _parse_time(times, lay, problems)
            mark_truncation(f, problems, len(rows))

            def where(r: int, f: Path = f, starts: list[int] = starts) -> tuple[Path, int | None]:
                return f, starts[r]

            def raw(r: int, rows: list[list[str]] = rows) -> str:
                return ",".join(rows[r])[:2000]

            bad = report_bad(ctx, "events", sorted(problems, key=lambda b: b.row), where, raw)
            keep = np.ones(len(rows), dtype=bool)
            keep[bad] = False
            epoch = (ts == _EPOCH).to_numpy()
            dropped["now playing (no date)"] += int((keep & empty_time).sum())
            dropped["Unix time 0 (unknown date)"] += int((keep & epoch).sum())
            idx = np.flatnonzero(keep & ~empty_time & ~epoch)
            frame: dict[str, Any] = {
                "user_id": [user] * len(idx),
                "ts": ts.iloc[idx].reset_index(drop=True),
                "ms_played": pd.array([None] * len(idx), dtype="Int64"),
                "artist": [artist[i] for i in idx],
                "track": [track[i] for i in idx],
            }
            for k in ("album", "artist_mbid", "track_mbid"):
                if k in lay.columns:
                    vals = col(lay.columns[k])
                    frame[k] = [vals[i] for i in idx]
            if "user_genre" in lay.columns:
                g = col(lay.columns["user_genre"])
                frame["_label"] = [g[i] for i in idx]
            events.append(pd.DataFrame(frame))
        all_events = pd.concat(events, ignore_index=True)
        dup = duplicate_scrobbles(all_events)
        dropped["duplicate scrobbles (< 30 s after the same track)"] += int(dup.sum())
        all_events = all_events[~dup].reset_index(drop=True)
        st = Staged()
        if "_label" in all_events:
            labelled = all_events[all_events["_label"].notna()]
            keys = [
                c
                for c in ("artist", "artist_mbid", "album", "track", "track_mbid")
                if c in labelled
            ]
            tags = (
                labelled.groupby([*keys, "_label"], dropna=False)
                .size()
                .rename("weight")
                .reset_index()
                .rename(columns={"_label": "tag"})
            )
            tags["kind"] = "user_genre"
            st.add("track_tags", tags)
            all_events = all_events.drop(columns="_label")
        st.add("events", all_events)
        n = len(all_events)
        detail = ", ".join(f"{k} {v:,}" for k, v in sorted(dropped.items()) if v) or "none"
        for reason, count in dropped.items():
            ctx.drop(reason, count)
        ctx.step(
            f"{self.name}: {n:,} scrobbles for {user}; dropped {sum(dropped.values()):,} ({detail})"
        )
        return st

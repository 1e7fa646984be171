"""Last.fm 1K (``lastfm1k``): user profiles and timestamped scrobbles (O. Celma, 2010).

Two tab-separated files; give the folder, or either file alone:

``userid-profile.tsv`` (header ``#id, gender, age, country, registered``) -> ``users``:
    ``lastfm1k:<#id>`` (e.g. ``lastfm1k:user_000001``); gender ``m``/``f`` (empty -> NULL);
    age as given (empty -> NULL; the file has a few implausible ages, kept); country as the
    Last.fm English name ("United Kingdom"), which the writer maps to ISO alpha-2 and a
    region; ``registered`` like ``Aug 13, 2006`` -> ``registered_at`` (midnight).

``userid-timestamp-artid-artname-traid-traname*.tsv`` (no header; user id, ISO-8601 UTC
time ``2009-05-04T23:08:57Z``, artist MBID, artist name, track MBID, track name) -> ``events``:
    one scrobble each, with ``artist``, ``artist_mbid``, ``track``, ``track_mbid`` (empty
    MBIDs -> NULL). ``ms_played`` is unknown (NULL): a scrobble is a completed listen, so
    the writer marks none as skipped.

Bad rows: unknown gender code, non-integer age, unparsable dates or times, empty user,
track or artist (name and MBID both empty), an MBID that is not a UUID, a repeated profile id.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._toolkit import Check, blank, ident, int_sql, one_of
from encore.data.sources._tsv import TsvTable, Unique, int_check
from encore.errors import ConfigError

log = logging.getLogger(__name__)

PROFILE_FILE = "userid-profile.tsv"
EVENTS_PREFIX = "userid-timestamp-artid-artname-traid-traname"
PROFILE_COLUMNS = ["id", "gender", "age", "country", "registered"]
EVENT_COLUMNS = ["user", "timestamp", "artist_mbid", "artist", "track_mbid", "track"]

_PREFIX = "lastfm1k:"
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_TS = "try_strptime(trim({c}), ['%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M:%S'])"


def _is_profile(file: Path) -> bool:
    return file.name.startswith("userid-profile")


def _is_events(file: Path) -> bool:
    return file.name.startswith(EVENTS_PREFIX)


def _files(path: Path) -> tuple[Path | None, list[Path]]:
    """The profile file and the event files at ``path`` (a file or a folder)."""
    if path.is_file():
        if _is_profile(path):
            return path, []
        return None, [path]
    profile = path / PROFILE_FILE
    events = sorted(p for p in path.glob(EVENTS_PREFIX + "*") if p.is_file())
    return (profile if profile.is_file() else None), events


def _bad_mbid(col: str) -> str:
    v = f"lower(trim({ident(col)}))"
    return f"({v} <> '' AND NOT regexp_full_match({v}, '{_UUID}'))"


class LastFm1kLoader(Loader):
    """Loader for Last.fm 1K profiles and scrobbles (see the module docstring)."""

    name = "lastfm1k"
    description = (
        "Last.fm 1K: user profiles (gender, age, country, signup) and timestamped scrobbles"
    )
    priority = 30

    @classmethod
    def detect(cls, path: Path) -> bool:
        """``userid-profile.tsv``, an events file, or a folder holding either."""
        if path.is_file():
            return _is_profile(path) or _is_events(path)
        profile, events = _files(path)
        return profile is not None or bool(events)

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Parse profiles into ``users`` and scrobbles into ``events``.

        A single file that is not named like either is read as an events file.

        Raises
        ------
        ConfigError
            No Last.fm 1K file at ``path``.
        DataError
            Empty file, missing column, undecodable text or (strict mode) a bad row.
        """
        profile, events = _files(path)
        if profile is None and not events:
            raise ConfigError(f"{path}: no {PROFILE_FILE} or {EVENTS_PREFIX}*.tsv here")
        staged = Staged()
        if profile is not None:
            ctx.step(f"lastfm1k: {profile.name}")
            staged.add("users", self._profiles(profile, ctx))
        for i, file in enumerate(events):
            ctx.step(f"lastfm1k: {file.name}")
            staged.add("events", self._events(file, ctx, i))
            staged.fields["events"] = {"ts": "timestamp"}
        return staged

    @staticmethod
    def _profiles(file: Path, ctx: IngestContext) -> duckdb.DuckDBPyRelation:
        t = TsvTable(
            ctx,
            file,
            "users",
            PROFILE_COLUMNS,
            aliases={"id": ["#id", "userid", "user_id"]},
            name="_lastfm1k_profiles",
            read=False,
        )
        reg = f"try_strptime(trim({ident('registered')}), '%b %d, %Y')"
        return t.load(
            [
                Check(blank("id"), "id", "empty user id"),
                Unique("id", "user id listed twice"),
                Check(
                    f"NOT {one_of('gender', ['m', 'f', ''])}",
                    "gender",
                    "gender is not m, f or empty",
                ),
                int_check("age", "age is not an integer", optional=True),
                Check(f"{int_sql('age')} NOT BETWEEN 0 AND 32767", "age", "age out of range"),
                Check(
                    f"NOT {blank('registered')} AND {reg} IS NULL",
                    "registered",
                    "registration date is not like 'Aug 13, 2006'",
                ),
            ],
            {
                "user_id": f"'{_PREFIX}' || trim({ident('id')})",
                "gender": f"NULLIF(lower(trim({ident('gender')})), '')",
                "age": int_sql("age"),
                "country": f"NULLIF(trim({ident('country')}), '')",
                "registered_at": f"CAST({reg} AS TIMESTAMP)",
            },
        )

    @staticmethod
    def _events(file: Path, ctx: IngestContext, index: int) -> duckdb.DuckDBPyRelation:
        t = TsvTable(
            ctx,
            file,
            "events",
            EVENT_COLUMNS,
            header=False,
            name=f"_lastfm1k_events_{index}",
            read=False,
        )
        ts = _TS.format(c=ident("timestamp"))
        return t.load(
            [
                Check(blank("user"), "user", "empty user id"),
                Check(
                    f"{ts} IS NULL", "timestamp", "time is not ISO-8601 like 2009-05-04T23:08:57Z"
                ),
                Check(_bad_mbid("artist_mbid"), "artist_mbid", "artist MBID is not a UUID"),
                Check(
                    f"{blank('artist')} AND {blank('artist_mbid')}",
                    "artist",
                    "no artist name or MBID",
                ),
                Check(_bad_mbid("track_mbid"), "track_mbid", "track MBID is not a UUID"),
                Check(blank("track"), "track", "empty track name"),
            ],
            {
                "user_id": f"'{_PREFIX}' || trim({ident('user')})",
                "ts": f"CAST({ts} AS TIMESTAMP)",
                "ms_played": "CAST(NULL AS BIGINT)",
                "artist_mbid": f"NULLIF(lower(trim({ident('artist_mbid')})), '')",
                "artist": ident("artist"),
                "track_mbid": f"NULLIF(lower(trim({ident('track_mbid')})), '')",
                "track": ident("track"),
            },
            provenance=True,
        )

"""Spotify account-data library files (``spotify_library``): likes, follows, playlists, account.

Reads the files of one person's Spotify "Account data" export (the same folder as the
streaming history, so the user id is the same: ``--user`` or ``lh:<folder name>``):

* ``YourLibrary.json`` -- ``tracks`` (liked songs) -> ``likes`` with ``entity_type='track'``
  (artist, album, track and, in newer exports, the track URI); ``albums`` (saved albums) ->
  ``likes`` ``'album'``; ``artists`` (newer exports) -> ``likes`` ``'artist'``. The format
  has no timestamps, so ``liked_at`` is NULL. ``shows``, ``episodes``, ``bannedTracks``,
  ``bannedArtists`` and ``other`` are not music likes: they are counted in the log only.
* ``Follow.json`` -- older exports list followed artists by name (``followingArtists``).
  Following an artist is stored as a like of that artist (``entity_type='artist'``, the
  same thing newer exports call liked artists); follower counts are not stored.
* ``Playlist<N>.json`` -- every playlist's music items -> ``playlists`` (name, 1-based position
  of the item in the playlist as exported, ``lastModifiedDate`` -> ``modified_at``, the track
  reference). Podcast episodes, audiobooks and local files are skipped (positions keep their
  gaps, so the order of the remaining items is the playlist's order).
* ``Userdata.json`` -- ``country`` and ``creationTime`` -> the user's ``country`` and
  ``registered_at``.

A malformed element is reported with the file, the line where it starts and the field.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources.spotify_history import (
    MAX_TEXT,
    JsonText,
    compact,
    export_user,
    find_export_files,
    matching_files,
)
from encore.errors import DataError

log = logging.getLogger(__name__)

LIBRARY_FILES = re.compile(r"(YourLibrary|Follow|Userdata|Playlist\d+)\.json", re.IGNORECASE)
_NOT_MUSIC = ("shows", "episodes", "bannedTracks", "bannedArtists", "other")


def _text(item: dict[str, Any], key: str) -> str | None:
    v = item.get(key)
    return v.strip() if isinstance(v, str) and v.strip() else None


def _like(
    user: str,
    entity_type: str,
    artist: str,
    album: str | None = None,
    track: str | None = None,
    track_uri: str | None = None,
) -> dict[str, Any]:
    """One row of ``likes`` (the library and followed artists carry no time)."""
    return {
        "user_id": user,
        "entity_type": entity_type,
        "liked_at": None,
        "artist": artist,
        "album": album,
        "track": track,
        "track_uri": track_uri,
    }


def _title_and_artist(
    r: _Reader, at: int, item: dict[str, Any], key: str, what: str
) -> tuple[str, str] | None:
    """The title under ``key`` and the artist of a liked track or saved album; a row missing
    either is rejected (naming the missing field and what ``what`` needs) and gives None."""
    title, artist = _text(item, key), _text(item, "artist")
    if title is None or artist is None:
        r.reject(
            "likes",
            at,
            key if title is None else "artist",
            f"{what} needs {'a title' if title is None else 'an artist'}",
            item,
        )
        return None
    return title, artist


def _date(value: Any) -> pd.Timestamp | None:
    """A 'YYYY-MM-DD' date (or full ISO time); None when it does not parse."""
    if not isinstance(value, str):
        return None
    t = pd.to_datetime(value.strip(), format="ISO8601", errors="coerce", utc=True)
    return None if pd.isna(t) else t.tz_convert(None)


class _Reader:
    """Reads one library file; rejects go through ``ctx`` with the element's line."""

    def __init__(self, path: Path, ctx: IngestContext, user: str) -> None:
        self.path, self.ctx, self.user = path, ctx, user
        self.doc = JsonText(path)
        self.top = self.doc.members(self.doc.root, top=True)

    def reject(self, table: str, at: int, field: str | None, reason: str, raw: Any) -> None:
        self.ctx.reject(table, self.path, self.doc.line(at), field, reason, compact(raw))

    def text_ok(self, table: str, at: int, item: dict[str, Any], *keys: str) -> bool:
        """False (after rejecting the element) when a name in it cannot be stored as text.

        A lone surrogate (``"\\ud800"`` in the JSON) is not Unicode text, and a name over
        :data:`~encore.data.sources.spotify_history.MAX_TEXT` characters is damage, not a name.
        """
        for key in keys:
            v = item.get(key)
            if not isinstance(v, str):
                continue
            if len(v) > MAX_TEXT:
                reason = f"{key} is {len(v):,} characters long (at most {MAX_TEXT:,})"
            elif any(0xD800 <= ord(c) <= 0xDFFF for c in v):
                reason = f"{key} is not valid Unicode text (a lone surrogate such as \\ud800)"
            else:
                continue
            self.reject(table, at, key, reason, item)
            return False
        return True

    def objects(self, key: str, table: str) -> list[tuple[int, dict[str, Any]]]:
        """The elements of the top-level array ``key`` that are objects (others rejected)."""
        if key not in self.top:
            return []
        start, _ = self.top[key]
        out = []
        for at, item in self.doc.array(start):
            if isinstance(item, dict):
                out.append((at, item))
            else:
                self.reject(
                    table,
                    at,
                    key,
                    f"expected an object in {key!r}, got {type(item).__name__}",
                    item,
                )
        return out


class SpotifyLibrary(Loader):
    """Spotify library files: YourLibrary.json, Follow.json, Playlist<N>.json, Userdata.json."""

    name: ClassVar[str] = "spotify_library"
    description: ClassVar[str] = (
        "Spotify account-data library: YourLibrary.json likes, Follow.json, Playlist<N>.json, Userdata.json"
    )
    #: Before the histories, so the user's country and sign-up date are declared first.
    priority: ClassVar[int] = 40

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A library file, or a folder holding one directly."""
        if path.is_file():
            return bool(LIBRARY_FILES.fullmatch(path.name))
        return bool(matching_files(path, LIBRARY_FILES))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read the library files into ``likes``, ``playlists`` and ``users``."""
        user = export_user(path, ctx)
        files = find_export_files(path, LIBRARY_FILES, "YourLibrary.json / Playlist1.json")
        likes: list[dict[str, Any]] = []
        playlists: list[dict[str, Any]] = []
        users: list[dict[str, Any]] = []
        skipped: Counter[str] = Counter()
        for f in files:
            ctx.step(f"{self.name}: parsing {f.name}")
            kind = f.stem.lower()
            if kind == "yourlibrary":
                self._library(_Reader(f, ctx, user), likes, skipped)
            elif kind == "follow":
                self._follow(_Reader(f, ctx, user), likes)
            elif kind == "userdata":
                self._userdata(_Reader(f, ctx, user), users)
            else:
                self._playlists(_Reader(f, ctx, user), playlists, skipped)
        st = Staged()
        if likes:
            st.add(
                "likes",
                pd.DataFrame(
                    likes,
                    columns=[
                        "user_id",
                        "entity_type",
                        "liked_at",
                        "artist",
                        "album",
                        "track",
                        "track_uri",
                    ],
                ),
            )
        if playlists:
            st.add(
                "playlists",
                pd.DataFrame(
                    playlists,
                    columns=[
                        "user_id",
                        "name",
                        "position",
                        "modified_at",
                        "artist",
                        "album",
                        "track",
                        "track_uri",
                    ],
                ),
            )
        if users:
            st.add(
                "users", pd.DataFrame(users[-1:], columns=["user_id", "registered_at", "country"])
            )
        by_type = Counter(like["entity_type"] for like in likes)
        detail = ", ".join(f"{k} {v:,}" for k, v in sorted(skipped.items()) if v) or "none"
        ctx.step(
            f"{self.name}: {user}: likes {dict(sorted(by_type.items()))}, {len(playlists):,} playlist items"
            f"{', account data' if users else ''}; not music, not loaded: {detail}"
        )
        return st

    def _library(self, r: _Reader, likes: list[dict[str, Any]], skipped: Counter[str]) -> None:
        if not any(k in r.top for k in ("tracks", "albums", "artists")):
            raise DataError(
                "not a YourLibrary.json: no 'tracks', 'albums' or 'artists' key",
                file=str(r.path),
                line=r.doc.line(r.doc.root),
            )
        for at, item in r.objects("tracks", "likes"):
            if not r.text_ok("likes", at, item, "track", "artist", "album", "uri"):
                continue
            named = _title_and_artist(r, at, item, "track", "a liked track")
            if named is not None:
                track, by = named
                album, uri = _text(item, "album"), _text(item, "uri")
                likes.append(_like(r.user, "track", by, album, track, uri))
        for at, item in r.objects("albums", "likes"):
            if not r.text_ok("likes", at, item, "album", "artist"):
                continue
            named = _title_and_artist(r, at, item, "album", "a saved album")
            if named is not None:
                title, by = named
                likes.append(_like(r.user, "album", by, title))
        for at, item in r.objects("artists", "likes"):
            if not r.text_ok("likes", at, item, "name"):
                continue
            artist = _text(item, "name")
            if artist is None:
                r.reject("likes", at, "name", "a liked artist needs a name", item)
                continue
            likes.append(_like(r.user, "artist", artist))
        for key in _NOT_MUSIC:
            v = r.top.get(key, (0, None))[1]
            if isinstance(v, list):
                skipped[f"library {key}"] += len(v)

    def _follow(self, r: _Reader, likes: list[dict[str, Any]]) -> None:
        if "followingArtists" not in r.top:
            return  # newer exports list no artists here
        start, _ = r.top["followingArtists"]
        for at, name in r.doc.array(start):
            if not r.text_ok("likes", at, {"followingArtists": name}, "followingArtists"):
                continue
            if not isinstance(name, str) or not name.strip():
                r.reject(
                    "likes",
                    at,
                    "followingArtists",
                    "a followed artist must be a non-empty name",
                    name,
                )
                continue
            likes.append(_like(r.user, "artist", name.strip()))

    def _userdata(self, r: _Reader, users: list[dict[str, Any]]) -> None:
        row: dict[str, Any] = {"user_id": r.user, "registered_at": None, "country": None}
        if "creationTime" in r.top:
            at, v = r.top["creationTime"]
            row["registered_at"] = _date(v)
            if v is not None and row["registered_at"] is None:
                r.reject("users", at, "creationTime", f"bad date {v!r}: expected YYYY-MM-DD", v)
                return
        if "country" in r.top:
            at, v = r.top["country"]
            if not r.text_ok("users", at, {"country": v}, "country"):
                return
            if v is not None and not isinstance(v, str):
                r.reject("users", at, "country", f"country must be text, not {v!r}", v)
                return
            row["country"] = _text({"c": v}, "c")
        users.append(row)

    def _playlists(self, r: _Reader, out: list[dict[str, Any]], skipped: Counter[str]) -> None:
        if "playlists" not in r.top:
            raise DataError(
                "not a Playlist file: no 'playlists' key",
                file=str(r.path),
                line=r.doc.line(r.doc.root),
                field="playlists",
            )
        for at, pl in r.objects("playlists", "playlists"):
            if not r.text_ok("playlists", at, {"name": pl.get("name")}, "name"):
                continue
            name = _text(pl, "name")
            if name is None:
                r.reject(
                    "playlists", at, "name", "a playlist needs a name", {"name": pl.get("name")}
                )
                continue
            modified = _date(pl.get("lastModifiedDate"))
            if pl.get("lastModifiedDate") is not None and modified is None:
                r.reject(
                    "playlists",
                    at,
                    "lastModifiedDate",
                    f"bad date {pl.get('lastModifiedDate')!r}: expected YYYY-MM-DD",
                    {"name": name},
                )
                continue
            members = r.doc.members(at)
            if "items" not in members or not isinstance(members["items"][1], list):
                r.reject(
                    "playlists", at, "items", "a playlist needs an 'items' list", {"name": name}
                )
                continue
            for pos, (iat, item) in enumerate(r.doc.array(members["items"][0]), start=1):
                track = item.get("track") if isinstance(item, dict) else None
                if not isinstance(track, dict):
                    if isinstance(item, dict) and any(
                        item.get(k) for k in ("episode", "audiobook", "localTrack")
                    ):
                        kind = next(
                            k for k in ("episode", "audiobook", "localTrack") if item.get(k)
                        )
                        skipped[f"playlist {kind} items"] += 1
                    else:
                        r.reject("playlists", iat, "track", "a playlist item with no track", item)
                    continue
                if not r.text_ok(
                    "playlists", iat, track, "trackName", "artistName", "albumName", "trackUri"
                ):
                    continue
                title, artist = _text(track, "trackName"), _text(track, "artistName")
                if title is None or artist is None:
                    r.reject(
                        "playlists",
                        iat,
                        "trackName" if title is None else "artistName",
                        "a playlist track needs a title and an artist",
                        item,
                    )
                    continue
                out.append(
                    {
                        "user_id": r.user,
                        "name": name,
                        "position": pos,
                        "modified_at": modified,
                        "artist": artist,
                        "album": _text(track, "albumName"),
                        "track": title,
                        "track_uri": _text(track, "trackUri"),
                    }
                )

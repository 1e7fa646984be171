"""What the listener recommender reads from the store: named tracks, histories, likes.

A *named* track has a title and a known artist (JODIE's anonymous ``jodie song N`` items
and FMA rows without an artist are not named). Two tracks are the same *song* when their
artist and title normalise alike (the store's ``enc_norm``: case, accents, "feat.",
"(Remastered ...)", "- Live" and similar suffixes dropped), so a track heard under one
source's id is not "new" under another's.

:class:`History` holds named-track events and likes of some users as plain frames; it can
be cut per user at a time (:meth:`History.before`), which is how the ranker is trained and
how the listener evaluation hides each listener's future.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from encore.data.store import Store

#: Sources of community data at artist level (users x artists play counts, no tracks).
COMMUNITY_SOURCES: tuple[str, ...] = ("hetrec2011",)

EVENT_COLUMNS: tuple[str, ...] = ("user_id", "track_id", "artist_id", "ts", "skipped")
LIKE_COLUMNS: tuple[str, ...] = ("user_id", "track_id", "artist_id")


@dataclass(frozen=True)
class Catalogue:
    """Named tracks of the store as aligned arrays (sorted by ``track_id``).

    Attributes
    ----------
    track_id, artist_id:
        int64 ids.
    song:
        int64 song code: tracks with equal codes are the same song.
    genre:
        int32 index into ``genres`` (-1: unknown).
    genres:
        Coarse genre names.
    album:
        int64 album id (-1: unknown).
    """

    track_id: np.ndarray
    artist_id: np.ndarray
    song: np.ndarray
    genre: np.ndarray
    genres: tuple[str, ...]
    album: np.ndarray | None = None  # int64 album id (-1: unknown); None in older models

    def __len__(self) -> int:
        return len(self.track_id)

    def index(self, track_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """Row of each track id (-1 where the track is not a named catalogue track)."""
        ids = np.asarray(track_ids, dtype=np.int64)
        pos = np.searchsorted(self.track_id, ids)
        pos = np.clip(pos, 0, max(len(self.track_id) - 1, 0))
        if len(self.track_id) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        return np.where(self.track_id[pos] == ids, pos, -1).astype(np.int64)


#: The named tracks (``t``, with their artist ``a``): a title and a known artist. The FROM
#: and WHERE every reader of "named" uses (the catalogue here, recommend's named-only list).
NAMED_TRACKS = (
    "tracks t JOIN artists a USING (artist_id) WHERE t.title IS NOT NULL AND t.title <> ''"
)
#: Its complement, the anonymous tracks (JODIE's ``jodie song N``): no title or no known
#: artist. Recommend's named-only list reads these, far fewer than the named ones in a
#: store of named histories (tests/recommenders/test_named_only.py checks the two split
#: the tracks).
ANONYMOUS_TRACKS = (
    "tracks t LEFT JOIN artists a ON a.artist_id = t.artist_id "
    "WHERE a.artist_id IS NULL OR t.title IS NULL OR t.title = ''"
)


def load_catalogue(store: Store) -> Catalogue:
    """Every named track with its artist, song code and coarse genre."""
    frame = store.con.execute(
        f"""
        SELECT t.track_id, t.artist_id, a.name_norm || '|' || t.title_norm AS song_key,
               COALESCE(t.genre, a.genre) AS genre, COALESCE(t.album_id, -1) AS album_id
        FROM {NAMED_TRACKS}
        ORDER BY t.track_id
        """
    ).df()
    song = pd.factorize(frame["song_key"])[0].astype(np.int64)
    genre_codes, genre_names = pd.factorize(frame["genre"])
    return Catalogue(
        track_id=frame["track_id"].to_numpy(np.int64),
        artist_id=frame["artist_id"].to_numpy(np.int64),
        song=song,
        genre=genre_codes.astype(np.int32),
        genres=tuple(str(g) for g in genre_names),
        album=frame["album_id"].to_numpy(np.int64),
    )


@dataclass(frozen=True)
class History:
    """Named-track events and likes of some users.

    ``events``: ``user_id, track_id, artist_id, ts, skipped`` (one row per play, time
    ordered within a user); ``likes``: ``user_id, track_id, artist_id`` (a liked track has
    both ids, a liked artist or album only ``artist_id``; ``track_id`` -1).
    """

    events: pd.DataFrame
    likes: pd.DataFrame

    @property
    def users(self) -> list[str]:
        """Users with at least one event, sorted."""
        return sorted(self.events["user_id"].unique().tolist())

    def before(self, cutoffs: Mapping[str, pd.Timestamp]) -> History:
        """Each listed user's events strictly before their cut-off; other users unchanged.

        Likes carry no time, so they are kept (a like is known whenever the export is).
        """
        ev = self.events
        cut = ev["user_id"].map(cutoffs)
        keep = cut.isna() | (ev["ts"] < cut)
        return History(ev[keep.to_numpy()].reset_index(drop=True), self.likes)

    def after(self, cutoffs: Mapping[str, pd.Timestamp]) -> pd.DataFrame:
        """Events of the listed users at or after their cut-off."""
        ev = self.events
        cut = ev["user_id"].map(cutoffs)
        return ev[(cut.notna() & (ev["ts"] >= cut)).to_numpy()].reset_index(drop=True)

    def of(self, users: Sequence[str]) -> History:
        """Only these users' events and likes."""
        keep = set(users)
        return History(
            self.events[self.events["user_id"].isin(keep)].reset_index(drop=True),
            self.likes[self.likes["user_id"].isin(keep)].reset_index(drop=True),
        )


_EVENTS_SQL = """
    SELECT e.user_id, e.track_id, t.artist_id, e.ts, COALESCE(e.skipped, FALSE) AS skipped
    FROM events e JOIN tracks t USING (track_id)
    WHERE t.artist_id IS NOT NULL {where}
    ORDER BY e.user_id, e.ts
"""

_LIKES_SQL = """
    SELECT l.user_id,
           CASE WHEN l.entity_type = 'track' THEN l.entity_id ELSE -1 END AS track_id,
           CASE l.entity_type WHEN 'track' THEN t.artist_id WHEN 'album' THEN al.artist_id
                ELSE l.entity_id END AS artist_id
    FROM likes l
    LEFT JOIN tracks t ON l.entity_type = 'track' AND t.track_id = l.entity_id
    LEFT JOIN albums al ON l.entity_type = 'album' AND al.album_id = l.entity_id
    WHERE 1 = 1 {where}
"""


def load_history(store: Store, users: Sequence[str] | None = None) -> History:
    """Named-track events and likes from the store (all users, or only ``users``)."""
    where, params = "", {}
    if users is not None:
        where, params = "AND user_id = ANY($users)", {"users": list(users)}
    events = store.con.execute(
        _EVENTS_SQL.format(where=where.replace("user_id", "e.user_id")), params
    ).df()
    likes = store.con.execute(
        _LIKES_SQL.format(where=where.replace("user_id", "l.user_id")), params
    ).df()
    events["ts"] = pd.to_datetime(events["ts"])
    events["skipped"] = events["skipped"].astype(bool)
    likes = likes.dropna(subset=["artist_id"])
    likes = likes.astype({"track_id": np.int64, "artist_id": np.int64})
    return History(events, likes.reset_index(drop=True))


def load_community(store: Store) -> pd.DataFrame:
    """Artist-level play counts of the community sources: ``user_id, artist_id, plays``."""
    return store.con.execute(
        """
        SELECT user_id, artist_id, sum(plays) AS plays FROM playcounts
        WHERE source = ANY($sources) AND artist_id IS NOT NULL AND plays > 0
        GROUP BY ALL
        """,
        {"sources": list(COMMUNITY_SOURCES)},
    ).df()


def time_cutoffs(events: pd.DataFrame, fraction: float) -> dict[str, pd.Timestamp]:
    """Each user's cut-off: the time before which ``fraction`` of their events fall.

    The cut-off is the time of the event at position ``floor(fraction * n)`` of the user's
    time-ordered events, so at least one event lies on each side for users with two or
    more events at distinct times.
    """
    out: dict[str, pd.Timestamp] = {}
    for user, ts in events.groupby("user_id", sort=True)["ts"]:
        values = np.sort(ts.to_numpy())
        if len(values) < 2:
            continue
        pos = min(max(int(np.floor(fraction * len(values))), 1), len(values) - 1)
        out[str(user)] = pd.Timestamp(values[pos])
    return out

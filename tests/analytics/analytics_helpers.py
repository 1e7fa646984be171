"""Loaders, data classes and pandas reference computations of the analytics tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.store import Store


class TinyPlaysLoader(Loader):
    """Four users, five tracks, known genres, skips, countries, one tag event.

    =====  =======  ==========  =======  ===========================================
    track  artist   genre       length   plays (user, day, ms, skipped)
    =====  =======  ==========  =======  ===========================================
    A1     Alpha    rock        200 s    u1 01-01 200 s; u1 01-02 10 s (skip);
                                         u2 01-03 200 s; u3 02-10 200 s
    A2     Alpha    rock        300 s    u2 01-04 300 s
    B1     Beta     jazz        100 s    u1 01-05 100 s; u4 01-06 100 s; u4 01-07 100 s
    C1     Gamma    (none)      120 s    u3 01-08 120 s
    D1     Delta    jazz        100 s    u3 01-09 50 s  (ties B1 on plays in Jan. 5-9)
    =====  =======  ==========  =======  ===========================================

    Users: u1 DE, u2 DE, u3 US, u4 FR. All in 2021. Skips come from the source flag.
    """

    name = "tinyplays"
    description = "analytics test loader"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.name == "tinyplays"

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        st = Staged()
        st.add(
            "users",
            pd.DataFrame(
                {"user_id": ["t:u1", "t:u2", "t:u3", "t:u4"], "country": ["DE", "DE", "US", "FR"]}
            ),
        )
        st.add(
            "tracks",
            pd.DataFrame(
                {
                    "artist": ["Alpha", "Alpha", "Beta", "Gamma", "Delta"],
                    "track": ["A1", "A2", "B1", "C1", "D1"],
                    "duration_ms": [200_000, 300_000, 100_000, 120_000, 100_000],
                    "genre_raw": ["rock", "rock", "jazz", None, "jazz"],
                }
            ),
        )
        rows = [
            ("t:u1", "2021-01-01 10:00", 200_000, False, "Alpha", "A1"),
            ("t:u1", "2021-01-02 10:00", 10_000, True, "Alpha", "A1"),
            ("t:u2", "2021-01-03 10:00", 200_000, False, "Alpha", "A1"),
            ("t:u3", "2021-02-10 10:00", 200_000, False, "Alpha", "A1"),
            ("t:u2", "2021-01-04 10:00", 300_000, False, "Alpha", "A2"),
            ("t:u1", "2021-01-05 10:00", 100_000, False, "Beta", "B1"),
            ("t:u4", "2021-01-06 10:00", 100_000, False, "Beta", "B1"),
            ("t:u4", "2021-01-07 10:00", 100_000, False, "Beta", "B1"),
            ("t:u3", "2021-01-08 10:00", 120_000, False, "Gamma", "C1"),
            ("t:u3", "2021-01-09 10:00", 50_000, False, "Delta", "D1"),
        ]
        ev = pd.DataFrame(
            rows, columns=["user_id", "ts", "ms_played", "skipped", "artist", "track"]
        )
        ev["ts"] = pd.to_datetime(ev["ts"])
        st.add("events", ev)
        st.add(
            "artist_tags",
            pd.DataFrame(
                {
                    "artist": ["Beta", "Beta", "Alpha"],
                    "tag": ["jazz", "seen live", "rock"],
                    "weight": [1.0, 1.0, 1.0],
                    "user_id": ["t:u9", "t:u9", "t:u8"],
                    "tagged_at": pd.to_datetime(["2021-01-02", "2021-01-03", "2021-01-04"]),
                }
            ),
        )
        return st


@dataclass
class RealData:
    """The real store and its rows as pandas frames."""

    store: Store
    path: Path
    plays: (
        pd.DataFrame
    )  # one row per event: user_id, track_id, artist_id, ts, ms_played, skipped, genre, source
    tags: pd.DataFrame  # one row per dated tag assignment: user_id, artist_id, ts, genre, source
    tracks: pd.DataFrame
    artists: pd.DataFrame


#: Real datasets of the session store: (loader, folder under shared data).
REAL_SOURCES = (
    ("spotify_artist_genres", "spotify-artist-genres"),
    ("spotify_extended", "listening-histories/user_03"),
    ("spotify_basic", "listening-histories/user_09"),
    ("lastfm_csv", "listening-histories/user_07"),
    ("hetrec2011", "hetrec2011-lastfm-2k"),
)


def pandas_plays(events: pd.DataFrame, tracks: pd.DataFrame, artists: pd.DataFrame) -> pd.DataFrame:
    """Each play's genre computed in pandas: the track's genre, else its artist's."""
    t = tracks.set_index("track_id")
    a = artists.set_index("artist_id")["genre"]
    out = events.copy()
    track_artist = out["track_id"].map(t["artist_id"])
    out["artist_id"] = out["artist_id"].fillna(track_artist).astype("Int64")
    genre = out["track_id"].map(t["genre"])
    genre = genre.fillna(out["artist_id"].map(a))
    out["genre"] = genre.fillna("(unknown)")
    out["skipped"] = out["skipped"].fillna(False).astype(bool)
    return out

"""spotify_library: likes, follows, playlists and account data of the 7 real library exports."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from encore.data import sources
from encore.data.ingest import IngestContext, ingest
from encore.data.sources.spotify_history import SpotifyBasic
from encore.data.sources.spotify_library import SpotifyLibrary
from encore.data.store import Store
from encore.errors import DataError

#: listening-histories/README.md "Extra account-data files": liked tracks, albums, artists
#: (YourLibrary.json), followed artists (Follow.json), playlists and their items.
README_LIKES = {
    "user_11": (222, 19, 5, 0, 0, 0),
    "user_13": (930, 79, 0, 27, 13, 235),
    "user_14": (318, 10, 0, 5, 10, 465),
    "user_16": (2527, 37, 53, 0, 114, 5238),
    "user_17": (613, 25, 21, 0, 6, 240),
    "user_19": (250, 40, 14, 0, 0, 0),
    "user_20": (697, 52, 0, 28, 40, 1047),
}
#: Playlist items that are podcast episodes (skipped), counted from the raw files.
EPISODE_ITEMS = {"user_14": 1}


@pytest.fixture(scope="module")
def lh(shared_data: Path) -> Path:
    return shared_data / "listening-histories"


def _staged(path: Path, **kw: object) -> dict[str, pd.DataFrame]:
    st = SpotifyLibrary().load(path, IngestContext(con=duckdb.connect(), **kw))  # type: ignore[arg-type]
    return {k: v for k, v in st.frames.items() if isinstance(v, pd.DataFrame)}


@pytest.mark.parametrize("user", list(README_LIKES))
def test_staged_counts_match_readme(lh: Path, user: str) -> None:
    tracks, albums, artists, follows, n_playlists, items = README_LIKES[user]
    frames = _staged(lh / user)
    kinds = frames["likes"]["entity_type"].value_counts().to_dict()
    assert kinds.get("track", 0) == tracks
    assert kinds.get("album", 0) == albums
    assert kinds.get("artist", 0) == artists + follows  # liked (newer) or followed (older) artists
    assert set(frames["likes"]["user_id"]) == {f"lh:{user}"}
    assert frames["likes"]["liked_at"].isna().all()
    if items:
        pl = frames["playlists"]
        assert len(pl) == items - EPISODE_ITEMS.get(user, 0)
        raw = json.loads((lh / user / "Playlist1.json").read_text())["playlists"]
        assert len(raw) == n_playlists
        # every playlist with a music item is there, positions are the exported ones
        assert pl["name"].nunique() == sum(
            1 for p in raw if any(i.get("track") for i in p["items"])
        )
        first = raw[0]["items"][0]
        if first.get("track"):
            row = pl[(pl["name"] == raw[0]["name"].strip()) & (pl["position"] == 1)].iloc[0]
            assert (row["track"], row["artist"]) == (
                first["track"]["trackName"],
                first["track"]["artistName"],
            )
    else:
        assert "playlists" not in frames


#: Likes and playlist rows in a fresh store: liked entries that the writer resolves to one
#: catalogue entity are one like (the exports repeat songs, e.g. the same title on a single
#: and an album without URIs, and "Album" / "Album (Deluxe Edition)" normalise alike).
STORE_LIKES = {
    "user_11": {"track": 222, "album": 18, "artist": 5},
    "user_13": {"track": 912, "album": 79, "artist": 27},
    "user_14": {"track": 316, "album": 10, "artist": 5},
    "user_16": {"track": 2525, "album": 34, "artist": 53},
    "user_17": {"track": 610, "album": 23, "artist": 21},
    "user_19": {"track": 250, "album": 40, "artist": 14},
    "user_20": {"track": 662, "album": 48, "artist": 28},
}


def test_store_counts(lh: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        for user in README_LIKES:
            res = ingest(store, SpotifyLibrary(), lh / user)
            assert res.rejected == {}
        got = store.df("SELECT user_id, entity_type, count(*) n FROM likes GROUP BY ALL")
        pl = store.df(
            "SELECT user_id, count(DISTINCT name) p, count(*) n FROM playlists GROUP BY 1"
        )
        users = store.df(
            "SELECT user_id, country, registered_at FROM users WHERE country IS NOT NULL ORDER BY 1"
        )
        # a like is never duplicated and always points at an existing entity
        assert (
            store.scalar(
                "SELECT count(*) FROM (SELECT user_id, entity_type, entity_id FROM likes GROUP BY ALL HAVING count(*) > 1)"
            )
            == 0
        )
        assert (
            store.scalar(
                "SELECT count(*) FROM likes l WHERE entity_type = 'track' AND entity_id NOT IN (SELECT track_id FROM tracks)"
            )
            == 0
        )
        uri = store.scalar(
            "SELECT t.uri FROM likes l JOIN tracks t ON t.track_id = l.entity_id JOIN artists a ON a.artist_id = t.artist_id "
            "WHERE l.user_id = 'lh:user_16' AND t.title = 'I''m Yours' AND a.name = 'Jason Mraz'"
        )
    for user, want in STORE_LIKES.items():
        have = got[got["user_id"] == f"lh:{user}"].set_index("entity_type")["n"].to_dict()
        assert have == want, user
    n_items = {f"lh:{u}": v[5] - EPISODE_ITEMS.get(u, 0) for u, v in README_LIKES.items() if v[5]}
    assert dict(zip(pl["user_id"], pl["n"], strict=True)) == n_items
    assert uri == "spotify:track:1EzrEOXmMH3G43AXT1y7pA"
    assert users.values.tolist() == [
        ["lh:user_13", "US", datetime(2018, 9, 15)],
        ["lh:user_14", "FR", datetime(2015, 5, 21)],
    ]


@pytest.mark.parametrize("library_first", [True, False])
def test_same_user_as_the_history_in_either_order(
    lh: Path, tmp_path: Path, library_first: bool
) -> None:
    folder = lh / "user_14"
    with Store(tmp_path / "s.duckdb") as store:
        steps = [SpotifyLibrary(), SpotifyBasic()]
        for loader in steps if library_first else steps[::-1]:
            ingest(store, loader, folder)
        ingest(store, SpotifyBasic(), folder)  # re-ingest the history: the account data stays
        users = store.df("SELECT user_id, country, registered_at FROM users")
        assert store.scalar("SELECT count(DISTINCT user_id) FROM events") == 1
        assert store.scalar("SELECT count(DISTINCT user_id) FROM likes") == 1
        # liked tracks that were also played resolve to the same catalogue track
        both = store.scalar(
            "SELECT count(DISTINCT entity_id) FROM likes WHERE entity_type = 'track' "
            "AND entity_id IN (SELECT track_id FROM events)"
        )
    assert users.values.tolist() == [["lh:user_14", "FR", datetime(2015, 5, 21)]]
    assert both > 100


def test_detect(lh: Path) -> None:
    for user in README_LIKES:
        assert SpotifyLibrary.detect(lh / user), user
    assert not SpotifyLibrary.detect(lh / "user_01")
    assert not SpotifyLibrary.detect(lh)
    assert SpotifyLibrary.detect(lh / "user_13" / "Follow.json")
    order = [x.name for x in sources.detect(lh / "user_13")]
    assert order.index("spotify_library") < order.index("spotify_basic")


# ---------------------------------------------------------------------------- bad input
def _lib(tmp_path: Path, obj: object, name: str = "YourLibrary.json") -> Path:
    f = tmp_path / name
    f.write_text(json.dumps(obj, indent=2))
    return f


def test_truncated_library(tmp_path: Path, lh: Path, store: Store) -> None:
    text = (lh / "user_16" / "YourLibrary.json").read_text()
    f = tmp_path / "YourLibrary.json"
    f.write_text(text[: len(text) // 3])
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyLibrary(), f)
    assert err.value.file == str(f) and err.value.line is not None and "column" in str(err.value)
    f.write_text("")
    with pytest.raises(DataError, match="empty file"):
        ingest(store, SpotifyLibrary(), f)


def test_bad_liked_track(tmp_path: Path, store: Store) -> None:
    good = {"artist": "Aphex Twin", "album": "Drukqs", "track": "Avril 14th"}
    f = _lib(tmp_path, {"tracks": [good, {"artist": "X", "album": "Y"}, good], "albums": []})
    lines = f.read_text().splitlines()
    bad_line = [i + 1 for i, s in enumerate(lines) if s.strip() == "{"][2]
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyLibrary(), f)
    assert (err.value.line, err.value.field) == (bad_line, "track")
    res = ingest(store, SpotifyLibrary(), f, on_error="skip")
    assert res.rejected == {"likes": 1} and res.loaded["likes"] == 1


def test_bad_account_and_playlist_files(tmp_path: Path, store: Store) -> None:
    f = _lib(tmp_path, {"country": "US", "creationTime": "15/09/2018"}, "Userdata.json")
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyLibrary(), f)
    assert (err.value.line, err.value.field) == (3, "creationTime")
    f = _lib(tmp_path, {"lists": []}, "Playlist1.json")
    with pytest.raises(DataError, match="no 'playlists' key"):
        ingest(store, SpotifyLibrary(), f)
    item = {
        "track": {"trackName": "willow", "artistName": "Taylor Swift", "albumName": "evermore"},
        "episode": None,
        "localTrack": None,
    }
    local = {"track": None, "episode": None, "localTrack": {"uri": "spotify:local:a:b:c:1"}}
    f = _lib(
        tmp_path,
        {
            "playlists": [
                {
                    "name": "P",
                    "lastModifiedDate": "2020-01-02",
                    "items": [local, item, {"track": None}],
                }
            ]
        },
        "Playlist1.json",
    )
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyLibrary(), f)
    assert err.value.field == "track"
    res = ingest(store, SpotifyLibrary(), f, on_error="skip")
    assert res.loaded["playlists"] == 1 and res.rejected == {"playlists": 1}
    row = store.execute("SELECT name, position, modified_at FROM playlists").fetchone()
    assert row == ("P", 2, datetime(2020, 1, 2))
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    with pytest.raises(DataError, match="no YourLibrary"):
        ingest(store, SpotifyLibrary(), empty)

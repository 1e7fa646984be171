"""The audio source of for_you: tracks nobody has played, proposed by how they sound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.recommenders.cold_start import audio_picks, has_audio
from encore.recommenders.for_you import ForYou
from encore.recommenders.recommend import recommend_for_user

pytest.importorskip("lightgbm")

#: A tiny generic-format store: two listeners, five artists; the "new*" tracks have no plays
#: at all. "a2" is a remaster of "a1": the catalogue keeps them as one song.
TRACKS = [
    ("a1", "Blue Hour", "Artist A"),
    ("a2", "Blue Hour (Remastered 2011)", "Artist A"),
    ("a3", "Red Dawn", "Artist A"),
    ("b1", "Static", "Artist B"),
    ("b2", "Noise Floor", "Artist B"),
    ("c1", "Lullaby", "Artist C"),
    ("new_close", "Indigo", "Artist D"),
    ("new_close2", "Azure", "Artist D"),
    ("new_close3", "Cobalt", "Artist D"),
    ("new_far", "Thunder", "Artist E"),
]
PLAYS = [("u1", "a1"), ("u1", "a1"), ("u1", "a3"), ("u2", "b1"), ("u2", "b2"), ("u2", "c1")]


@pytest.fixture()
def store_path(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    pd.DataFrame(TRACKS, columns=["track_id", "title", "artist"]).to_csv(
        folder / "tracks.csv", index=False
    )
    events = pd.DataFrame(PLAYS, columns=["user_id", "track_id"])
    events["ts"] = [f"2024-05-0{i + 1} 10:00:00" for i in range(len(events))]
    events.to_csv(folder / "events.csv", index=False)
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        ingest(store, get_loader("generic"), folder)
    return path


def _embed(store: Store, vectors: dict[str, list[float]]) -> None:
    """Write audio embeddings for tracks by title (as ``encore audio ingest`` would)."""
    ids = dict(store.con.execute("SELECT title, track_id FROM tracks").fetchall())
    rows = [
        (ids[title], f"audio_emb_{j:03d}", float(v), "audio", 0)
        for title, vec in vectors.items()
        for j, v in enumerate(vec)
    ]
    store.con.executemany("INSERT INTO track_features VALUES (?, ?, ?, ?, ?)", rows)


def _title(store: Store, track_id: int) -> str:
    row = store.con.execute("SELECT title FROM tracks WHERE track_id = ?", [track_id]).fetchone()
    assert row is not None
    return str(row[0])


VECTORS = {
    "Blue Hour": [1.0, 0.0, 0.1],
    "Red Dawn": [0.9, 0.1, 0.0],
    "Static": [0.0, 1.0, 0.0],
    "Indigo": [0.95, 0.0, 0.05],
    "Azure": [0.9, 0.05, 0.1],
    "Cobalt": [0.85, 0.0, 0.2],
    "Thunder": [-1.0, -1.0, 0.0],
}


def test_unplayed_tracks_closest_in_sound_come_first_with_their_seed(store_path: Path) -> None:
    with Store(store_path) as store:
        assert not has_audio(store) and audio_picks(store, "u1", 5) == []
        _embed(store, VECTORS)
        picks = audio_picks(store, "u1", 5)
        titles = [_title(store, p.track_id) for p in picks]
        # only tracks nobody played and new to u1
        assert set(titles) == {"Indigo", "Azure", "Cobalt", "Thunder"}
        assert titles[-1] == "Thunder", "the track that sounds least alike comes last"
        assert all(_title(store, p.seed_track_id) in {"Blue Hour", "Red Dawn"} for p in picks)
        sims = [p.similarity for p in picks]
        assert sims == sorted(sims, reverse=True)
        # u2 played "Static" (embedded), so u2 gets picks too, seeded by it
        assert {_title(store, p.seed_track_id) for p in audio_picks(store, "u2", 3)} == {"Static"}


def test_for_you_list_gives_a_slot_to_an_unplayed_track_and_says_why(store_path: Path) -> None:
    with Store(store_path) as store:
        model = ForYou.from_store(store)
        before = recommend_for_user(store, model, "u1", 5)
        assert not before.table["because"].str.startswith("sounds like").any()
        _embed(store, VECTORS)
        after = recommend_for_user(store, model, "u1", 5, max_per_artist=2)
        audio = after.table[after.table["because"].str.startswith("sounds like")]
        assert len(audio) == 1  # 10 % of 5, at least one slot
        assert audio["name"].iloc[0] == "Indigo"
        assert "Blue Hour" in audio["because"].iloc[0]
        assert after.table["artist"].value_counts().max() <= 2
        # a short list (this store has few unheard tracks) grows by the audio pick
        assert len(after.table) == min(5, len(before.table) + 1)
        # new artists only: Artist D is new to u1, so it still qualifies
        disc = recommend_for_user(store, model, "u1", 5, new_artists_only=True)
        assert "Indigo" in set(disc.table["name"])
        assert np.isfinite(after.table["score"]).all()

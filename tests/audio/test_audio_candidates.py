"""The audio candidate source for the listener recommender, and the training device.

``audio_candidates(store, liked_track_ids, n)`` is the seam a recommender calls: a listener
who played one track gets the embedded tracks nobody has played, ranked by sound. Small
setting: 16 real clips and a tiny 2-epoch CNN (the measured model is in docs/audio.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.audio.clips import EMOTIONS, load_clips
from encore.audio.cnn import AudioModel, CNNConfig, resolve_device
from encore.audio.signal import AudioCache
from encore.audio.store import AudioEmbeddingLoader, audio_candidates, load_embeddings
from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources.generic import GenericLoader
from encore.data.store import Store
from encore.errors import ConfigError

TINY = CNNConfig(channels=(4, 8, 8, 16), epochs=2, batch_size=4, crop_frames=64, seed=5)
COLUMNS = ["rank", "track_id", "name", "artist", "genre", "similarity"]


@pytest.fixture(scope="module")
def played_store(small_clips: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A store where one listener played one track (generic format), then the 16 clips
    ingested with embeddings; returns the store and the played track's id."""
    root = tmp_path_factory.mktemp("cands")
    with open(small_clips / "labels.csv", newline="", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    played = next(r for r in labels if r["genre"] == "rock")
    logs = root / "logs"
    logs.mkdir()
    pd.DataFrame([{"track_id": "t1", "title": played["title"], "artist": played["artist"]}]).to_csv(
        logs / "tracks.csv", index=False
    )
    pd.DataFrame(
        [{"user_id": "u1", "track_id": "t1", "ts": f"2024-05-0{d}T10:00:00Z"} for d in (1, 2, 3)]
    ).to_csv(logs / "events.csv", index=False)
    clips = load_clips(small_clips)
    cache = AudioCache.default()
    specs = [cache.spectrogram(Path(p)) for p in clips.frame["path"]]
    model = AudioModel.fit(specs, clips.labels(), clips.genres, TINY)
    model.fit_mood(model.embed(specs), clips.frame[list(EMOTIONS)].to_numpy(), EMOTIONS)
    db = root / "s.duckdb"
    with Store(db) as store:
        ingest(store, GenericLoader(), logs)
        ingest(store, AudioEmbeddingLoader(model), small_clips)
        (tid,) = store.con.execute(
            "SELECT t.track_id FROM tracks t JOIN artists a USING (artist_id) "
            "WHERE t.title = ? AND a.name = ?",
            [played["title"], played["artist"]],
        ).fetchone() or (None,)
    assert tid is not None
    return db, int(tid)


def test_audio_tracks_named_with_artist_and_genre(played_store: tuple[Path, int]) -> None:
    db, played = played_store
    with Store(db, read_only=True) as store:
        got = store.con.execute(
            """SELECT t.track_id, t.title, a.name, t.genre FROM tracks t
               JOIN artists a USING (artist_id)
               WHERE t.track_id IN (SELECT track_id FROM track_features
                                    WHERE feature = 'audio_emb_000')"""
        ).df()
        n_tracks = store.con.execute("SELECT count(*) FROM tracks").fetchone()
    assert len(got) == 16 and n_tracks is not None and n_tracks[0] == 16
    # the played catalogue track and its clip are one track, not two
    assert played in set(got["track_id"])
    assert set(got["genre"]) == {"classical", "electronic", "pop", "rock"}
    assert got["title"].str.len().min() > 0 and got["name"].str.len().min() > 0


def test_candidates_for_a_listener_are_unplayed_tracks(played_store: tuple[Path, int]) -> None:
    db, played = played_store
    with Store(db, read_only=True) as store:
        ids, mat = load_embeddings(store)
        cands = audio_candidates(store, [played], n=10)
        plays = store.con.execute(
            "SELECT track_id, count(*) FROM events GROUP BY track_id"
        ).fetchall()
        # the whole list, and n larger than the catalogue
        every = audio_candidates(store, [played], n=1000)
        # ids the store does not know, or without an embedding, are ignored
        same = audio_candidates(store, [played, 10**9], n=10)
        none = audio_candidates(store, [10**9], n=10)
        two = audio_candidates(store, [played, int(cands["track_id"].iloc[0])], n=5)
    assert list(cands.columns) == COLUMNS and list(cands["rank"]) == list(range(1, 11))
    assert dict(plays) == {played: 3}
    assert played not in set(cands["track_id"])  # liked tracks are not offered again
    assert set(cands["track_id"]) <= set(int(i) for i in ids)
    sims = list(every["similarity"])
    assert len(every) == 15 and sims == sorted(sims, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in sims)
    assert list(every["track_id"][:10]) == list(cands["track_id"])
    assert same.equals(cands)
    assert none.empty and list(none.columns) == COLUMNS
    assert len(two) == 5 and not {played, int(cands["track_id"].iloc[0])} & set(two["track_id"])
    # the ranking is the mean cosine of centred embeddings, as the cold-start protocol measured
    centred = mat - mat.mean(axis=0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    q = unit[list(ids).index(played)]
    expect = [int(ids[i]) for i in np.argsort(-(unit @ q), kind="stable") if ids[i] != played]
    assert list(every["track_id"]) == expect


def test_candidates_on_a_store_without_audio(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.duckdb") as store:
        got = audio_candidates(store, [1, 2], n=5)
    assert got.empty and list(got.columns) == COLUMNS


def test_device_choice() -> None:
    import torch

    assert str(resolve_device("cpu")) == "cpu"
    assert str(resolve_device("auto")) == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="device"):
        CNNConfig(device="tpu")


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="a CUDA GPU is present on this machine"
)
def test_cuda_asked_for_without_a_gpu_is_refused(small_clips: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda")
    r = CliRunner().invoke(
        app,
        ["audio", "train", "--data", str(small_clips), "--device", "cuda",
         "--db", str(tmp_path / "s.duckdb")],
    )  # fmt: skip
    assert r.exit_code == 64 and "CUDA" in r.output
    assert not (tmp_path / "s.duckdb.models").exists()

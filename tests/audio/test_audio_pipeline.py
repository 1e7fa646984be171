"""Decoding, log-mel, the cache, the clip folder, grouped folds and the CNN on real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encore.audio.clips import EMOTIONS, load_clips
from encore.audio.cnn import AudioModel, CNNConfig
from encore.audio.evaluate import grouped_folds
from encore.audio.signal import SAMPLE_RATE, AudioCache, decode, file_digest, log_mel
from encore.errors import ConfigError, DataError

TINY = CNNConfig(channels=(4, 8, 8, 16), epochs=2, batch_size=4, crop_frames=64, seed=3)


def test_log_mel_matches_librosa(genre_audio: Path) -> None:
    import librosa

    y = decode(genre_audio / "rock" / "emotify_rock_001.mp3")
    assert y.dtype == np.float32 and abs(y.size / SAMPLE_RATE - 10.0) < 0.1
    ours = log_mel(y)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_mels=64, fmax=11_025),
        ref=1.0,
        top_db=80.0,
    )
    assert ours.shape == ref.shape == (64, 432)
    assert np.abs(ours - ref).max() < 1e-3


def test_cache_keyed_by_digest(genre_audio: Path, tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    f = genre_audio / "pop" / "emotify_pop_001.mp3"
    first = cache.spectrogram(f)
    files = list(tmp_path.rglob("*.npy"))
    assert len(files) == 1 and file_digest(f) in files[0].name
    assert np.array_equal(cache.spectrogram(f), first)


def test_bad_audio_is_a_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "noise.mp3"
    bad.write_bytes(b"this is not audio" * 10)
    with pytest.raises(DataError, match=r"noise\.mp3"):
        decode(bad)
    with pytest.raises(DataError, match="no such audio file"):
        decode(tmp_path / "missing.wav")


def test_real_folder_groups_and_mood(genre_audio: Path) -> None:
    clips = load_clips(genre_audio)
    f = clips.frame
    assert len(f) == 400 and clips.genres == ["classical", "electronic", "pop", "rock"]
    assert f["group"].nunique() == 138  # one group per artist; the duplicate songs share one
    for genre, a, b in (("classical", 54, 80), ("pop", 53, 73), ("pop", 59, 66), ("rock", 70, 76)):
        ga = f.loc[f["file"] == f"{genre}/emotify_{genre}_{a:03d}.mp3", "group"].item()
        gb = f.loc[f["file"] == f"{genre}/emotify_{genre}_{b:03d}.mp3", "group"].item()
        assert ga == gb
    assert f["n_ratings"].sum() == 8407
    shares = f[list(EMOTIONS)].to_numpy()
    assert (shares >= 0).all() and (shares <= 1).all() and f["like_rate"].between(0, 1).all()
    for tr, te in grouped_folds(clips, 5, seed=0):
        assert not set(f["group"].iloc[tr]) & set(f["group"].iloc[te])
        assert set(f["genre"].iloc[te]) == set(clips.genres)


def test_bad_labels_name_file_line_field(tmp_path: Path, genre_audio: Path) -> None:
    (tmp_path / "a.mp3").symlink_to(genre_audio / "rock" / "emotify_rock_001.mp3")
    (tmp_path / "labels.csv").write_text("file,genre\na.mp3,rock\nb.mp3,pop\n")
    with pytest.raises(DataError) as err:
        load_clips(tmp_path)
    assert err.value.line == 3 and err.value.field == "file"
    (tmp_path / "labels.csv").write_text("file,style\na.mp3,rock\n")
    with pytest.raises(DataError) as err:
        load_clips(tmp_path)
    assert err.value.field == "genre"
    with pytest.raises(ConfigError):
        load_clips(tmp_path / "nowhere")


def test_cnn_seeded_and_round_trip(small_clips: Path, tmp_path: Path) -> None:
    clips = load_clips(small_clips)
    cache = AudioCache.default()
    specs = [cache.spectrogram(Path(p)) for p in clips.frame["path"]]
    y = clips.labels()
    a = AudioModel.fit(specs, y, clips.genres, TINY)
    b = AudioModel.fit(specs, y, clips.genres, TINY)
    emb_a, prob_a = a._forward(specs)
    assert emb_a.shape == (16, 16) and np.allclose(prob_a.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(emb_a, b.embed(specs), atol=1e-5)  # same seed, same network
    assert len(a.history.rows) == 2
    a.fit_mood(emb_a, clips.frame[list(EMOTIONS)].to_numpy(), EMOTIONS)
    path = a.save(tmp_path / "m.npz")
    back = AudioModel.load(path)
    emb_b, prob_b = back._forward(specs)
    assert np.allclose(prob_a, prob_b, atol=1e-6) and np.allclose(emb_a, emb_b, atol=1e-6)
    assert np.allclose(a.predict_mood(emb_a), back.predict_mood(emb_b))
    with pytest.raises(DataError, match="mel bands"):
        back.embed([np.zeros((32, 100), dtype=np.float32)])


def test_model_file_of_another_family(tmp_path: Path) -> None:
    from encore.persistence import save_archive

    p = save_archive(
        tmp_path / "x.npz", family="encore-genre-model", format_version=1, header={}, arrays={}
    )
    with pytest.raises(DataError):
        AudioModel.load(p)

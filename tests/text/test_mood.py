"""Mood quadrants: the rules, the lyrics model, the store, and the cross-validated numbers
on the real spotify_moods labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encore.data.store import Store
from encore.errors import ConfigError, DataError, UnknownIdError
from encore.persistence import save_archive
from encore.text import mood as moodlib
from encore.text.evaluate import evaluate_audio_mood, evaluate_lyrics_mood


@pytest.mark.parametrize(
    ("v", "a", "q"),
    [
        (0.8, 0.9, "happy"),
        (0.2, 0.9, "angry"),
        (0.2, 0.1, "sad"),
        (0.8, 0.1, "calm"),
        (0.5, 0.5, "happy"),
    ],
)
def test_quadrants(v: float, a: float, q: str) -> None:
    assert moodlib.quadrant(v, a) == q


def test_confidence_and_disagreement() -> None:
    assert moodlib.confidence(0.5, 0.9) == 0.0
    assert moodlib.confidence(0.9, 0.1) == pytest.approx(0.8)
    assert moodlib.disagreement(0.8, 0.2) == "sad lyrics, happy sound"
    assert moodlib.disagreement(0.2, 0.8) == "happy lyrics, sad sound"
    assert moodlib.disagreement(0.52, 0.3) is None  # sound too close to the centre
    assert moodlib.disagreement(None, 0.3) is None


def test_mood_rows_combine_sound_and_words() -> None:
    audio = pd.DataFrame({"valence": [0.9, 0.1], "energy": [0.8, 0.2]}, index=[1, 2])
    words = pd.DataFrame({"valence": [0.1, 0.3], "arousal": [0.6, 0.4]}, index=[1, 3])
    rows = moodlib.mood_rows(audio, words).set_index("track_id")
    assert rows.loc[1, "basis"] == "both"
    assert rows.loc[1, "valence"] == pytest.approx(0.5)  # equal weights on valence
    assert rows.loc[1, "arousal"] == pytest.approx(0.75 * 0.8 + 0.25 * 0.6)
    assert rows.loc[1, "disagreement"] == "sad lyrics, happy sound"
    assert (rows.loc[2, "basis"], rows.loc[2, "mood"]) == ("audio", "sad")
    assert (rows.loc[3, "basis"], rows.loc[3, "mood"]) == ("lyrics", "sad")


def test_lyrics_model_fit_save_load(tmp_path: Path, rng: np.random.Generator) -> None:
    x = rng.normal(size=(200, 5))
    y = np.column_stack([0.5 + 0.1 * x[:, 0], 0.5 - 0.1 * x[:, 1]])
    model = moodlib.LyricsMoodModel.fit(x, y, source="synthetic")
    back = moodlib.LyricsMoodModel.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(back.predict(x), model.predict(x))
    assert np.corrcoef(model.predict(x)[:, 0], y[:, 0])[0, 1] > 0.99
    with pytest.raises(DataError, match="at least"):
        moodlib.LyricsMoodModel.fit(x[:10], y[:10], source="few")
    other = save_archive(
        tmp_path / "o.npz", family="encore-genre-model", format_version=1, header={}, arrays={}
    )
    with pytest.raises(DataError):
        moodlib.LyricsMoodModel.load(other)


def test_audio_moods_into_the_store(moods_db: Path, tmp_path: Path) -> None:
    """spotify_moods has audio features and no lyrics (billboard has lyrics and no audio, so
    too few tracks to fit a lyrics model: moods come from sound alone, and a note says so)."""
    db = tmp_path / "m.duckdb"
    shutil.copy(moods_db, db)
    with Store(db) as store:
        rows = moodlib.compute_moods(store, db)
        n_audio = len(moodlib.audio_features(store))
        stored = store.df("SELECT mood, basis, count(*) AS n FROM track_moods GROUP BY ALL")
        assert any("lyrics left out" in n for n in rows.attrs["notes"])
        assert n_audio > 600
        assert stored["n"].sum() == n_audio == len(rows)
        assert set(stored["basis"]) == {"audio"}
        assert set(stored["mood"]) == set(moodlib.QUADRANTS)
        again = moodlib.compute_moods(store, db)  # replaces, never duplicates
        assert store.scalar("SELECT count(*) FROM track_moods") == len(again)
        # --mood filter on a named table: only that mood, ranks renumbered
        ids = store.df("SELECT track_id FROM track_moods ORDER BY track_id LIMIT 40")["track_id"]
        table = pd.DataFrame({"rank": range(1, 41), "item_id": ids, "score": np.linspace(1, 0, 40)})
        kept, note = moodlib.keep_mood(store, table, "sad", 5)
        assert (kept["mood"] == "sad").all() and list(kept["rank"]) == list(range(1, len(kept) + 1))
        assert kept["score"].is_monotonic_decreasing
        assert "candidates have that mood" in note
        assert moodlib.check_mood(store, " Calm ") == "calm"
        with pytest.raises(ConfigError, match="one of"):
            moodlib.check_mood(store, "melancholic")
        track = int(ids.iloc[0])
        info = moodlib.mood_of(store, track, db)
        assert info["mood"] in moodlib.QUADRANTS and info["audio_mood"] is not None
        with pytest.raises(UnknownIdError):
            moodlib.resolve_track(store, "no such song at all")


def test_sound_beats_majority_on_spotify_moods(moods_db: Path) -> None:
    """Five folds grouped by artist on the 686 labelled tracks: audio features separate the
    four classes far above the majority class; the unfitted quadrant rule sits in between."""
    with Store(moods_db, read_only=True) as store:
        table = evaluate_audio_mood(store).set_index(["method", "inputs"])
    assert table.attrs["n"] == 686
    majority = table.loc[("majority class", "-"), "accuracy"]
    rule = table.loc[("quadrant rule (no fitting)", "valence, energy"), "macro_f1"]
    full = table.xs("logistic regression").iloc[-1]
    assert majority < 0.32
    assert full["accuracy"] > majority + 0.35
    assert full["macro_f1"] > rule + 0.2 > 0.3


def test_words_evaluation_runs_on_real_lyrics(tcc_slice_db: Path, rng: np.random.Generator) -> None:
    """150 tcc lyrics (small setting); random stand-in embeddings keep it fast, so only the
    unfitted VADER row is checked against a direct computation."""
    from scipy.stats import spearmanr

    with Store(tcc_slice_db, read_only=True) as store:
        data = moodlib.lyrics_of(store).join(moodlib.audio_features(store), how="inner")
        emb = rng.normal(size=(len(data), 16)).astype(np.float32)
        corr, quad = evaluate_lyrics_mood(store, embeddings=emb)
    vader = moodlib.vader_scores(list(data["text"]))[:, 0]
    expect = spearmanr(vader, data["valence"]).statistic
    assert corr.attrs["n"] == len(data) > 120
    assert corr.loc[0, "valence_rho"] == pytest.approx(expect)
    assert corr[["valence_rho", "energy_rho"]].abs().le(1).all().all()
    assert set(quad["compare"]) == {
        "quadrant from words vs from sound",
        "majority quadrant vs from sound",
    }
    assert 0 <= quad.attrs["sad lyrics, happy sound"] <= 1

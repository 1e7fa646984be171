"""``encore audio train | predict | ingest | similar | evaluate`` end to end on 16 real clips
(small setting: a 1-epoch CNN; the measured setting is in docs/audio.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.audio.store import audio_candidates, load_embeddings
from encore.cli.main import app
from encore.data.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(small_clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("audio-db") / "s.duckdb"
    r = runner.invoke(
        app,
        [
            "audio",
            "train",
            "--data",
            str(small_clips),
            "--epochs",
            "1",
            "--db",
            str(db),
            "-f",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["clips"] == 16 and info["mood_head"] is True
    assert info["device"] in ("cpu", "cuda")  # auto: the GPU when torch sees one
    assert Path(info["model"]) == db.with_name(db.name + ".models") / "audio-cnn.npz"
    return db


def test_predict_genre_and_mood(trained: Path, small_clips: Path) -> None:
    clip = next(small_clips.glob("rock/*.mp3"))
    r = runner.invoke(app, ["audio", "predict", str(clip), "--db", str(trained), "-f", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    genre = [x for x in rows if x["kind"] == "genre"]
    assert [x["label"] for x in genre] and abs(sum(x["value"] for x in genre) - 1) < 1e-3
    assert {x["label"] for x in rows if x["kind"].startswith("mood")} == {
        "amazement", "solemnity", "tenderness", "nostalgia", "calmness",
        "power", "joyful_activation", "tension", "sadness",
    }  # fmt: skip
    assert all(0 <= x["value"] <= 1 for x in rows)


def test_ingest_then_similar_and_candidates(trained: Path, small_clips: Path) -> None:
    r = runner.invoke(
        app, ["audio", "ingest", str(small_clips), "--db", str(trained), "-f", "json"]
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["tracks"] == 16 and info["rejected"] == 0
    # again: the earlier ingest is replaced, not duplicated
    r = runner.invoke(
        app, ["audio", "ingest", str(small_clips), "--db", str(trained), "-f", "json"]
    )
    assert json.loads(r.stdout)["replaced_previous"] is True
    with Store(trained, read_only=True) as store:
        ids, mat = load_embeddings(store)
        assert mat.shape == (16, 96)
        titles = store.con.execute(
            "SELECT count(*) FROM tracks t JOIN artists a USING (artist_id)"
        ).fetchone()
        assert titles is not None and titles[0] == 16  # named by labels.csv: title + artist
        cands = audio_candidates(store, [int(ids[0])], n=5)
        assert len(cands) == 5 and int(ids[0]) not in set(cands["track_id"])
    with Store(trained, read_only=True) as store:
        # a file already in the store finds itself first when not excluded
        from encore.audio.cnn import AudioModel
        from encore.audio.signal import AudioCache
        from encore.audio.store import similar_tracks

        model = AudioModel.load(trained.with_name(trained.name + ".models") / "audio-cnn.npz")
        some = next(small_clips.glob("classical/*.mp3"))
        emb = model.embed([AudioCache.default().spectrogram(some)])[0]
        top = similar_tracks(store, emb, 1)
        assert top["similarity"].iloc[0] > 0.999
    clip = next(small_clips.glob("pop/*.mp3"))
    r = runner.invoke(
        app, ["audio", "similar", str(clip), "-n", "5", "--db", str(trained), "-f", "json"]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [x["rank"] for x in rows] == [1, 2, 3, 4, 5]
    sims = [x["similarity"] for x in rows]
    assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1 for s in sims)


def test_errors_have_exit_codes(tmp_path: Path, small_clips: Path) -> None:
    clip = next(small_clips.glob("pop/*.mp3"))
    r = runner.invoke(app, ["audio", "predict", str(clip), "--db", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 64 and "encoreaudiotrain" in "".join(r.output.split())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "labels.csv").write_text("file,genre\nmissing.mp3,rock\nx.mp3,pop\n")
    r = runner.invoke(app, ["audio", "evaluate", "--data", str(bad)])
    said = "".join(r.output.split())  # Rich wraps long messages, even inside a path
    assert r.exit_code == 65 and "labels.csv,line2,field'file'" in said


def test_evaluate_json(small_clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    r = runner.invoke(
        app,
        ["audio", "evaluate", "--data", str(small_clips), "--folds", "2", "--epochs", "1",
         "--k", "3", "--gtzan", str(Path(small_clips).parent / "nope.csv"), "--out", str(out), "-f", "json"],
    )  # fmt: skip
    assert r.exit_code == 65, r.output  # a missing GTZAN file is named
    r = runner.invoke(
        app,
        ["audio", "evaluate", "--data", str(small_clips), "--folds", "2", "--epochs", "1",
         "--k", "3", "--out", str(out), "-f", "json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    methods = {row["method"]: row for row in res["genre"]}
    assert {"majority", "classic+logreg", "cnn", "ensemble", "gtzan classic+logreg"} <= set(methods)
    assert all(0 <= row["accuracy"] <= 1 and row["n"] >= 2 for row in res["genre"])
    assert sum(map(sum, res["confusion"]["cnn"])) == 16  # each clip predicted once per seed
    assert {row["target"] for row in res["mood"]} >= {"calmness", "like_rate"}
    assert {row["method"] for row in res["coldstart"]} >= {"audio embedding", "classic features"}
    per_fold = pd.read_csv(out / "audio-coldstart_per_fold.csv")
    # 2 folds x 5 listeners (one per genre and "likes anything") x 4 methods
    assert len(per_fold) == 2 * 5 * 4 and set(per_fold["fold"]) == {1, 2}
    assert per_fold["p_same_genre"].between(0, 1).all()
    assert (out / "audio-confusion.png").stat().st_size > 0 and (
        out / "audio-confusion.html"
    ).exists()


def test_table_mode_shows_intervals_in_one_column() -> None:
    from encore.audio.cli import _compact

    t = pd.DataFrame(
        {"method": ["cnn", "one fold"], "accuracy": [0.6, 0.5], "accuracy_lo": [0.55, float("nan")],
         "accuracy_hi": [0.65, float("nan")], "n": [5, 1]}
    )  # fmt: skip
    out = _compact(t, ["accuracy"])
    assert list(out.columns) == ["method", "accuracy", "n"]
    assert list(out["accuracy"]) == ["0.600 [0.550, 0.650]", "0.500"]


def test_similar_says_why_a_list_is_short(trained: Path, small_clips: Path) -> None:
    """-n beyond the embedded tracks: the rows there are, and a note saying why (product
    check, round 2: `audio similar clip -n 5` on a store of 4 embedded clips listed 3,
    silently)."""
    r = runner.invoke(app, ["audio", "ingest", str(small_clips), "--db", str(trained)])
    assert r.exit_code == 0, r.output
    clip = next(small_clips.glob("pop/*.mp3"))
    r = runner.invoke(
        app, ["audio", "similar", str(clip), "-n", "40", "--db", str(trained), "-f", "json"]
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)) == 15  # 16 embedded, less the clip itself
    said = " ".join(r.stderr.split())
    assert "only 15 stored track(s) other than this clip have an audio embedding" in said
    r = runner.invoke(
        app, ["audio", "similar", str(clip), "-n", "3", "--db", str(trained), "-f", "json"]
    )
    assert len(json.loads(r.stdout)) == 3 and "only" not in r.stderr  # a full list: no note

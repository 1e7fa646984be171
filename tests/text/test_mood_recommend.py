"""``encore recommend USER --mood M`` end to end through the default model (for_you).

The store: the 20 listening histories and HetRec (the session's listeners store) plus
the Billboard lyrics and spotify_moods, whose 686 tracks carry audio features; ingest matches 222 of them to tracks
the listeners played, so ``encore moods compute`` gives those real (audio) moods. for_you is
trained beside the store with small settings (one training cut, 60 trees; said as such),
saved with its manifest as ``encore train`` saves it, and the command loads it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.recommenders import recommend as rec
from encore.recommenders.for_you import ForYou
from encore.text import mood as moodlib

pytest.importorskip("lightgbm")
runner = CliRunner()


@pytest.fixture(scope="module")
def mood_db(
    listeners_db: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    db = tmp_path_factory.mktemp("mood_recommend") / "store.duckdb"
    shutil.copy(listeners_db, db)
    with Store(db) as store:
        ingest(store, get_loader("spotify_moods"), shared_data / "spotify-moods")
        ingest(
            store, get_loader("billboard_lyrics"), shared_data / "lyrics-billboard-hot100-sample"
        )
        moodlib.compute_moods(store, db)  # from sound: too few tracks with both to fit words
    with Store(db, read_only=True) as store:
        from encore.recommenders.listeners import load_catalogue, load_community, load_history

        data = load_history(store), load_catalogue(store), load_community(store)
        state = rec._store_state(store)
    model = ForYou(train_cuts=(0.75,), n_estimators=60).fit(*data)
    path = model.save(rec.model_file(db, "for_you", "track"))
    manifest = {path.name: {"model": "for_you", "level": "track", **state}}
    (rec.models_dir(db) / rec.MANIFEST).write_text(json.dumps(manifest))
    return db


def _recommend(db: Path, *args: str) -> tuple[pd.DataFrame, str]:
    res = runner.invoke(app, ["recommend", *args, "--db", str(db), "-f", "json"])
    assert res.exit_code == 0, res.output
    return pd.DataFrame(json.loads(res.stdout)), res.stderr


def test_mood_filter_through_the_saved_for_you(mood_db: Path) -> None:
    user = "lh:user_05"
    with Store(mood_db, read_only=True) as store:
        stored = store.df("SELECT track_id, mood, basis FROM track_moods")
        played = store.scalar(
            "SELECT count(DISTINCT e.track_id) FROM events e JOIN track_moods m USING (track_id)"
        )
        # the list the filter draws from: the saved model's; a short mood list widens it
        # (x8 at a time) until the model has no more to give, here its whole list
        model = rec.load_model(rec.model_file(mood_db, "for_you", "track"))
        wide = rec.recommend_for_user(store, model, user, moodlib.MOOD_MAX_CANDIDATES).table
        first = rec.recommend_for_user(store, model, user, moodlib.candidates_for(5)).table
    assert len(first) < len(wide) < moodlib.MOOD_MAX_CANDIDATES
    assert set(stored["basis"]) == {"audio"} and played > 100
    moods = stored.set_index("track_id")["mood"]
    found = 0
    for mood in ("happy", "sad"):
        got, err = _recommend(mood_db, user, "-n", "5", "--mood", mood)
        assert "loaded for_you" in err
        assert f"--mood {mood}: " in err and "candidates have that mood" in err
        assert f"of {len(wide)} candidates" in err
        if len(got) < 5:  # a short list says why
            flat = " ".join(err.split())  # the console wraps long notes
            assert "have a stored mood" in flat and "--model item_knn" in flat
        want = wide[wide["item_id"].map(moods) == mood].head(5)
        # the first 5 of the default list that have the mood, in its order, renumbered
        assert got.get("item_id", pd.Series(dtype="int64")).tolist() == want["item_id"].tolist()
        if got.empty:
            continue
        assert got["rank"].tolist() == list(range(1, len(got) + 1))
        assert (got["mood"] == mood).all() and (got["mood_basis"] == "audio").all()
        assert got["score"].is_monotonic_decreasing
        assert got["because"].str.len().gt(0).all()  # still explained
        found += len(got)
    assert found > 0  # some moods are among the listener's new tracks


def test_mood_refusals(mood_db: Path, listeners_db: Path) -> None:
    res = runner.invoke(app, ["recommend", "lh:user_05", "--mood", "gloomy", "--db", str(mood_db)])
    assert res.exit_code == 64 and "--mood must be one of" in res.output
    res = runner.invoke(
        app,
        ["recommend", "lh:user_05", "--mood", "calm", "--level", "artist", "--db", str(mood_db)],
    )
    assert res.exit_code == 64 and "track-level" in res.output
    # a store without moods says how to compute them
    res = runner.invoke(
        app, ["recommend", "lh:user_05", "--mood", "calm", "--db", str(listeners_db)]
    )
    assert res.exit_code == 65 and "encore moods compute" in res.output


def test_demo_step(
    mood_db: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make demo``'s text step on the same store: sound moods written, the mood-filtered
    list from the saved for_you, the mood chart, and a Billboard summary with its chorus."""
    from encore.text import demo

    db = tmp_path / "demo.duckdb"
    shutil.copy(mood_db, db)
    shutil.copytree(rec.models_dir(mood_db), rec.models_dir(db))
    written = demo.run(db, tmp_path / "out", shared_data)
    assert [p.suffix for p in written] == [".png", ".html"]
    assert all(p.stat().st_size > 5_000 for p in written)
    printed = capsys.readouterr().out
    assert "moods from sound for 686 tracks" in printed
    assert f"for_you --mood happy for {demo.DEMO_LISTENER}" in printed
    assert "lyrics summary of 'Downtown'" in printed and "chorus" in printed
    with Store(db, read_only=True) as store:
        assert store.scalar("SELECT count(*) FROM track_moods WHERE basis = 'audio'") == 686

"""What a listener's list shows, and the --mood path that reuses one scoring.

- The model's score is not shown in the table a person reads (for_you's ranker gives most
  picks a negative score, which a listener reads as a bad match); CSV and JSON keep it as
  ``raw_score`` and, as before, ``score``; the list's order is the model's.
- ``--mood`` with for_you scores the listener's candidates once and selects each longer
  list from them: the answer is the one the recommend path gave when it answered again for
  each longer list (the reference loop below, the code as it was).

The store: the 20 listening histories and HetRec (the session's listeners store), the
session's for_you (small settings: one training cut, 60 trees, said as such) saved beside
it, and moods written for a seeded 3 % of the named tracks (sparse, so that a list of 200
candidates often holds too few of one mood and the list widens; the moods are made up,
which the filter does not care about).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store
from encore.recommenders import recommend as rec
from encore.recommenders.for_you import ForYou, Ranker
from encore.recommenders.listeners import NAMED_TRACKS, load_history
from encore.text import mood as moodlib

pytest.importorskip("lightgbm")
runner = CliRunner()
USERS = ("lh:user_05", "lh:user_13", "lh:user_18")


@pytest.fixture(scope="module")
def mood_db(
    listeners_db: Path, listeners_for_you: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    db = tmp_path_factory.mktemp("recommend_output") / "store.duckdb"
    shutil.copy(listeners_db, db)
    with Store(db) as store:
        ids = store.con.execute(f"SELECT t.track_id FROM {NAMED_TRACKS} ORDER BY 1").fetchnumpy()[
            "track_id"
        ]
        rng = np.random.default_rng(0)
        chosen = np.sort(rng.choice(ids, size=len(ids) * 3 // 100, replace=False))
        moods = rng.choice(moodlib.QUADRANTS, size=len(chosen))
        frame = pd.DataFrame({"track_id": chosen, "mood": moods})
        store.con.register("made_up", frame)
        store.con.execute(
            "INSERT INTO track_moods (track_id, mood, basis, confidence) "
            "SELECT track_id, mood, 'audio', 0.5 FROM made_up"
        )
        state = rec._store_state(store)
    path = rec.model_file(db, "for_you", "track")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(listeners_for_you, path)
    manifest = {path.name: {"model": "for_you", "level": "track", **state}}
    (rec.models_dir(db) / rec.MANIFEST).write_text(json.dumps(manifest))
    return db


def _model(db: Path) -> ForYou:
    model = rec.load_model(rec.model_file(db, "for_you", "track"))
    assert isinstance(model, ForYou)
    return model


def test_the_list_keeps_the_models_order_and_its_raw_score(mood_db: Path) -> None:
    model = _model(mood_db)
    with Store(mood_db, read_only=True) as store:
        for user in USERS:
            table = rec.recommend_for_user(store, model, user, 10).table
            history = load_history(store, [user])
            picks = model.recommend(user, history.events, history.likes, 10)
            # the model's picks, in its order (this store has no audio picks)
            assert table["item_id"].tolist() == [p.track_id for p in picks]
            assert table["rank"].tolist() == list(range(1, len(table) + 1))
            np.testing.assert_array_equal(table["raw_score"], [p.score for p in picks])
            assert table["raw_score"].is_monotonic_decreasing
            assert table["score"].equals(table["raw_score"])  # the old name, same number
            assert list(table.columns).index("raw_score") == list(table.columns).index("score") + 1
            shown = rec.for_people(table)
            assert "score" not in shown and "raw_score" not in shown
            assert shown["item_id"].tolist() == table["item_id"].tolist()
    # the for_you ranker's scores are mostly negative: why the table does not show them
    assert (table["raw_score"] < 0).any()


def test_the_command_shows_rank_and_reason_and_exports_raw_score(mood_db: Path) -> None:
    user = USERS[0]
    with Store(mood_db, read_only=True) as store:
        want = rec.recommend_for_user(store, _model(mood_db), user, 6).table
    args = ["recommend", user, "-n", "6", "--db", str(mood_db)]
    res = runner.invoke(app, [*args, "-f", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["item_id"] for r in rows] == want["item_id"].tolist()
    assert all(r["raw_score"] == r["score"] for r in rows)
    np.testing.assert_allclose([r["raw_score"] for r in rows], want["raw_score"])
    res = runner.invoke(app, [*args, "-f", "csv"])
    assert res.exit_code == 0, res.output
    header = res.stdout.splitlines()[0].split(",")
    assert header == ["rank", "item_id", "name", "artist", "genre", "score", "raw_score", "because"]
    res = runner.invoke(app, [*args, "-f", "table"])
    assert res.exit_code == 0, res.output
    assert "because" in res.stdout and "score" not in res.stdout
    # the table's rows in the model's order: each name's first line appears in rank order
    # (searched from the previous row on: two titles may share a first word)
    names = [str(n).split()[0] for n in want["name"]]
    at = [-1]
    for n in names:
        at.append(res.stdout.find(n, at[-1] + 1))
        assert at[-1] >= 0, (names, at, res.stdout)


def _reference_mood(
    store: Store, model: ForYou, user: str, k: int, mood: str
) -> rec.Recommendations:
    """The --mood path as it was before one scoring: the whole answer again per length."""
    wanted = moodlib.check_mood(store, mood)
    asked = moodlib.candidates_for(k)
    while True:
        wide = rec.recommend_for_user(store, model, user, asked)
        table, note = moodlib.keep_mood(store, wide.table, wanted, k)
        if len(table) >= k or len(wide.table) < asked or asked >= moodlib.MOOD_MAX_CANDIDATES:
            break
        asked = min(asked * 8, moodlib.MOOD_MAX_CANDIDATES)
    notes = [*wide.notes, note]
    if len(table) < k:
        notes.append(moodlib.short_list_hint(store, wanted, model.name))
    return rec.Recommendations(wide.user_id, wide.model, wide.level, table, notes)


def test_mood_answer_scores_once_and_equals_the_answer_per_length(
    mood_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(mood_db)
    widened = 0
    with Store(mood_db, read_only=True) as store:
        for user in USERS:
            for mood in ("calm", "happy"):
                want = _reference_mood(store, model, user, 10, mood)
                got = rec.recommend_for_user(store, model, user, 10, mood=mood)
                pd.testing.assert_frame_equal(got.table, want.table)
                assert got.notes == want.notes
                widened += not any(
                    f"of {moodlib.candidates_for(10)} candidates" in n for n in want.notes
                )
        # without the explanation too
        plain = rec.recommend_for_user(store, model, USERS[0], 5, mood="calm", explain=False)
        said = rec.recommend_for_user(store, model, USERS[0], 5, mood="calm")
        assert len(plain.table) and "because" not in plain.table
        pd.testing.assert_frame_equal(plain.table, said.table.drop(columns="because"))

        # one scoring of the candidates however often the list widens
        calls = {"candidates": 0, "score": 0}
        candidates, score = ForYou.candidates, Ranker.score

        def count_candidates(self: ForYou, prof: object) -> object:
            calls["candidates"] += 1
            return candidates(self, prof)  # type: ignore[arg-type]

        def count_score(self: object, c: object) -> object:
            calls["score"] += 1
            return score(self, c)  # type: ignore[arg-type]

        monkeypatch.setattr(ForYou, "candidates", count_candidates)
        monkeypatch.setattr(Ranker, "score", count_score)
        for user in USERS:
            rec.recommend_for_user(store, model, user, 10, mood="calm")
    assert widened >= 2  # the comparison covers lists that widened
    assert calls == {"candidates": len(USERS), "score": len(USERS)}


def test_the_http_answer_has_the_same_fields_and_order(mood_db: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from encore.serving.app import create_app
    from encore.serving.state import ServeSettings

    user = USERS[1]
    with Store(mood_db, read_only=True) as store:
        want = rec.recommend_for_user(store, _model(mood_db), user, 5).table
    with TestClient(create_app(ServeSettings(db=mood_db))) as client:
        r = client.get(f"/users/{user}/recommendations", params={"n": 5})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["item_id"] for i in items] == want["item_id"].tolist()
    assert set(want.columns) <= set(items[0])  # every column of the CLI's JSON, raw_score too
    np.testing.assert_allclose([i["raw_score"] for i in items], want["raw_score"])
    assert all(i["score"] == i["raw_score"] for i in items)

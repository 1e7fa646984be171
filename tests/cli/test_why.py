"""``encore why USER TRACK``: the reasons of ``recommend --explain``, for one track.

On the 20 real listening histories with the session's for_you (small settings: one
training cut, 60 trees)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store
from encore.errors import ConfigError, UnknownIdError
from encore.recommenders import recommend as rec
from encore.recommenders.for_you import ForYou
from encore.recommenders.why import resolve_track, why

runner = CliRunner()
USER = "lh:user_05"


@pytest.fixture(scope="module")
def model(listeners_for_you: Path) -> ForYou:
    loaded = rec.load_model(listeners_for_you)
    assert isinstance(loaded, ForYou)
    return loaded


def test_every_recommended_track_has_recommends_rank_and_reason(
    listeners_db: Path, model: ForYou
) -> None:
    with Store(listeners_db, read_only=True) as store:
        table = rec.recommend_for_user(store, model, USER, 10, explain=True).table
        assert len(table) == 10
        for row in table.itertuples():
            got = why(store, model, USER, str(row.item_id), 10)
            assert (got.status, got.rank, got.because) == ("recommended", row.rank, row.because)


def test_a_track_below_the_list_is_a_candidate_with_its_reason(
    listeners_db: Path, model: ForYou
) -> None:
    with Store(listeners_db, read_only=True) as store:
        long = rec.recommend_for_user(store, model, USER, 30, explain=True).table
        short = set(rec.recommend_for_user(store, model, USER, 3).table["item_id"])
        below = long[~long["item_id"].isin(short)].iloc[0]
        got = why(store, model, USER, str(below["item_id"]), 3)
    assert got.status == "candidate" and got.rank is None
    assert got.because.startswith(str(below["because"]) + "; but the ranker puts it at ")
    assert got.candidate_rank is not None and 1 <= got.candidate_rank <= got.candidates


def test_a_played_track_is_said_to_be_played(listeners_db: Path, model: ForYou) -> None:
    with Store(listeners_db, read_only=True) as store:
        tid, plays = store.con.execute(
            "SELECT track_id, count(*) FROM events WHERE user_id = ? AND track_id IN "
            "(SELECT track_id FROM tracks WHERE artist_id IS NOT NULL) "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1",
            [USER],
        ).fetchone()
        got = why(store, model, USER, str(tid))
    assert got.status == "already played" and got.rank is None
    assert f"({plays:,} events of this id)" in got.because


def test_tracks_by_title_and_unknown_tracks(listeners_db: Path) -> None:
    with Store(listeners_db, read_only=True) as store:
        tid, title = store.con.execute(
            "SELECT min(track_id), any_value(title) FROM tracks GROUP BY lower(title) "
            "HAVING count(*) = 1 ORDER BY 1 LIMIT 1"
        ).fetchone()
        assert resolve_track(store, title.upper()) == tid
        assert resolve_track(store, f"{tid:,}") == tid  # as the table prints it
        twice = store.scalar(
            "SELECT any_value(title) FROM tracks GROUP BY lower(title) HAVING count(*) > 1 "
            "ORDER BY 1 LIMIT 1"
        )
        with pytest.raises(ConfigError, match="tracks are titled"):
            resolve_track(store, twice)
        with pytest.raises(UnknownIdError):
            resolve_track(store, "999999999")


def test_cli_answers_and_exits(listeners_db: Path, listeners_for_you: Path) -> None:
    base = ["--db", str(listeners_db), "why", "--model-file", str(listeners_for_you)]
    with Store(listeners_db, read_only=True) as store:
        model = rec.load_model(listeners_for_you)
        first = rec.recommend_for_user(store, model, USER, 5).table.iloc[0]
    result = runner.invoke(app, [*base, USER, str(first["item_id"]), "-n", "5", "-f", "json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["status"] == "recommended" and answer["rank"] == 1
    assert answer["because"] == first["because"]
    table = runner.invoke(app, [*base, USER, str(first["item_id"])], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "recommended" in table.output and "because" in table.output
    typo = runner.invoke(app, [*base, "user_05", "1"])
    assert typo.exit_code == 66 and "did you mean lh:user_05?" in typo.output
    unknown = runner.invoke(app, [*base, USER, "999999999"])
    assert unknown.exit_code == 66 and "unknown track" in unknown.output

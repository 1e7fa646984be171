"""Genre resolution and minute estimates on a hand-made store whose answers are known.

The store (written row by row below, no loader) has artist rows that ingest did not
merge, the way they arrive from different sources:

======  =========================  =======  ====================================
artist  name                       genre    resolved by
======  =========================  =======  ====================================
1       The Beatles (mbid m1)      rock     (catalogue)
2       Beatles                    --       name: same key as 1 -> rock
3       Simon & Garfunkel          folk     (catalogue)
4       Simon and Garfunkel        --       name: "&" = "and" -> folk
5       Los Beatles (mbid m1)      --       mbid: same id as 1 -> rock
6       Drake x Beatles            --       credit: Drake unknown, Beatles rock -> rock
7       Fusion Band                --       tracks: its track's genre_raw "Jazz Fusion"
8       Nobody                     --       nothing: stays unknown (no model here)
======  =========================  =======  ====================================

Durations: t1 (artist 1) 180 s and t6 (artist 2) 100 s in the catalogue; t4 (artist 3)
240 s; t2 (artist 2) none, but full Spotify plays of 150 s and 120 s (and a skipped one of
200 s); t3 (artist 4) and t5 (artist 7) none at all. Global median over t1, t2, t4, t6:
165 s; artist 2's median (t2 150 s, t6 100 s): 125 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.analytics.api import run
from encore.data.resolve import coverage, key_sql, last_run, resolve
from encore.data.store import Store
from encore.errors import ConfigError, DataError


def _store(path: Path) -> Store:
    s = Store(path)
    s.execute(
        """
        INSERT INTO artists (artist_id, name, name_norm, mbid, genre, source, ingest_id) VALUES
        (1, 'The Beatles', 'beatles', 'm1', 'rock', 'a', 1),
        (2, 'Beatles!', 'beatles!', NULL, NULL, 'b', 1),
        (3, 'Simon & Garfunkel', 'simon & garfunkel', NULL, 'folk', 'a', 1),
        (4, 'Simon and Garfunkel', 'simon and garfunkel', NULL, NULL, 'b', 1),
        (5, 'Los Beatles', 'los beatles', 'm1', NULL, 'b', 1),
        (6, 'Drake x Beatles', 'drake x beatles', NULL, NULL, 'b', 1),
        (7, 'Fusion Band', 'fusion band', NULL, NULL, 'b', 1),
        (8, 'Nobody', 'nobody', NULL, NULL, 'b', 1)
        """
    )
    s.execute("INSERT INTO genre_map VALUES ('Jazz Fusion', 'jazz')")
    s.execute(
        """
        INSERT INTO tracks (track_id, title, title_norm, artist_id, duration_ms, genre_raw, genre,
                            source, ingest_id) VALUES
        (1, 'Help', 'help', 1, 180000, NULL, 'rock', 'a', 1),
        (2, 'Yesterday', 'yesterday', 2, NULL, NULL, NULL, 'b', 1),
        (3, 'Boxer', 'boxer', 4, NULL, NULL, NULL, 'b', 1),
        (4, 'Sound', 'sound', 3, 240000, NULL, 'folk', 'a', 1),
        (5, 'Jam', 'jam', 7, NULL, 'Jazz Fusion', 'jazz', 'b', 1),
        (6, 'Hey', 'hey', 2, 100000, NULL, NULL, 'b', 1)
        """
    )
    s.execute(
        """
        INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, ingest_id)
        VALUES
        ('u1', 1, 1, '2021-01-01 10:00', 180000, FALSE, 'spotify_basic', 1),
        ('u1', 2, 2, '2021-01-02 10:00', 150000, FALSE, 'spotify_basic', 1),
        ('u2', 2, 2, '2021-01-03 10:00', 120000, FALSE, 'spotify_basic', 1),
        ('u2', 2, 2, '2021-01-04 10:00', 200000, TRUE, 'spotify_basic', 1),
        ('u3', 2, 2, '2021-01-05 10:00', NULL, FALSE, 'lastfm_csv', 1),
        ('u3', 3, 4, '2021-01-06 10:00', NULL, FALSE, 'lastfm_csv', 1),
        ('u3', 5, 7, '2021-01-07 10:00', NULL, FALSE, 'lastfm_csv', 1),
        ('u3', NULL, 2, '2021-01-08 10:00', NULL, FALSE, 'lastfm_csv', 1),
        ('u3', NULL, 8, '2021-01-09 10:00', NULL, FALSE, 'lastfm_csv', 1)
        """
    )
    return s


@pytest.fixture
def hand(tmp_path: Path) -> Store:
    s = _store(tmp_path / "hand.duckdb")
    yield s
    s.close()


def test_resolution_key_folds_case_accents_the_and_featuring(hand: Store) -> None:
    keys = hand.execute(
        f"SELECT {key_sql('n')} FROM (SELECT unnest(?::VARCHAR[]) AS n)",
        [["The Beatles", "beatles", "Simon & Garfunkel", "Simon and Garfunkel",
          "Beyoncé feat. Jay-Z", "BEYONCE"]],
    ).fetchall()  # fmt: skip
    k = [r[0] for r in keys]
    assert k[0] == k[1] == "beatles"
    assert k[2] == k[3] == "simon and garfunkel"
    assert k[4] == k[5] == "beyonce"


def test_each_observed_step_and_what_it_adds(hand: Store) -> None:
    report = resolve(hand, predict=False)
    got = dict(
        hand.execute(
            "SELECT artist_id, genre || '/' || step FROM artist_resolution WHERE genre IS NOT NULL"
        ).fetchall()
    )
    assert got == {
        2: "rock/name",
        4: "folk/name",
        5: "rock/mbid",
        6: "rock/credit",
        7: "jazz/tracks",
    }
    assert hand.execute("SELECT genre FROM artist_resolution WHERE artist_id = 8").fetchall() == [
        (None,)
    ]
    steps = {r["step"]: r["plays"] for r in report["steps"]}
    # every play, skips too: t1 and t5 have a catalogue genre (t5 its own genre_raw, so
    # the tracks step resolves no further play of artist 7 here); artist 2's five plays
    # and artist 4's one by name
    assert steps == {
        "catalogue": 2,
        "name": 6,
        "mbid": 0,
        "credit": 0,
        "tracks": 0,
        "model": 0,
        "unknown": 1,
    }
    # the catalogue is not touched
    assert hand.execute("SELECT count(*) FROM artists WHERE genre IS NOT NULL").fetchall() == [(2,)]


def test_duration_rules_in_order(hand: Store) -> None:
    report = resolve(hand, predict=False)
    rules = dict(
        (r[0], (r[1], r[2]))
        for r in hand.execute("SELECT track_id, est_ms, rule FROM track_minutes").fetchall()
    )
    assert rules[1] == (180000, "track_duration")
    assert rules[2] == (150000, "longest_play")  # the skipped 200 s play does not count
    assert rules[3] == (240000, "genre_median")  # artist 4 resolved to folk by name
    assert rules[5] == (165000, "global_median")
    assert report["global_ms"] == 165000
    artist = dict(
        (r[0], (r[1], r[2]))
        for r in hand.execute(
            "SELECT artist_id, est_ms, est_rule FROM artist_resolution WHERE artist_id IN (2, 8)"
        ).fetchall()
    )
    assert artist == {2: (125000, "artist_median"), 8: (165000, "global_median")}
    # each full Spotify play's own length hidden: t1 from the catalogue (0 error), the two
    # t2 plays from each other's length (30 s off each)
    err = report["minutes"]
    assert err["plays"] == 3
    assert err["median_abs_error_min"] == pytest.approx(0.5)
    assert {r["rule"]: r["plays"] for r in err["by_rule"]} == {
        "longest_play": 2,
        "track_duration": 1,
    }


def test_analytics_count_every_play_with_bases(hand: Store) -> None:
    before = run(hand, "genres", start="2021-01-01", end="2021-01-31")
    assert "basis" not in before  # no resolution: the catalogue's genres, as before
    assert int(before.loc[before["genre"] == "(unknown)", "plays"].iloc[0]) == 6
    resolve(hand, predict=False)
    frame = run(hand, "genres", start="2021-01-01", end="2021-01-31").set_index("genre")
    assert frame.loc["rock", "basis"] == "observed"
    assert frame.loc["rock", "plays"] == 5  # t1, two counted t2 plays, a t2 scrobble, artist 2
    # 180 + 150 + 120 observed s; 150 (t2 longest play) + 125 (artist 2's median) estimated
    assert frame.loc["rock", "minutes"] == pytest.approx((180 + 150 + 120 + 150 + 125) / 60)
    assert frame.loc["rock", "estimated_minutes"] == pytest.approx((150 + 125) / 60)
    assert frame.loc["folk", "minutes"] == pytest.approx(4.0)  # t3: folk's median, 240 s
    assert frame.loc["jazz", "minutes"] == pytest.approx(2.75)  # t5: the global median
    assert frame.loc["(unknown)", "plays"] == 1
    assert frame["plays"].sum() == 8  # every counted play, one skip left out
    (footer,) = [n for n in frame.attrs["notes"] if n.startswith("coverage")]
    assert "87.5 % observed" in footer and "12.5 % unknown" in footer
    assert "62.5 % estimated, 0.0 % missing" in footer
    # the old numbers stay reproducible
    old = run(
        hand,
        "genres",
        start="2021-01-01",
        end="2021-01-31",
        genres_basis="catalogue",
        minutes_basis="observed",
    )
    assert old.drop(columns="share").equals(before.drop(columns="share"))
    # observed minutes only: plays without a duration add nothing
    obs = run(hand, "genres", start="2021-01-01", end="2021-01-31", minutes_basis="observed")
    assert "estimated_minutes" not in obs
    assert obs.set_index("genre").loc["rock", "minutes"] == pytest.approx(450 / 60)


def test_rankings_and_trend_carry_the_bases(hand: Store) -> None:
    resolve(hand, predict=False)
    top = run(hand, "top-artists", start="2021-01-01", end="2021-01-31", n=5)
    assert {"basis", "estimated_minutes"} <= set(top.columns)
    beatles = top[top["artist_id"] == 2].iloc[0]
    assert (beatles["genre"], beatles["basis"], beatles["plays"]) == ("rock", "observed", 4)
    trend = run(hand, "trend", start="2021-01-01", end="2021-01-31")
    assert trend["plays"].sum() == 8 and "basis" in trend


def test_info_coverage_and_bad_options(hand: Store) -> None:
    assert coverage(hand)["resolved"] is False
    with pytest.raises(ConfigError, match="--genres predicted needs"):
        run(hand, "genres", genres_basis="predicted")
    resolve(hand, predict=False)
    assert last_run(hand) is not None
    (overall,) = [r for r in coverage(hand)["by_source"] if r["source"] == "(all)"]
    assert overall["genre_unknown"] == pytest.approx(1 / 9, abs=1e-4)
    assert overall["minutes_missing"] == 0
    with pytest.raises(ConfigError, match="--genres must be one of"):
        run(hand, "genres", genres_basis="guessed")
    with pytest.raises(ConfigError, match="--min-probability"):
        run(hand, "genres", min_probability=1.5)


def test_empty_store_is_a_clear_error(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.duckdb") as s, pytest.raises(DataError, match="no artists"):
        resolve(s)


def test_resolve_command_reports_steps_and_coverage(hand: Store) -> None:
    import json

    from typer.testing import CliRunner

    from encore.cli.main import app

    path = hand.path
    hand.close()
    res = CliRunner().invoke(app, ["genre", "resolve", "--no-predict", "--db", path, "-f", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [s["step"] for s in out["steps"]][:2] == ["catalogue", "name"]
    assert out["model"] == {} and out["minutes"]["plays"] == 3
    (overall,) = [r for r in out["coverage"] if r["source"] == "(all)"]
    assert overall["minutes_missing"] == 0
    res = CliRunner().invoke(app, ["analytics", "genres", "--db", path, "--from", "2021-01-01"])
    assert res.exit_code == 0, res.output
    assert "coverage of the window's plays" in res.output

"""Catalogue attributes (issue 19): release year, language, artist country, duration, and
the listeners' country, with their bases.

Exact rules on a hand-made store first; then the shared data (the 20 listening histories,
HetRec, Spotify artist genres, the Million Song Subset, tcc, Billboard lyrics and Spotify
moods), resolved once for the module (about 30 s: the language of ~100k titles).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.attributes import (
    MIN_YEAR,
    attribute_coverage,
    clean_title,
    identify,
    nation_of,
    resolve_attributes,
)
from encore.data.cli import plan_all
from encore.data.info import store_info
from encore.data.ingest import ingest
from encore.data.store import Store

runner = CliRunner()


# ------------------------------------------------------------------ exact rules
def _catalogue(store: Store) -> None:
    """Artists, tracks and plays written directly (ingest 1, source 'hand')."""
    con = store.con
    con.execute(
        "INSERT INTO artists (artist_id, name, name_norm, country, source, ingest_id) VALUES "
        "(1, 'The Beatles', 'beatles', 'GB', 'hand', 1), (2, 'Beatles', 'beatles', NULL, 'hand', 1),"
        "(3, 'Simon & Garfunkel', 'simon garfunkel', NULL, 'hand', 1),"
        "(4, 'Simon and Garfunkel', 'simon and garfunkel', NULL, 'hand', 1),"
        "(5, 'Kent', 'kent', NULL, 'hand', 1)"
    )
    con.execute(
        "INSERT INTO tracks (track_id, title, title_norm, artist_id, duration_ms, release_year, "
        "language, source, ingest_id) VALUES "
        "(10, 'Yesterday', 'yesterday', 1, 125000, 2009, NULL, 'hand', 1),"  # a remaster's year
        "(11, 'Yesterday', 'yesterday', 2, NULL, 1965, NULL, 'hand', 1),"  # the original's
        "(12, 'The Boxer', 'boxer', 3, NULL, 1850, NULL, 'hand', 1),"  # not credible
        "(13, 'The Boxer', 'boxer', 4, NULL, 2015, NULL, 'hand', 1),"  # after its first play
        "(14, 'Mrs. Robinson', 'mrs robinson', 4, NULL, NULL, 'EN', 'hand', 1),"
        "(15, 'Sag mir wo die Blumen sind', 'sag mir wo die blumen sind', 5, NULL, NULL, NULL, 'hand', 1),"
        "(16, 'FMA track 12', 'fma track 12', NULL, NULL, NULL, NULL, 'hand', 1)"
    )
    con.execute(
        "INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, source, ingest_id) VALUES "
        "('u1', 13, NULL, TIMESTAMP '2010-05-01 10:00', 200000, 'hand', 1),"
        "('u1', 11, NULL, TIMESTAMP '2010-05-02 10:00', NULL, 'hand', 1)"
    )
    con.execute(
        "INSERT INTO artist_tags (artist_id, tag, source, ingest_id) VALUES "
        "(5, 'swedish indie', 'spotify_artist_genres', 1), (5, 'swedish pop', 'spotify_artist_genres', 1),"
        "(5, 'indie rock', 'spotify_artist_genres', 1)"
    )


def test_rules_on_a_hand_made_store(store: Store) -> None:
    _catalogue(store)
    report = resolve_attributes(store)
    ta = store.df("SELECT * FROM track_attributes ORDER BY track_id").set_index("track_id")
    # the earliest credible year wins across the same song (artist key + title)
    assert ta.loc[10, "release_year"] == 1965 and ta.loc[10, "year_basis"] == "matched"
    assert ta.loc[10, "year_track_id"] == 11
    assert ta.loc[11, "release_year"] == 1965 and ta.loc[11, "year_basis"] == "catalogue"
    # 1850 is before MIN_YEAR and 2015 after the track's first play (2010): neither counts,
    # and "Simon & Garfunkel" is "Simon and Garfunkel" for matching
    assert MIN_YEAR > 1850
    assert pd.isna(ta.loc[12, "release_year"]) and pd.isna(ta.loc[13, "release_year"])
    # language: the source's own column first (lower-cased), then the title
    assert ta.loc[14, "language"] == "en" and ta.loc[14, "language_basis"] == "catalogue"
    assert ta.loc[15, "language"] == "de" and ta.loc[15, "language_basis"] == "title"
    assert ta.loc[15, "language_confidence"] >= 0.9
    assert pd.isna(ta.loc[16, "language"])  # a placeholder title is not read
    # duration: the catalogue's, else an estimate with its rule
    assert ta.loc[10, "duration_basis"] == "catalogue" and ta.loc[10, "duration_ms"] == 125000
    assert ta["duration_ms"].notna().all()
    assert set(ta["duration_basis"]) <= {
        "catalogue", "longest_play", "artist_median", "genre_median", "global_median"
    }  # fmt: skip
    assert ta.loc[13, "duration_basis"] == "longest_play"
    aa = store.df("SELECT * FROM artist_attributes ORDER BY artist_id").set_index("artist_id")
    assert aa.loc[1, "country"] == "GB" and aa.loc[1, "country_basis"] == "catalogue"
    assert aa.loc[2, "country"] == "GB" and aa.loc[2, "country_basis"] == "matched"
    assert aa.loc[5, "country"] == "SE" and aa.loc[5, "country_basis"] == "genre_name"
    assert pd.isna(aa.loc[3, "country"]) and pd.isna(aa.loc[3, "country_basis"])
    # the report: before (catalogue columns) and after, by basis; a genre resolution was
    # run first for the minute estimates
    assert report["genre_resolution"] == "ran without the genre model"
    after = {(r["attribute"], r["entity"]): r for r in report["after"]}
    assert after[("release_year", "tracks")]["observed"] == 1  # track 11 only (10's is matched)
    assert after[("release_year", "tracks")]["derived"] == 1
    assert after[("duration", "tracks")]["unknown"] == 0
    assert after[("country", "artists")]["count"] == 5
    # the analytics inside each decade / country: exact counts over the two plays
    from encore.analytics.api import run

    window = {"start": "2010-01-01", "end": "2010-12-31"}
    dec = run(store, "genres", group="decade", **window)
    assert dict(zip(dec["group"], dec["plays"], strict=True)) == {"1960s": 1, "(unknown)": 1}
    assert dec.attrs["notes"][-1].startswith("decade of the window's plays: 50.0 % observed")
    top = run(store, "top-tracks", group="artist-country", n=5, **window)
    assert top[["group", "track_id", "plays"]].values.tolist() == [
        ["GB", 11, 1],
        ["(unknown)", 13, 1],
    ]
    trend = run(store, "trend", group="language", **window)
    assert set(trend["group"]) == {"(unknown)"} and trend["plays"].sum() == 2
    # a second run replaces, not appends
    resolve_attributes(store)
    assert store.scalar("SELECT count(*) FROM track_attributes") == 7
    assert store.scalar("SELECT count(*) FROM attribute_runs") == 1


def test_nation_of_and_titles() -> None:
    assert nation_of("swedish indie") == "SE"
    assert nation_of("k-pop") == "KR"
    assert nation_of("atl hip hop") == "US"
    assert nation_of("south african house") == "ZA"
    assert nation_of("indie rock") is None
    assert nation_of("latin") is None  # a language family, not a nation
    assert clean_title("Wish You Were Here - 2011 Remaster") == "Wish You Were Here"
    assert clean_title("Song (feat. Someone) [Live]") == "Song"
    assert clean_title("jodie song 94") == "" and clean_title("blues.00007.wav") == ""
    assert clean_title("1999") == ""
    langs, probs = identify(["사랑해", "Смысл жизни", ""])
    assert list(langs) == ["ko", "ru", ""] and probs[0] > 0.9 and probs[2] == 0.0


@pytest.mark.parametrize("declared_first", [True, False])
def test_a_declared_country_is_kept_over_one_from_plays(
    shared_data: Path, tmp_path: Path, declared_first: bool
) -> None:
    from encore.data.sources import get_loader

    histories = shared_data / "listening-histories"
    steps = [
        (get_loader("spotify_library"), histories / "user_13"),  # Userdata.json: US
        (get_loader("spotify_extended"), histories / "user_03"),  # conn_country: mostly AR
    ]
    with Store(tmp_path / "c.duckdb") as store:
        for loader, folder in steps if declared_first else steps[::-1]:
            ingest(store, loader, folder, user="lh:someone")
        row = store.execute(
            "SELECT country, country_basis FROM users WHERE user_id = 'lh:someone'"
        ).fetchone()
    assert row == ("US", "profile")


def test_catalogue_commands_refuse_before_a_run(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    Store(db).close()
    res = runner.invoke(app, ["catalogue", "resolve", "--db", str(db)])
    assert res.exit_code == 65 and "no tracks" in res.output
    res = runner.invoke(app, ["catalogue", "show", "1", "--db", str(db)])
    assert res.exit_code == 64 and "encore catalogue resolve" in res.output


# ------------------------------------------------------------------ shared data
@pytest.fixture(scope="module")
def resolved(
    shared_data: Path, listeners_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, Any]]]:
    path = tmp_path_factory.mktemp("attributes") / "a.duckdb"
    shutil.copyfile(listeners_db, path)  # the 20 histories, libraries and HetRec
    with Store(path) as store:
        for folder in (
            "spotify-artist-genres",
            "msd-subset-songs",
            "tcc-ceds-music-sample",
            "lyrics-billboard-hot100-sample",
            "spotify-moods",
        ):
            for loader, sub in plan_all(shared_data / folder):
                ingest(store, loader, sub)
        report = resolve_attributes(store)
    yield path, report


def test_coverage_before_and_after(resolved: tuple[Path, dict[str, Any]]) -> None:
    path, report = resolved
    before = {(r["attribute"], r["entity"]): r for r in report["before"]}
    after = {(r["attribute"], r["entity"]): r for r in report["after"]}
    for key, b in before.items():
        a = after[key]
        known = a["observed_share"] + a["derived_share"]
        assert known >= b["observed_share"] - 1e-9, key
        assert a["observed"] == b["observed"] or key[0] in ("release_year",), key
    # the catalogue knows no language; titles and lyrics give most plays one
    assert before[("language", "plays")]["observed"] == 0
    assert after[("language", "plays")]["derived_share"] > 0.4
    # every track and every play has a duration, observed or estimated
    assert after[("duration", "tracks")]["unknown"] == 0
    assert after[("duration", "plays")]["unknown_share"] < 0.01
    # genre names add artist countries well beyond MSD's locations
    assert after[("country", "artists")]["derived"] > 2 * after[("country", "artists")]["observed"]
    with Store(path, read_only=True) as store:
        ta = store.df("SELECT release_year, year_basis FROM track_attributes")
        years = ta["release_year"].dropna()
        assert years.between(MIN_YEAR, pd.Timestamp.now().year).all()
        # no year after the track's first play
        late = store.scalar(
            "SELECT count(*) FROM track_attributes ta JOIN (SELECT track_id, min(ts) AS f "
            "FROM events GROUP BY track_id) e USING (track_id) WHERE ta.release_year > year(e.f)"
        )
        assert late == 0
        assert (
            store.scalar(
                "SELECT count(*) FROM track_attributes ta JOIN tracks t USING (track_id) "
                "WHERE ta.year_basis = 'catalogue' AND ta.release_year <> t.release_year"
            )
            == 0
        )
        info = store_info(store)
        assert info["attribute_coverage"]["resolved"]
        assert attribute_coverage(store) == info["attribute_coverage"]["rows"]


def test_language_accuracy_against_implied_labels(resolved: tuple[Path, dict[str, Any]]) -> None:
    _, report = resolved
    ev = report["language_evaluation"]
    # tracks of the English lyrics datasets, from their titles (and artists) alone
    en = ev["lyrics_datasets"]["all"]
    assert en["items"] > 4000 and en["coverage"] > 0.7 and en["accuracy"] > 0.97
    # stricter thresholds decide fewer tracks and are right more often
    sweep = ev["lyrics_datasets"]["threshold_sweep"]
    assert sweep[0]["coverage"] >= sweep[-1]["coverage"]
    assert sweep[-1]["accuracy"] >= sweep[0]["accuracy"]
    # genre names that name a language: reported per language (the labels are noisy,
    # docs/data-model.md); Spanish and Italian titles are read well above chance
    per = {r["label"]: r for r in ev["genre_names"]["by_language"]}
    assert per["es"]["items"] > 100 and per["es"]["accuracy"] > 0.5
    assert "read_instead" in per["es"]
    # genre-name countries agree with MSD locations on most artists that have both
    assert report["country_evaluation"]["artists"] > 50
    assert report["country_evaluation"]["agreement"] > 0.75


def test_listener_country_from_plays_and_profile(resolved: tuple[Path, dict[str, Any]]) -> None:
    path, _ = resolved
    with Store(path, read_only=True) as store:
        users = store.df(
            "SELECT user_id, country, country_basis FROM users WHERE user_id LIKE 'lh:%'"
        ).set_index("user_id")
    # the three extended exports: the most frequent connection country of their plays
    for u in ("lh:user_01", "lh:user_02", "lh:user_03"):
        assert users.loc[u, "country_basis"] == "plays" and len(users.loc[u, "country"]) == 2
    # Userdata.json's declared country
    assert users.loc["lh:user_13", "country"] == "US"
    assert users.loc["lh:user_13", "country_basis"] == "profile"
    assert users.loc["lh:user_14", "country"] == "FR"


def test_cli_show_info_and_grouped_analytics(
    resolved: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, _ = resolved
    db = ["--db", str(path)]
    with Store(path, read_only=True) as store:
        tid = int(
            store.scalar("SELECT min(track_id) FROM track_attributes WHERE year_basis = 'matched'")
            or store.scalar("SELECT min(track_id) FROM track_attributes WHERE release_year > 0")
        )
    res = runner.invoke(app, ["catalogue", "show", str(tid), "--format", "json", *db])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)[0]
    assert row["release_year"] >= MIN_YEAR and row["year_basis"] in (
        "catalogue",
        "album",
        "matched",
    )
    res = runner.invoke(app, ["catalogue", "show", "999999999", *db])
    assert res.exit_code == 66
    res = runner.invoke(app, ["info", "--format", "json", *db])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)["attribute_coverage"]["rows"]
    assert {r["attribute"] for r in rows} >= {"release_year", "language", "duration", "country"}
    res = runner.invoke(app, ["info", *db])
    assert res.exit_code == 0 and "Catalogue attributes" in res.output
    window = ["--from", "2000-01-01", "--to", "2026-12-31"]
    res = runner.invoke(
        app,
        ["analytics", "genres", "--group", "language", *window, "--format", "json", *db,
         "--chart", str(tmp_path / "g.png")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    frame = pd.DataFrame(json.loads(res.stdout))
    with Store(path, read_only=True) as store:
        plays = store.scalar(
            "SELECT count(*) FROM events WHERE ts >= '2000-01-01' AND ts < '2027-01-01' "
            "AND NOT COALESCE(skipped, FALSE)"
        )
    assert frame["plays"].sum() == plays  # every counted play in exactly one group
    assert "en" in set(frame["group"]) and "(unknown)" in set(frame["group"])
    shares = frame.groupby("group")["share"].sum()
    assert (shares.round(6) == 1.0).all()
    assert (tmp_path / "g.png").stat().st_size > 10_000
    res = runner.invoke(
        app,
        ["analytics", "top-artists", "--group", "artist-country", "-n", "2", *window,
         "--format", "json", *db, "--chart", str(tmp_path / "t.html")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    top = pd.DataFrame(json.loads(res.stdout))
    assert (top.groupby("group")["rank"].max() <= 2).all() and "US" in set(top["group"])
    assert "<html" in (tmp_path / "t.html").read_text()[:2000].lower()
    res = runner.invoke(
        app,
        ["analytics", "trend", "--group", "decade", *window, "--format", "csv", *db,
         "--chart", str(tmp_path / "d.png")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    trend = pd.read_csv(pd.io.common.StringIO(res.stdout))
    assert (trend.groupby("period")["share"].sum().round(6) == 1.0).all()
    # every group in every period (zeros where it had no plays): lines bridge no gaps
    assert trend.groupby("period")["group"].nunique().nunique() == 1
    res = runner.invoke(app, ["analytics", "genres", "--group", "mood", *db])
    assert res.exit_code == 64 and "language, artist-country, decade" in res.output
    res = runner.invoke(
        app, ["analytics", "top-tracks", "--group", "decade", "--genre", "rock", *db]
    )
    assert res.exit_code == 64

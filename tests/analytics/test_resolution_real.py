"""Genre resolution and minute estimates on real data: the 20 shared listening histories
with the shared catalogue sources (Spotify artist genres, HetRec tags, the Million Song
Subset) loaded, the genre model fitted for real (logistic regression, about 20 s).

What is held here: unknown genre (observed + predicted at the default probability) far
below the catalogue's, observed-only coverage reported beside it, no play without minutes,
the estimates' error, and the old numbers reproducible with ``--genres catalogue
--minutes observed``. The model is fitted as ``encore genre resolve`` fits it, on every
labelled artist (about 30 s), so the issue's aim (under 15 % unknown) is held here as in
docs/coverage.md. A small setting (4,000 sampled artists) was tried: its sample, and so
its unknown share (23 % to 28 %), moved with the catalogue's ids.
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

from encore.analytics.api import run
from encore.cli.main import app
from encore.data.cli import plan_all
from encore.data.ingest import ingest
from encore.data.resolve import DEFAULT_MIN_PROBABILITY, coverage, resolve
from encore.data.store import Store

HISTORY_SOURCES = ("spotify_basic", "spotify_extended", "lastfm_csv")


@pytest.fixture(scope="module")
def resolved(
    shared_data: Path, listeners_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, dict[str, Any], pd.DataFrame]]:
    path = tmp_path_factory.mktemp("resolution") / "r.duckdb"
    shutil.copyfile(listeners_db, path)  # the 20 histories and HetRec (session fixture)
    store = Store(path)
    for folder in ("spotify-artist-genres", "msd-subset-songs"):
        for loader, sub in plan_all(shared_data / folder):
            ingest(store, loader, sub)
    before = run(store, "genres", start="2000-01-01", end="2030-12-31")
    report = resolve(store, seed=0)
    store.close()
    store = Store(path, read_only=True)  # as the CLI opens it
    yield store, report, before
    store.close()


def _histories(store: Store) -> dict[str, float]:
    rows = coverage(store)["by_source"]
    frame = pd.DataFrame([r for r in rows if r["source"] in HISTORY_SOURCES])
    w = frame["plays"] / frame["plays"].sum()
    return {c: float((frame[c] * w).sum()) for c in frame.columns if c not in ("source", "plays")}


def test_aims_on_the_shared_listeners(resolved: tuple[Store, dict[str, Any], pd.DataFrame]) -> None:
    store, report, _ = resolved
    cov = _histories(store)
    # observed + predicted at p >= 0.4: the aim, under 15 % (13.4 % on this store;
    # 13.7 % on the demo store, docs/coverage.md)
    assert cov["genre_unknown"] < 0.15
    # observed evidence alone leaves far more unknown, and it is reported beside it
    assert cov["genre_observed"] < 0.75
    assert cov["genre_observed"] >= cov["genre_observed_catalogue"]
    assert cov["minutes_missing"] < 0.02
    # the model is right more often on the predictions it is surer of
    by_t = {r["min_probability"]: r for r in report["model"]["by_threshold"]}
    assert by_t[DEFAULT_MIN_PROBABILITY]["accuracy"] > by_t[0.0]["accuracy"]
    # the estimate of a full Spotify play's length, its own length hidden, lands close
    assert report["minutes"]["plays"] > 10_000
    assert report["minutes"]["median_abs_error_min"] < 0.5


def test_old_numbers_reproducible_and_bases_add_up(
    resolved: tuple[Store, dict[str, Any], pd.DataFrame],
) -> None:
    store, _, before = resolved
    old = run(
        store,
        "genres",
        start="2000-01-01",
        end="2030-12-31",
        genres_basis="catalogue",
        minutes_basis="observed",
    )
    pd.testing.assert_frame_equal(old, before)
    new = run(store, "genres", start="2000-01-01", end="2030-12-31")
    assert new["plays"].sum() == before["plays"].sum()  # every play counted once
    unknown_new = new.loc[new["genre"] == "(unknown)", "plays"].sum()
    unknown_old = before.loc[before["genre"] == "(unknown)", "plays"].sum()
    # 39,673 of 139,400 unknown plays stay unknown
    assert unknown_new < 0.35 * unknown_old
    pred = run(store, "genres", start="2000-01-01", end="2030-12-31", genres_basis="predicted")
    assert set(pred["basis"]) == {"predicted"}
    assert pred["plays"].sum() == new.loc[new["basis"] == "predicted", "plays"].sum()
    # a higher threshold predicts fewer plays; observed ones never move
    strict = run(store, "genres", start="2000-01-01", end="2030-12-31", min_probability=0.8)
    assert strict.loc[strict["basis"] == "predicted", "plays"].sum() < pred["plays"].sum()
    assert (
        strict.loc[strict["basis"] == "observed", "plays"].sum()
        == new.loc[new["basis"] == "observed", "plays"].sum()
    )
    # minutes by scrobblers' genres are no longer zero: estimated minutes fill them
    scrobbles = run(store, "genres", source="lastfm_csv", start="2000-01-01", end="2030-12-31")
    assert (scrobbles["minutes"] > 0).all()
    assert scrobbles["minutes"].sum() == pytest.approx(scrobbles["estimated_minutes"].sum())


def test_observed_flags_give_the_old_numbers_only_before_resolution(
    resolved: tuple[Store, dict[str, Any], pd.DataFrame],
    listeners_db: Path,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """``--genres observed --minutes observed`` on a store ingested with ``--no-resolve``
    and never resolved is exactly the numbers from before resolution (no observed step ran,
    so the catalogue is all there is). On a resolved store ``observed`` also counts the
    genres the observed steps found (name, credit, tracks), so only ``--genres catalogue
    --minutes observed`` gives the old numbers there."""
    store, _, before = resolved
    path = tmp_path / "never-resolved.duckdb"
    shutil.copyfile(listeners_db, path)  # the same data as the resolved store, ingested
    for folder in ("spotify-artist-genres", "msd-subset-songs"):  # the CLI's way
        res = CliRunner().invoke(
            app, ["ingest", "--all", str(shared_data / folder), "--db", str(path), "--no-resolve"]
        )
        assert res.exit_code == 0, res.output
    flags = {"genres_basis": "observed", "minutes_basis": "observed"}
    whole = {"start": "2000-01-01", "end": "2030-12-31"}
    with Store(path, read_only=True) as never:
        observed = run(never, "genres", **whole, **flags)
        pd.testing.assert_frame_equal(observed, before)
        assert observed.attrs["notes"] == before.attrs["notes"]
        for question, kw in (("trend", {"every": "month"}), ("top-artists", {"n": 5})):
            pd.testing.assert_frame_equal(
                run(never, question, **whole, **kw, **flags), run(never, question, **whole, **kw)
            )
    cli = [
        "analytics", "genres", "--db", str(path), "--from", "2000-01-01", "--to", "2030-12-31",
        "--format", "json",
    ]  # fmt: skip
    default = CliRunner().invoke(app, cli)
    flagged = CliRunner().invoke(app, [*cli, "--genres", "observed", "--minutes", "observed"])
    assert default.exit_code == 0 and flagged.exit_code == 0, default.output + flagged.output
    assert flagged.stdout == default.stdout
    # after `encore genre resolve`, observed is not the old numbers: fewer plays unknown
    after = run(store, "genres", **whole, **flags)
    assert after["plays"].sum() == before["plays"].sum()
    unknown_after = after.loc[after["genre"] == "(unknown)", "plays"].sum()
    unknown_before = before.loc[before["genre"] == "(unknown)", "plays"].sum()
    assert 0 < unknown_before - unknown_after < unknown_before


def test_cli_outputs_basis_in_json_csv_and_chart(
    resolved: tuple[Store, dict[str, Any], pd.DataFrame], tmp_path: Path
) -> None:
    store, _, _ = resolved
    runner = CliRunner()
    db = store.path
    res = runner.invoke(
        app,
        ["analytics", "genres", "--db", db, "--from", "2000-01-01", "-f", "json",
         "--chart", str(tmp_path / "g.png")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["basis"] for r in rows} == {"observed", "predicted", "unknown"}
    assert (tmp_path / "g.png").stat().st_size > 10_000
    res = runner.invoke(
        app, ["analytics", "top-tracks", "--db", db, "-n", "2", "--genres", "observed", "-f", "csv"]
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith("genre,basis,rank,track_id")
    assert "predicted" not in res.stdout
    res = runner.invoke(app, ["info", "--db", db, "-f", "json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["resolution"]["steps"][0]["step"] == "catalogue"
    assert {r["source"] for r in info["play_coverage"]} >= {"(all)", *HISTORY_SOURCES}


def test_top_artists_by_listeners_are_exact_after_resolution(
    resolved: tuple[Store, dict[str, Any], pd.DataFrame],
) -> None:
    """Distinct listeners per (genre, artist) against a brute-force pandas count over the
    events, each play labelled as the analytics label it (track genre, else the artist's,
    else its resolved genre: observed, or predicted at p >= 0.4). An artist with observed
    and predicted plays in one genre is one row (basis ``mixed``), its listeners counted
    once over both."""
    store, _, _ = resolved
    got = run(store, "top-artists", start="2000-01-01", end="2030-12-31", by="listeners", n=10)
    events = store.df(
        """
        SELECT e.user_id, COALESCE(e.artist_id, t.artist_id) AS artist_id, t.genre AS tg,
               a.genre AS ag, r.genre AS rg, r.basis AS rb, r.probability AS rp
        FROM events e LEFT JOIN tracks t USING (track_id)
        LEFT JOIN artists a ON a.artist_id = COALESCE(e.artist_id, t.artist_id)
        LEFT JOIN artist_resolution r ON r.artist_id = COALESCE(e.artist_id, t.artist_id)
        WHERE NOT COALESCE(e.skipped, FALSE)
        """
    )
    ok = events["rb"].eq("observed") | (
        events["rb"].eq("predicted") & (events["rp"] >= DEFAULT_MIN_PROBABILITY)
    )
    events["genre"] = (
        events["tg"].fillna(events["ag"]).fillna(events["rg"].where(ok)).fillna("(unknown)")
    )
    events = events.dropna(subset=["artist_id"])
    truth = events.groupby(["genre", "artist_id"]).agg(
        want=("user_id", "nunique"), want_plays=("user_id", "size")
    )
    assert not got.duplicated(["genre", "artist_id"]).any()  # one row per genre and artist
    assert set(got["basis"]) <= {"observed", "predicted", "unknown", "mixed"}
    rows = got.join(truth, on=["genre", "artist_id"])
    assert (rows["listeners"] == rows["want"]).all()
    assert (rows["plays"] == rows["want_plays"]).all()
    assert len(rows) > 100
    # and they are the top of each genre: the same listener counts as the brute force's top
    for genre, part in got.groupby("genre"):
        best = truth.loc[genre, "want"].sort_values(ascending=False).head(len(part))
        assert part["listeners"].tolist() == best.tolist(), genre
    assert any(n.startswith("coverage of the window's plays") for n in got.attrs["notes"])


def test_ranking_charts_mark_predicted_and_mixed_rows(
    resolved: tuple[Store, dict[str, Any], pd.DataFrame], tmp_path: Path
) -> None:
    """The interactive ranking chart draws a predicted row hatched and a mixed one dotted
    (one pattern per bar, in the rows' order); the PNG says what the marks mean."""
    import re

    from encore.analytics.charts import save_chart

    store, _, _ = resolved
    got = run(store, "top-artists", start="2000-01-01", end="2030-12-31", by="listeners", n=10)
    # the real rows, and the same with the first rows' bases set (the marks must follow)
    forced = got.copy()
    forced.loc[forced.index[:3], "basis"] = ["predicted", "mixed", "predicted"]
    for frame in (got, forced):
        html = save_chart(frame, tmp_path / "top.html").read_text()
        shapes = re.findall(r'"pattern":\{"shape":\[([^\]]*)\]', html)
        marks = [m for shape in shapes for m in re.findall(r'"([^"]*)"', shape)]
        assert len(marks) == len(frame)
        assert marks.count("\\u002f") == int((frame["basis"] == "predicted").sum())
        assert marks.count(".") == int((frame["basis"] == "mixed").sum())
    assert "dotted = genre partly predicted" in html
    assert save_chart(forced, tmp_path / "top.png").stat().st_size > 10_000


def test_one_row_per_artist_merges_bases() -> None:
    """The merge of an artist's observed and predicted rows in one genre: sums, ``mixed``."""
    from encore.analytics.rankings import MIXED_BASIS, _one_row_per_artist

    m = pd.DataFrame(
        {
            "genre": ["rock", "rock", "rock", "pop"],
            "basis": ["observed", "predicted", "observed", "predicted"],
            "artist_id": [1, 1, 2, 1],
            "plays": [3, 2, 5, 7],
            "minutes": [1.5, 1.0, 2.0, 3.0],
            "_direct": [False, False, True, False],
        }
    )
    out = _one_row_per_artist(m).set_index(["genre", "artist_id"]).sort_index()
    assert out.loc[("rock", 1), "basis"] == MIXED_BASIS
    assert out.loc[("rock", 1), "plays"] == 5 and out.loc[("rock", 1), "minutes"] == 2.5
    assert not out.loc[("rock", 1), "_direct"]
    assert out.loc[("rock", 2), "basis"] == "observed" and out.loc[("pop", 1), "plays"] == 7
    assert len(out) == 3


def test_ingest_keeps_the_resolution_current(
    resolved: tuple[Store, dict[str, Any], pd.DataFrame],
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ingest into a resolved store brings the resolution up to date in its transaction:
    Last.fm 1K's 5,000 scrobbles (no durations, 72 artists new to the store) get estimated
    minutes and predicted genres from the saved model; ``--no-resolve`` leaves them out and
    the analytics say the resolution is stale; a failed refresh undoes the ingest."""
    from encore.data import resolve as resolution
    from encore.data.sources import get_loader
    from encore.errors import DataError

    store, _, _ = resolved
    saved = resolution.model_file(store)
    assert saved is not None and saved.exists()  # resolve() kept its model
    folder = shared_data / "lastfm-1k"
    dbs = {}
    for name in ("on", "off"):
        dbs[name] = tmp_path / f"{name}.duckdb"
        shutil.copyfile(store.path, dbs[name])
        shutil.copytree(saved.parent, Path(f"{dbs[name]}.models"))

    with Store(dbs["off"]) as s:
        plays = s.scalar("SELECT count(*) FROM events")

        def boom(*args: object, **kwargs: object) -> None:
            raise DataError("refresh failed")

        with monkeypatch.context() as m:
            m.setattr(resolution, "refresh", boom)
            with pytest.raises(DataError, match="refresh failed"):
                ingest(s, get_loader("lastfm1k"), folder, resolve=True)
        assert s.scalar("SELECT count(*) FROM events") == plays  # the ingest was undone
        result = ingest(s, get_loader("lastfm1k"), folder)  # the library's default: no refresh
        assert result.resolution is None
        off = {r["source"]: r for r in coverage(s)["by_source"]}["lastfm1k"]
        notes = run(s, "genres", source="lastfm1k", start="2000-01-01").attrs["notes"]
        assert any("ingested after the last genre resolution" in n for n in notes)

    res = CliRunner().invoke(app, ["ingest", "lastfm1k", str(folder), "--db", str(dbs["on"])])
    assert res.exit_code == 0, res.output
    assert "genre resolution brought up to date" in res.stderr
    with Store(dbs["on"], read_only=True) as s:
        on = {r["source"]: r for r in coverage(s)["by_source"]}["lastfm1k"]
        last = resolution.last_run(s)
        notes = run(s, "genres", source="lastfm1k", start="2000-01-01").attrs["notes"]
        unresolved = s.scalar(
            "SELECT count(*) FROM artists a ANTI JOIN artist_resolution r USING (artist_id)"
        )
    assert last is not None and last["model"] == "logreg"
    report = last["report"]
    assert report["refreshed"]["new_artists_predicted"] > 0
    assert report["model"]["holdout_accuracy"] > 0  # the full run's report is kept
    assert unresolved == 0  # every artist has its row (est_ms for artist-only plays)
    assert not any("ingested after" in n for n in notes)
    assert off["minutes_missing"] > 0.1 and on["minutes_missing"] == 0
    assert on["genre_predicted"] > off["genre_predicted"]
    assert on["genre_unknown"] < off["genre_unknown"]

"""Genre resolution and minute estimates on real data: the 20 shared listening histories
with the shared catalogue sources (Spotify artist genres, HetRec tags, the Million Song
Subset) loaded, the genre model fitted for real (logistic regression, about 20 s).

What is held here: unknown genre (observed + predicted at the default probability) far
below the catalogue's, observed-only coverage reported beside it, no play without minutes,
the estimates' error, and the old numbers reproducible with ``--genres catalogue
--minutes observed``. The issue's aim (under 15 % unknown) is measured with the model
fitted on every labelled artist, in docs/coverage.md; this module uses a small setting.
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


#: Small setting: the model is fitted on 4,000 labelled artists (all of them, ~26,000, by
#: `encore genre resolve`), so that the module runs in about a minute.
MAX_TRAIN = 4000


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
    report = resolve(store, seed=0, max_train=MAX_TRAIN)
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
    # observed + predicted at p >= 0.4. With the model fitted on all labelled artists
    # (`encore genre resolve`) this is 14.2 % (docs/coverage.md); the small setting here
    # (MAX_TRAIN) is less sure of itself and leaves about 23 %
    assert cov["genre_unknown"] < 0.27
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
    assert unknown_new < unknown_old / 2
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

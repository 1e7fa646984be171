"""The listener's-view evaluation on the real histories: honest setting, the aims it states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store
from encore.evaluation.listeners import ROWS, evaluate_listeners, report_markdown
from encore.recommenders.for_you import ForYouConfig

pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def report(listeners_db: Path):  # type: ignore[no-untyped-def]
    with Store(listeners_db, read_only=True) as store:
        # the default settings: the aims below are what the docs claim for them
        return evaluate_listeners(store, config=ForYouConfig())


def test_every_row_for_every_listener(report) -> None:  # type: ignore[no-untyped-def]
    per_user = report.per_user
    assert report.n_users >= 19  # the shared listeners with at least 50 named plays
    assert set(per_user["model"]) == {name for name, _ in ROWS}
    assert (per_user.groupby("model")["user_id"].nunique() == report.n_users).all()
    assert (per_user["named_share"] == 1.0).all()
    assert (per_user["heard_share"] == 0.0).all()
    assert (per_user["n"] == report.k).all()


def test_the_hybrid_beats_each_source_on_new_tracks_and_popularity_on_new_artists(
    report,  # type: ignore[no-untyped-def]
) -> None:
    means = report.per_user.groupby("model")[["track_ndcg", "track_recall", "artist_recall"]].mean()
    for single in ("popular", "more", "artist_cf", "track_cf", "genre"):
        assert means.loc["hybrid", "track_ndcg"] > 1.3 * means.loc[single, "track_ndcg"], means
        assert means.loc["hybrid", "track_recall"] > means.loc[single, "track_recall"], means
    # the thinnest margin, more-from-your-artists: 0.0187 against 0.0182 on this store (the
    # same on every build since ingest numbers new rows in a fixed order). It was 0.0193
    # before ingest stopped keeping unused artist and track rows, and 0.0186-0.0211 across
    # builds before the fixed order: a few % that the catalogue moves either way, which is
    # why it is held as "beats", and the NDCG margin above as 1.3x
    # (docs/listener-recommendations.md)
    assert means.loc["hybrid", "artist_recall"] > 2 * means.loc["popular", "artist_recall"]
    assert means.loc["hybrid_new_artists", "artist_recall"] > means.loc["hybrid", "artist_recall"]


def test_report_says_the_sample_is_small(report) -> None:  # type: ignore[no-untyped-def]
    text = report_markdown(report)
    assert "too small for intervals" in text
    assert "hybrid_wins_track_ndcg" in text


def test_cli_writes_the_report(listeners_db: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "evaluate-listeners",
            "--db",
            str(listeners_db),
            "--out",
            str(tmp_path),
            "-k",
            "10",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads((tmp_path / "listeners.json").read_text())
    assert payload["k"] == 10 and payload["small_sample"] is True
    assert {p.name for p in tmp_path.iterdir()} >= {
        "listeners.md",
        "listeners.csv",
        "listeners_per_user.csv",
        "listeners.png",
        "listeners.html",
    }
    bad = CliRunner().invoke(
        app, ["evaluate-listeners", "--db", str(listeners_db), "--fraction", "1.5"]
    )
    assert bad.exit_code != 0 and "--fraction" in bad.output

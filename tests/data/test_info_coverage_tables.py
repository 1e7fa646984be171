"""`encore info` on an 80-column terminal shows play coverage whole (product check, round
2: its one table of 9 share columns cut numbers, '513,7…' plays and '0.35…', and showed two
headers both as 'genre_obse…'). Now two tables in %, genre and minutes, that fit; the JSON
keeps the shares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("logs")
    (folder / "tracks.csv").write_text(
        "track_id,title,artist,duration_ms\nt1,Song One,Band A,200000\nt2,Song Two,Band B,\n"
    )
    # a quarter of t1's plays and a quarter of t2's have no ms_played
    rows = [
        f"u{i % 7},t{1 + i % 2},2024-01-{1 + i % 28:02d}T10:{i % 60:02d}:00,"
        + ("" if i % 4 in (0, 1) else f"{120000 + i}")
        for i in range(300)
    ]
    (folder / "events.csv").write_text("user_id,track_id,ts,ms_played\n" + "\n".join(rows) + "\n")
    path = folder / "s.duckdb"
    with Store(path) as store:
        ingest(store, get_loader("generic"), folder)
    return path


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("└"))
    return lines[start : end + 1]


def test_coverage_fits_80_columns(small_db: Path) -> None:
    result = runner.invoke(app, ["info", "--db", str(small_db)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    genre = _section(result.stdout, "Genre of plays, %")
    minutes = _section(result.stdout, "Minutes of plays, %")
    for table in (genre, minutes):
        assert all(len(line) <= 80 for line in table)
        assert not any("…" in line for line in table), "\n".join(table)
    header = " ".join(genre[:4])
    for name in ("source", "plays", "observed", "catalogue", "predicted", "unknown"):
        assert name in header
    assert all(name in " ".join(minutes[:4]) for name in ("observed", "estimated", "missing"))
    # every play counted: 300 plays, half with ms_played; the rest missing (no estimate
    # before `encore genre resolve`, which this store never ran)
    row = next(line for line in minutes if "(all)" in line)
    assert row.split("│")[2].strip() == "300"
    assert [c.strip() for c in row.split("│")[3:6]] == ["50", "0", "50"]


def test_json_keeps_the_shares(small_db: Path) -> None:
    result = runner.invoke(app, ["info", "--db", str(small_db), "-f", "json"])
    assert result.exit_code == 0, result.output
    cover = {r["source"]: r for r in json.loads(result.stdout)["play_coverage"]}
    assert cover["(all)"]["plays"] == 300
    assert cover["(all)"]["minutes_observed"] == pytest.approx(0.5)
    assert set(cover["(all)"]) >= {"genre_observed", "genre_observed_catalogue", "minutes_missing"}


def test_genre_resolve_shows_the_same_tables(small_db: Path, tmp_path: Path) -> None:
    """`encore genre resolve` ends with the same coverage, in the same two tables."""
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(small_db, db)
    result = runner.invoke(
        app, ["genre", "resolve", "--no-predict", "--db", str(db)], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    for title in ("Genre of plays, %", "Minutes of plays, %"):
        table = _section(result.stdout, title)
        assert all(len(line) <= 80 for line in table)
        assert not any("…" in line for line in table), "\n".join(table)
    # resolve estimates the minutes of every play without ms_played (t1's from its duration,
    # t2's without one by rule): half the plays, none missing
    row = next(line for line in _section(result.stdout, "Minutes of plays, %") if "(all)" in line)
    assert [c.strip() for c in row.split("│")[3:6]] == ["50", "50", "0"]

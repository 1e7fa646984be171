"""``encore analytics`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store

runner = CliRunner()


def _db(store: Store) -> str:
    path = store.path
    store.close()  # the CLI opens the file itself
    return path


def test_each_command_json_csv_table(tiny: Store, tmp_path: Path) -> None:
    db = _db(tiny)
    res = runner.invoke(app, ["analytics", "genres", "--db", db, "-f", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["genre"] for r in rows] == ["jazz", "rock", "(unknown)"]
    assert sum(r["plays"] for r in rows) == 9
    res = runner.invoke(app, ["analytics", "top-tracks", "--db", db, "-n", "1", "-f", "csv"])
    assert res.exit_code == 0, res.output
    assert (
        res.stdout.splitlines()[0]
        == "genre,rank,track_id,track,artist,plays,minutes,skips,listeners"
    )
    assert len(res.stdout.splitlines()) == 4
    res = runner.invoke(
        app, ["analytics", "top-artists", "--db", db, "--by", "listeners", "--country", "DE"]
    )
    assert res.exit_code == 0, res.output
    assert "Alpha" in res.stdout and "Gamma" not in res.stdout
    chart = tmp_path / "trend.png"
    res = runner.invoke(
        app,
        [
            "analytics",
            "trend",
            "--db",
            db,
            "--every",
            "week",
            "-g",
            "jazz",
            "-g",
            "rock",
            "--chart",
            str(chart),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert chart.stat().st_size > 0
    assert {r["genre"] for r in json.loads(res.stdout)} == {"jazz", "rock"}


def test_window_options(tiny: Store) -> None:
    db = _db(tiny)
    res = runner.invoke(
        app,
        [
            "analytics",
            "genres",
            "--db",
            db,
            "--from",
            "2021-02-01",
            "--to",
            "2021-02-28",
            "-f",
            "json",
            "--include-skips",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["genre"] == "rock"


def test_empty_window_exits_zero_with_the_span(tiny: Store) -> None:
    db = _db(tiny)
    res = runner.invoke(
        app, ["analytics", "genres", "--db", db, "--from", "2030-01-01", "--to", "2030-12-31"]
    )
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "outside the data" in text and "2021-01-01 – 2021-02-10" in text
    res = runner.invoke(
        app, ["analytics", "top-tracks", "--db", db, "--from", "2030-01-01", "-f", "json"]
    )
    assert res.exit_code == 0 and json.loads(res.stdout) == []


def test_errors_have_exit_codes(tiny: Store) -> None:
    db = _db(tiny)
    res = runner.invoke(
        app, ["analytics", "genres", "--db", db, "--from", "2021-03-01", "--to", "2021-01-01"]
    )
    assert res.exit_code == 64 and "is after --to" in res.output
    res = runner.invoke(app, ["analytics", "top-tracks", "--db", db, "--genre", "hiphop"])
    assert res.exit_code == 66 and "closest known genres: hip hop" in res.output
    res = runner.invoke(app, ["analytics", "genres", "--db", db, "--segment", "2"])
    assert res.exit_code == 64 and "encore segments fit" in res.output
    res = runner.invoke(app, ["analytics", "genres", "--db", db, "--chart", "x.jpg"])
    assert res.exit_code == 64 and ".png or .html" in res.output
    res = runner.invoke(app, ["analytics", "genres", "--db", db, "--from", "yesterday"])
    assert res.exit_code == 64 and "not a date" in res.output


def test_hetrec_says_tag_popularity(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = runner.invoke(
        app, ["analytics", "genres", "--db", str(real.path), "--source", "hetrec2011", "-f", "json"]
    )
    assert res.exit_code == 0, res.output
    assert "tag popularity" in " ".join(res.output.split())
    assert "tag_assignments" in json.loads(res.stdout)[0]

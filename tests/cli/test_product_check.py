"""What a person types, from the product check (docs/product.md journeys): the command
line takes an export folder as it was downloaded, and an explicit --db wins over ENCORE_DB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from encore.cli.main import app

runner = CliRunner()
LH = "listening-histories"


def test_explicit_top_level_db_wins_over_encore_db(tmp_path: Path) -> None:
    """`ENCORE_DB=a encore --db b doctor` reads b: an option typed wins over the environment."""
    env_db, typed_db = tmp_path / "env.duckdb", tmp_path / "typed.duckdb"
    result = runner.invoke(
        app, ["--db", str(typed_db), "doctor", "-f", "json"], env={"ENCORE_DB": str(env_db)}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["store"] == str(typed_db)
    # the command's own --db still wins over both, and ENCORE_DB alone still applies
    own = tmp_path / "own.duckdb"
    result = runner.invoke(
        app,
        ["--db", str(typed_db), "doctor", "--db", str(own), "-f", "json"],
        env={"ENCORE_DB": str(env_db)},
    )
    assert json.loads(result.stdout)["store"] == str(own)
    result = runner.invoke(app, ["doctor", "-f", "json"], env={"ENCORE_DB": str(env_db)})
    assert json.loads(result.stdout)["store"] == str(env_db)


@pytest.mark.parametrize("with_user", [True, False])
def test_ingest_takes_an_export_folder_alone(
    shared_data: Path, tmp_path: Path, with_user: bool
) -> None:
    """`encore ingest ~/Downloads/my_spotify_data` (no loader name) detects the formats of
    the folder: the streaming history and the library (likes, playlists) of one person."""
    folder = tmp_path / "my_spotify_data"
    folder.mkdir()
    src = shared_data / LH / "user_11"  # StreamingHistory0.json + YourLibrary.json
    for f in src.iterdir():
        shutil.copy(f, folder / f.name)
    db = tmp_path / "s.duckdb"
    args = ["ingest", str(folder), "--db", str(db), "-f", "json"]
    if with_user:
        args += ["--user", "me"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["source"] for r in rows} == {"spotify_basic", "spotify_library"}
    user = "me" if with_user else "lh:my_spotify_data"
    with duckdb.connect(str(db), read_only=True) as con:
        plays = con.execute("SELECT count(*) FROM events WHERE user_id = ?", [user]).fetchone()
        likes = con.execute("SELECT count(*) FROM likes WHERE user_id = ?", [user]).fetchone()
        others = con.execute("SELECT count(*) FROM events WHERE user_id <> ?", [user]).fetchone()
    assert plays is not None and plays[0] == sum(
        r["loaded"] for r in rows if r["table"] == "events"
    )
    assert plays[0] > 7000 and likes is not None and likes[0] > 200
    assert others == (0,)


def test_ingest_single_path_errors(tmp_path: Path) -> None:
    """One argument that is neither a loader nor a known export: say which, exit non-zero."""
    plain = tmp_path / "notes"
    plain.mkdir()
    (plain / "readme.txt").write_text("hello\n")
    result = runner.invoke(app, ["ingest", str(plain), "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 64
    said = " ".join(result.output.split())  # Rich wraps lines
    assert "notes: no known dataset format found" in said
    assert not (tmp_path / "s.duckdb").exists()
    result = runner.invoke(app, ["ingest", "spotify_basic", "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 64
    assert "give SOURCE and PATH" in " ".join(result.output.split())
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing"), "--db", str(tmp_path / "x")])
    assert result.exit_code in (64, 66)
    assert "missing: neither a source name nor an existing file or folder" in " ".join(
        result.output.split()
    )


def test_ingest_says_when_it_replaced_the_same_content_under_another_user(
    shared_data: Path, tmp_path: Path
) -> None:
    """The same export ingested again under another --user replaces the first ingest (the
    content is the ingest's identity): the plays change hands, and the command says so."""
    src = shared_data / LH / "user_08" / "scrobbles.csv"
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        shutil.copy(src, folder / "scrobbles.csv")
    db = tmp_path / "s.duckdb"
    ok = runner.invoke(app, ["ingest", "lastfm_csv", str(first), "--user", "u8", "--db", str(db)])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(
        app, ["ingest", "lastfm_csv", str(first), "--user", "u8", "--db", str(db)]
    )
    assert "replaced" not in again.output  # the same path and user: a plain re-run
    result = runner.invoke(
        app, ["ingest", "lastfm_csv", str(second), "--user", "w", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the note goes to stderr, mixed in here
    assert "already in the store as ingest 2" in said and str(first) in said
    assert "now belong to w" in said and "u8" in said
    with duckdb.connect(str(db), read_only=True) as con:
        users = con.execute("SELECT DISTINCT user_id FROM events").fetchall()
    assert users == [("w",)]


@pytest.mark.parametrize(
    ("loader", "user", "left_out", "reason"),
    [
        # 17,503 scrobbles in the file, 15,665 loaded: every one accounted for
        ("lastfm_csv", "user_04", 1_838, "Unix time 0 (unknown date) 643"),
        ("spotify_basic", "user_09", 26, "'Unknown Artist - Unknown Track' placeholder plays"),
        ("spotify_basic", "user_20", 1, "'Unknown Artist - Unknown Track' placeholder plays 1"),
    ],
)
def test_ingest_accounts_for_rows_left_out_by_rule(
    shared_data: Path, tmp_path: Path, loader: str, user: str, left_out: int, reason: str
) -> None:
    """Rows a documented rule leaves out (not errors) are counted in the answer, not only
    under -v: an analyst who compares the loaded plays with the file sees where each went."""
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["ingest", loader, str(shared_data / LH / user), "--db", str(db)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    rows = "row" if left_out == 1 else "rows"
    assert f"{left_out:,} {rows} left out by rule (not errors)" in said
    assert reason in said


def test_ingest_of_an_export_with_no_rows_says_so(tmp_path: Path) -> None:
    """A history file holding an empty list loads nothing: the answer says that in words
    (it was an empty table and nothing else)."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "StreamingHistory0.json").write_text("[]\n")
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["ingest", "spotify_basic", str(folder), "--db", str(db)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"spotify_basic {folder}: nothing loaded: no rows of this format" in said

"""CLI errors a person or a script trips over (product check): each exits with the sysexits
code that says what happened, and its message says what to do."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from encore.cli.common import LevelOpt, WeightingOpt
from encore.cli.main import app
from encore.data.dataset import WEIGHTINGS
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import DataError, SchemaError, StoreNotFoundError

runner = CliRunner()
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


# ---------------------------------------------------------------- 1. a missing store
@pytest.mark.parametrize(
    "args",
    [
        ["--db", "{db}", "info"],
        ["info", "--db", "{db}"],
        ["--db", "{db}", "recommend", "lh:user_05"],
        ["--db", "{db}", "analytics", "genres"],
    ],
)
def test_missing_store_exits_66_naming_the_path(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "other.duckdb"
    result = runner.invoke(app, [a.replace("{db}", str(db)) for a in args])
    assert result.exit_code == 66, result.output  # EX_NOINPUT, not 70 (a bug)
    assert f"no Encore store at {db}" in result.output
    assert "encore ingest" in result.output  # how to make one
    assert not db.exists()  # a reader made no file


def test_store_not_found_is_still_a_schema_error() -> None:
    # the HTTP API answers SchemaError with 503 store-unavailable: a missing store too
    assert issubclass(StoreNotFoundError, SchemaError)
    assert StoreNotFoundError.exit_code == 66 and SchemaError.exit_code == 70


# ---------------------------------------------------------------- 2. unknown users
@pytest.mark.parametrize(
    "args",
    [
        ["recommend", "user_05"],
        ["rl", "recommend", "user_05"],
        ["segments", "assign", "user_05"],
        ["analytics", "genres", "--user", "user_05"],
    ],
)
def test_unknown_user_names_the_closest_ids(listeners_db: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["--db", str(listeners_db), *args])
    assert result.exit_code == 66, result.output
    assert "unknown user: 'user_05'" in result.output
    assert "did you mean lh:user_05?" in result.output


# ---------------------------------------------------------------- 3. typos of commands
@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (["recomend", "me"], "'recommend'"),
        (["analytics", "genre"], "'genres'"),
        (["keys", "craete", "x"], "'create'"),
        (["segmnets"], "'segments'"),
    ],
)
def test_a_misspelt_command_suggests_the_closest(args: list[str], meant: str) -> None:
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 2
    assert f"Did you mean {meant}?" in result.output


# ---------------------------------------------------------------- 4. values and --help
@pytest.mark.parametrize(
    "args",
    [
        ["info", "--format", "yaml"],
        ["--format", "yaml", "info"],
        ["analytics", "genres", "-f", "x"],
    ],
)
def test_a_bad_choice_is_said_plainly(args: list[str]) -> None:
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 2
    assert "is not one of 'table', 'csv', 'json'" in result.output
    assert "Value error" not in result.output


@pytest.mark.parametrize(
    "command",
    [["recommend"], ["info"], ["analytics", "genres"], ["train"], ["evaluate"], ["serve"]],
)
def test_help_shows_no_value_for_flags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output  # --explain, --help, ... take no value
    lines = [ln for ln in result.output.splitlines() if "--verbose" in ln]
    assert lines and "<int>" not in lines[0]  # -v is counted, not given a number
    assert "<table|csv|json>" in result.output  # a choice still shows its values


def test_help_shows_the_choices_of_level_weighting_and_mood() -> None:
    result = runner.invoke(app, ["recommend", "--help"], env=WIDE)
    assert "<track|artist|album>" in result.output
    assert "<binary|plays|log1p|minutes|bm25|tfidf>" in result.output
    assert "<happy|angry|sad|calm>" in result.output
    bad = runner.invoke(app, ["recommend", "me", "--level", "trak"], env=WIDE)
    assert bad.exit_code == 2 and "'trak' is not one of 'track', 'artist', 'album'" in bad.output


def test_choice_options_match_the_library() -> None:
    from encore.text.mood import QUADRANTS

    assert get_args(get_args(WeightingOpt)[0]) == WEIGHTINGS
    assert set(get_args(get_args(LevelOpt)[0])) == {"track", "artist", "album"}
    result = runner.invoke(app, ["recommend", "--help"], env=WIDE)
    assert f"<{'|'.join(QUADRANTS)}>" in result.output  # --mood: the moods computed


# ---------------------------------------------------------------- 5. serve on a taken port
def test_serve_on_a_taken_port_fails_before_announcing(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    db = tmp_path / "s.duckdb"
    Store(db).close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["--db", str(db), "serve", "--port", str(port)], env=WIDE)
    assert result.exit_code == 75, result.output  # EX_TEMPFAIL
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "already in use" in result.output and "--port" in result.output
    assert "Encore serving" not in result.output


def test_serve_on_a_host_not_of_this_machine_is_a_usage_error(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    db = tmp_path / "s.duckdb"
    Store(db).close()
    result = runner.invoke(app, ["--db", str(db), "serve", "--host", "nosuch.invalid"], env=WIDE)
    assert result.exit_code == 64, result.output
    assert "cannot listen on nosuch.invalid:8000" in result.output
    assert "Encore serving" not in result.output


# ---------------------------------------------------------------- 6. dates that do not exist
EVENTS = "user_id,track_id,ts,ms_played,skipped\nalice,t1,2024-01-01T10:00:00Z,200000,\n"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2024-02-30", "not a real date"),
        ("2023-02-29T10:00:00Z", "not a real date"),
        ("2024-13-01 10:00:00", "not a real date"),
        ("2024-01-01T25:00:00", "not an ISO 8601 timestamp"),  # the day exists, the time not
        ("yesterday", "not an ISO 8601 timestamp"),
    ],
)
def test_generic_ingest_says_a_date_does_not_exist(
    tmp_path: Path, store: Store, value: str, reason: str
) -> None:
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "events.csv").write_text(EVENTS + f"bob,t2,{value},1000,\n")
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("generic"), folder)
    e = err.value
    assert (e.line, e.field) == (3, "ts") and e.file is not None and e.file.endswith("events.csv")
    assert reason in e.reason and repr(value) in e.reason
    if reason == "not a real date":
        assert "ISO 8601 timestamp" not in e.reason


def test_generic_ingest_leap_day_is_real(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "events.csv").write_text(EVENTS + "bob,t2,2024-02-29,1000,\n")
    ingest(store, get_loader("generic"), folder)
    assert store.scalar("SELECT count(*) FROM events") == 2

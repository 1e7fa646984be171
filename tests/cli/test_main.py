"""The command line: help everywhere, global options, errors -> messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from encore.cli.main import app

runner = CliRunner()


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for cmd in group.registered_commands:
        name = cmd.name or (cmd.callback.__name__ if cmd.callback else "")
        out.append((*prefix, name))
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        name = sub.name or ""
        out.append((*prefix, name))
        out.extend(_commands(sub.typer_instance, (*prefix, name)))
    return out


def test_every_command_has_help() -> None:
    commands = _commands(app)
    assert ("ingest",) in commands and ("info",) in commands and ("doctor",) in commands
    for cmd in commands:
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0, (cmd, result.output)
        assert "Usage" in result.output


def test_doctor_json_names_store(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["doctor", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["store"] == str(db.resolve())
    assert report["store_exists"] is False
    assert {p["package"] for p in report["optional"]} >= {"torch", "lightgbm"}


def test_global_options_before_command(tmp_path: Path) -> None:
    db = tmp_path / "g.duckdb"
    result = runner.invoke(app, ["--db", str(db), "--format", "json", "doctor"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["store"] == str(db.resolve())


def test_info_on_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code != 0
    assert "no Encore store" in result.output


def test_info_json_on_empty_store(tmp_path: Path) -> None:
    from encore.data.schema import LATEST_VERSION
    from encore.data.store import Store

    db = tmp_path / "e.duckdb"
    Store(db).close()
    result = runner.invoke(app, ["info", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["schema_version"] == LATEST_VERSION
    assert info["counts"] == []


def test_unknown_source_lists_known(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["ingest", "nosuchformat", str(tmp_path), "--db", str(tmp_path / "x.duckdb")]
    )
    assert result.exit_code != 0
    assert "unknown source" in result.output


@pytest.mark.parametrize("args", [["ingest"], ["ingest", "--on-error", "maybe", "--all", "."]])
def test_ingest_usage_errors(args: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, [*args, "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code != 0


def test_doctor_lists_only_parts_of_this_version(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--db", str(tmp_path / "s.duckdb"), "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {p["package"] for p in report["optional"]} == {
        "torch",
        "lightgbm",
        "openTSNE",
        "umap",
        "librosa",
        "soundfile",
        "py3langid",
        "pyspark",
        "s3fs",
    }
    words = json.dumps(report["optional"]).lower()
    assert not any(w in words for w in ("fastapi", "http"))


def test_default_store_is_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from encore.config import DEFAULT_DB, Settings, default_db_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENCORE_DB", raising=False)
    assert default_db_path() == Settings.from_env().db_path == Path(DEFAULT_DB)
    result = runner.invoke(app, ["doctor", "-f", "json"])
    assert json.loads(result.output)["store"] == str((tmp_path / DEFAULT_DB).resolve())
    result = runner.invoke(app, ["doctor", "-f", "json"], env={"ENCORE_DB": ""})
    assert json.loads(result.output)["store"] == str((tmp_path / DEFAULT_DB).resolve())
    env_db = tmp_path / "env.duckdb"
    monkeypatch.setenv("ENCORE_DB", str(env_db))
    assert default_db_path() == env_db
    for args in (["doctor", "-f", "json"], ["-f", "json", "doctor"]):
        result = runner.invoke(app, args, env={"ENCORE_DB": str(env_db)})
        assert json.loads(result.output)["store"] == str(env_db.resolve())
    flag_db = tmp_path / "flag.duckdb"
    result = runner.invoke(
        app, ["doctor", "--db", str(flag_db), "-f", "json"], env={"ENCORE_DB": str(env_db)}
    )
    assert json.loads(result.output)["store"] == str(flag_db.resolve())

"""cli.common's shared pieces: with_state (the --db/--format/-v options), emit_json,
write_csvs, say_written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from encore.cli.common import (
    OutputFormat,
    State,
    emit_json,
    say_written,
    sub_app,
    with_state,
    write_csvs,
)
from encore.errors import ConfigError


def _app() -> typer.Typer:
    app = sub_app("A test group.")

    @app.command("show")
    @with_state
    def show(
        st: State,
        name: Annotated[str, typer.Argument(help="A name.")],
        times: Annotated[int, typer.Option("--times", help="How often.")] = 1,
    ) -> None:
        """Show the resolved state."""
        if times < 1:
            raise ConfigError("--times must be at least 1")
        emit_json({"db": str(st.db), "fmt": st.fmt.value, "name": name * times})

    @app.command("other")
    def other() -> None:
        """A second command, so that the group keeps its sub-commands."""

    return app


def test_with_state_adds_the_shared_options_after_the_commands_own(tmp_path: Path) -> None:
    runner = CliRunner()
    app = _app()
    help_text = runner.invoke(app, ["show", "--help"], env={"COLUMNS": "200"}).output
    assert help_text.index("--times") < help_text.index("--db") < help_text.index("--format")
    assert help_text.index("--format") < help_text.index("--verbose")
    out = runner.invoke(app, ["show", "ab", "--times", "2", "--db", str(tmp_path / "s.duckdb")])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {
        "db": str(tmp_path / "s.duckdb"),
        "fmt": "table",
        "name": "abab",
    }
    assert json.loads(runner.invoke(app, ["show", "x", "-f", "csv"]).output)["fmt"] == "csv"
    # the group's error edge: an EncoreError is a message and its exit code
    bad = runner.invoke(app, ["show", "x", "--times", "0"])
    assert bad.exit_code == ConfigError.exit_code and "--times must be at least 1" in bad.output
    assert runner.invoke(app, []).exit_code in (0, 2)  # no command: the group's help


def test_with_state_needs_an_st_parameter() -> None:
    def no_state(name: str) -> None:
        pass

    with pytest.raises(TypeError, match="st: State"):
        with_state(no_state)


def test_emit_json_frames_as_records(capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"a": [1, 2], "when": pd.to_datetime(["2024-01-01", "2024-02-01"])})
    emit_json({"rows": frame, "n": 2, "none": None})
    got = capsys.readouterr().out
    assert got.endswith("}\n")
    assert json.loads(got) == {
        "rows": [{"a": 1, "when": "2024-01-01T00:00:00"}, {"a": 2, "when": "2024-02-01T00:00:00"}],
        "n": 2,
        "none": None,
    }


def test_write_csvs_and_say_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_csvs(tmp_path / "new", {"one": pd.DataFrame({"x": [1]}), "skipped": None})
    assert paths == [tmp_path / "new" / "one.csv"]
    assert paths[0].read_text() == "x\n1\n"
    say_written(paths)
    say_written(["b.png"], stderr=True)
    out = capsys.readouterr()
    assert "wrote" in out.out and "one.csv" in out.out and "wrote b.png" in out.err
    assert OutputFormat("json") is OutputFormat.json

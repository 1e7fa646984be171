"""`encore audio train` / `audio evaluate` without --data, where the default folder
(ENCORE_DATA/genre-audio, ../shared/data unset) is not there, say how to point at the
clips (product check, round 2: run outside the checkout, the message was only
'../shared/data/genre-audio: no such folder', with no hint of --data or ENCORE_DATA)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_missing_default_folder_names_data_and_encore_data(tmp_path: Path, command: str) -> None:
    nowhere = tmp_path / "no-data"
    result = runner.invoke(
        app,
        ["audio", command, "--db", str(tmp_path / "s.duckdb")],
        env={"ENCORE_DATA": str(nowhere)},
    )
    assert result.exit_code == 64, result.output
    said = " ".join(result.stderr.split())
    assert f"{nowhere / 'genre-audio'}: no such folder" in said
    assert "--data FOLDER" in said and "ENCORE_DATA" in said
    assert not (tmp_path / "s.duckdb").exists()  # nothing written


def test_an_explicit_missing_folder_is_still_named(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["audio", "train", "--data", str(tmp_path / "clips"), "--db", str(tmp_path / "s.duckdb")],
    )
    assert result.exit_code == 64, result.output
    assert f"{tmp_path / 'clips'}: no such folder" in " ".join(result.stderr.split())

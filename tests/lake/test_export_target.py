"""`encore export events --to DIR` where DIR cannot be created names DIR, never the
temporary folder written beside it (product check, round 2: `--to /proc/lake` said
'No such file or directory (/proc/.lake.tmp-1796282739303)', and a parent that is a
file said only 'File exists (afile)'). Exit 74 (an I/O error), nothing left behind."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store

runner = CliRunner()


def _empty_store(tmp_path: Path) -> Path:
    db = tmp_path / "s.duckdb"
    Store(db).close()
    return db


def test_parent_is_a_file(tmp_path: Path) -> None:
    db = _empty_store(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    target = tmp_path / "afile" / "lake"
    result = runner.invoke(app, ["export", "events", "--db", str(db), "--to", str(target)])
    assert result.exit_code == 74, result.output
    said = " ".join(result.stderr.split())
    assert f"--to {target}: cannot create the lake folder" in said
    assert str(tmp_path / "afile") in said  # the file in the way
    assert ".tmp-" not in said


def test_folder_that_cannot_be_made_names_the_target(tmp_path: Path) -> None:
    """/proc refuses new entries even to root, so this holds for any user."""
    db = _empty_store(tmp_path)
    result = runner.invoke(app, ["export", "events", "--db", str(db), "--to", "/proc/encore-lake"])
    assert result.exit_code == 74, result.output
    said = " ".join(result.stderr.split())
    assert "--to /proc/encore-lake: cannot create the lake folder" in said
    assert ".tmp-" not in said


def test_a_writable_target_still_works(tmp_path: Path) -> None:
    db = _empty_store(tmp_path)
    target = tmp_path / "new" / "lake"
    result = runner.invoke(app, ["export", "events", "--db", str(db), "--to", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "manifest.json").is_file()
    assert [p.name for p in target.parent.iterdir()] == ["lake"]  # no temporary folder left

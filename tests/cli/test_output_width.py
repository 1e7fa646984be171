"""Output that is not a terminal (a pipe, a file, a CI log) is printed at its natural width:
every table cell and every note whole on one line, not squeezed into Rich's 80 columns; an
explicit COLUMNS and a real terminal keep Rich's fitting.

The store is Last.fm 1K's real 5,000-event sample (one listener, 1,192 tracks), whose
titles run to 125 columns (the longest in Japanese, two columns a character).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.cells import cell_len
from rich.rule import Rule
from rich.table import Table
from typer.testing import CliRunner

from encore.cli import common
from encore.cli.console import EncoreConsole, console, err_console
from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store

runner = CliRunner()

#: Every track of the sample, ranked in one window wide enough for all its plays.
TOP_ALL = ["analytics", "top-tracks", "--from", "2000-01-01", "--top", "2000"]
HEADER = ("genre", "rank", "track_id", "track", "artist", "plays", "listeners")
LONG_TITLE = "Bring It Home Featuring Imogen Heap (Safe Blag Mix)"


@pytest.fixture(scope="module")
def lastfm1k_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = tmp_path_factory.mktemp("width") / "l1k.duckdb"
    with Store(path) as store:
        ingest(store, get_loader("lastfm1k"), shared_data / "lastfm-1k")
    return path


@pytest.fixture
def no_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a pipe or a CI job: no COLUMNS (a shell may export one)."""
    monkeypatch.delenv("COLUMNS", raising=False)


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("┃", "│"))]


def _titles(db: Path) -> list[str]:
    out = runner.invoke(app, ["--db", str(db), *TOP_ALL, "--format", "json"])
    assert out.exit_code == 0, out.output
    return [row["track"] for row in json.loads(out.stdout)]


@pytest.mark.usefixtures("no_columns")
def test_piped_table_has_every_cell_whole(lastfm1k_db: Path) -> None:
    titles = _titles(lastfm1k_db)
    assert len(titles) > 1000 and max(map(cell_len, titles)) == 125  # the data's longest
    result = runner.invoke(app, ["--db", str(lastfm1k_db), *TOP_ALL])
    assert result.exit_code == 0, result.output
    lines = _table_lines(result.stdout)
    header = lines[0]
    assert all(f" {name} " in header for name in HEADER), header
    body = lines[1:]
    assert len(body) == len(titles)  # one line per row: nothing folded onto a second line
    assert "…" not in result.stdout  # nothing ellipsised
    for title, line in zip(titles, body, strict=True):
        assert f"│ {title} " in line, (title, line)
    widths = {cell_len(line) for line in lines}
    assert len(widths) == 1 and widths.pop() > 200  # one natural width, far past 80
    # the note on stderr (window coverage) is one line, not folded at 80 columns
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes and all(cell_len(n) > 80 for n in notes), result.stderr
    assert len(result.stderr.splitlines()) == len(notes)


@pytest.mark.usefixtures("no_columns")
def test_real_pipe_of_the_installed_command(lastfm1k_db: Path) -> None:
    """The user's case: ``encore ... | cat``, through a real pipe (no terminal anywhere)."""
    encore = Path(sys.executable).parent / "encore"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    done = subprocess.run(
        [str(encore), "--db", str(lastfm1k_db), *TOP_ALL[:-1], "300"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = _table_lines(done.stdout)
    assert all(f" {name} " in lines[0] for name in HEADER)
    long = [line for line in lines if LONG_TITLE in line]
    assert len(long) == 1, "the long title is on one line"
    assert "[セーフ・ブラグ・ミックス]/セーフ・ブラグ・ミックス │ Nitin Sawhney" in long[0]
    assert len(lines) == 301  # header + 300 rows, none folded


def test_columns_is_honoured(lastfm1k_db: Path) -> None:
    result = runner.invoke(
        app, ["--db", str(lastfm1k_db), *TOP_ALL[:-1], "300"], env={"COLUMNS": "60"}
    )
    assert result.exit_code == 0, result.output
    out_lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in out_lines) == 60
    assert max(cell_len(line) for line in result.stderr.splitlines()) <= 60
    assert not any(LONG_TITLE in line for line in out_lines)  # folded to fit, as asked


def test_terminal_keeps_fitting_the_terminal(
    monkeypatch: pytest.MonkeyPatch, no_columns: None
) -> None:
    """On a terminal the table fits the terminal's width (Rich's behaviour, unchanged)."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(os, "get_terminal_size", lambda fd=0: os.terminal_size((70, 24)))
    screen = Terminal()
    term = EncoreConsole(file=screen, force_terminal=False)
    assert not term.natural_width
    term.print(_wide_table())
    lines = screen.getvalue().splitlines()
    assert max(cell_len(line) for line in lines) == 70
    assert not any(LONG_TITLE in line for line in lines)


@pytest.mark.usefixtures("no_columns")
def test_console_natural_width_for_text_tables_and_rules() -> None:
    buf = io.StringIO()
    out = EncoreConsole(file=buf)
    assert out.natural_width
    note = "note: " + " ".join(f"word{i}" for i in range(40))
    out.print(note)
    out.print(_wide_table())
    out.print(Rule("section"))  # no natural width: Rich's own (80 for a file)
    out.print("short")
    lines = buf.getvalue().splitlines()
    assert lines[0] == note  # whole, not folded at 80
    assert any(LONG_TITLE in line for line in lines)
    rule = next(line for line in lines if "section" in line)
    assert cell_len(rule) == 80
    assert lines[-1] == "short"
    # an explicit width passed to print, or given to the console, is obeyed
    fixed = io.StringIO()
    EncoreConsole(file=fixed, width=50).print(_wide_table())
    assert max(cell_len(line) for line in fixed.getvalue().splitlines()) == 50
    buf.truncate(0)
    buf.seek(0)
    out.print(_wide_table(), width=40)
    assert max(cell_len(line) for line in buf.getvalue().splitlines()) == 40


@pytest.mark.usefixtures("no_columns")
def test_table_alone_is_laid_out_as_at_its_measured_width() -> None:
    """A table printed alone skips the measuring pass: the same text as a console exactly
    as wide as the table's measured natural width."""
    from rich.console import Console
    from rich.measure import Measurement

    table = _wide_table()
    table.title = "a title longer than the table is wide, so that it wraps over the columns " * 3
    natural = Measurement.get(Console(width=10_000), Console(width=10_000).options, table)
    expected = io.StringIO()
    Console(file=expected, width=natural.maximum).print(table)
    got = io.StringIO()
    EncoreConsole(file=got).print(table)
    assert got.getvalue() == expected.getvalue()
    assert natural.maximum > 80


@pytest.mark.usefixtures("no_columns")
def test_emit_and_stderr_share_the_one_console_setup(capsys: pytest.CaptureFixture[str]) -> None:
    """``emit`` and the error edge print through encore.cli.console's consoles."""
    assert common.console is console and common.err_console is err_console
    frame = pd.DataFrame({"track": [LONG_TITLE + " (Extended Version)"] * 2, "plays": [1, 22]})
    common.emit(frame, common.OutputFormat.table, title="top tracks")
    err_console.print("hint: " + "x " * 60 + "end")
    out, err = capsys.readouterr()
    assert f"│ {LONG_TITLE} (Extended Version) │" in out
    assert err.strip().endswith("x end") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "module",
    [
        "encore.demo",
        "encore.evaluation.demo",
        "encore.genre.demo",
        "encore.recommenders.demo",
        "encore.rl.demo",
        "encore.segments.demo",
        "encore.text.demo",
    ],
)
def test_demos_print_through_the_shared_console(module: str) -> None:
    """The demo's output is read in CI logs: its steps use the same console."""
    import importlib

    assert importlib.import_module(module).console is console


def _wide_table() -> Table:
    table = Table(title="wide")
    for name in HEADER:
        table.add_column(name)
    table.add_row("electronic", "1", "44,009", LONG_TITLE, "Nitin Sawhney", "5", "1")
    return table


def test_columns_present_when_the_console_is_made_does_not_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The consoles are made at import; pytest-xdist's workers (and some shells) export
    COLUMNS and LINES then. The width still follows COLUMNS as it is at each print."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    buf = io.StringIO()
    out = EncoreConsole(file=buf)
    monkeypatch.delenv("COLUMNS")
    monkeypatch.delenv("LINES")
    assert out.natural_width
    out.print(_wide_table())
    assert any(LONG_TITLE in line for line in buf.getvalue().splitlines())
    buf.truncate(0)
    buf.seek(0)
    monkeypatch.setenv("COLUMNS", "60")
    assert not out.natural_width
    out.print(_wide_table())
    assert max(cell_len(line) for line in buf.getvalue().splitlines()) == 60

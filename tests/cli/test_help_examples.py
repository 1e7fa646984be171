"""Every command's --help ends with examples, and every example parses.

Product check, round 2: no command's --help showed an example (46 commands), so a person
had to find README's list. The examples live in encore.cli.examples; this test parses each
one against the real command tree (so an example naming an option that was renamed, or
missing a required argument, fails here) and checks the rendered --help shows them.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from encore.cli.examples import EXAMPLES
from encore.cli.main import app

runner = CliRunner()


def _tree() -> dict[str, Any]:
    """Command path -> the click command, groups included ("" is the root)."""
    root = typer.main.get_command(app)
    out: dict[str, Any] = {"": root}

    def walk(cmd: Any, path: str) -> None:
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(None):
                full = f"{path} {name}".strip()
                out[full] = cmd.get_command(None, name)
                walk(out[full], full)

    walk(root, "")
    return out


def _parse(line: str) -> str:
    """Parse an example as the CLI would, without running it; return the command path."""
    words = shlex.split(line)
    assert words[0] == "encore", line
    args, cmd, path, parent = words[1:], typer.main.get_command(app), "", None
    while True:
        ctx = cmd.make_context(path.split()[-1] if path else "encore", list(args), parent=parent)
        if not hasattr(cmd, "list_commands"):
            return path
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            return path
        sub = cmd.get_command(ctx, rest[0])
        assert sub is not None, f"{line!r}: no command {rest[0]!r} under {path or 'encore'!r}"
        path, cmd, args, parent = f"{path} {rest[0]}".strip(), sub, rest[1:], ctx


def test_every_command_and_group_has_examples() -> None:
    missing = sorted(p for p in _tree() if not EXAMPLES.get(p))
    assert not missing, f"commands without examples in encore/cli/examples.py: {missing}"
    unknown = sorted(set(EXAMPLES) - set(_tree()))
    assert not unknown, f"examples for commands that do not exist: {unknown}"


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_examples_parse_against_the_command(path: str) -> None:
    for line, what in EXAMPLES[path]:
        assert what.strip(), f"{line!r} says nothing about what it does"
        parsed = _parse(line)
        # an example under a command runs that command (a group's may name any below it)
        assert parsed == path or parsed.startswith(f"{path} ".lstrip()), (line, parsed, path)


def test_a_wrong_example_is_caught() -> None:
    """The parse check is not vacuous: a misspelt option or a missing argument fails."""
    from typer._click.exceptions import UsageError

    with pytest.raises(UsageError):
        _parse("encore recommend me --modle als")
    with pytest.raises(UsageError):
        _parse("encore keys revoke")
    with pytest.raises(AssertionError):
        _parse("encore analytics genre")


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ([], "encore ingest ~/Downloads/my_spotify_data --user me"),
        (["recommend"], "encore recommend me --new-artists-only"),
        (["analytics"], "encore analytics top-tracks -n 10 --genre rock"),
        (["analytics", "trend"], "encore analytics trend --every month --chart trend.png"),
        (["lyrics", "summarize"], "encore lyrics summarize downtown --words 50"),
        (["export", "events"], "encore export events --to s3://bucket/encore-lake"),
    ],
)
def test_help_shows_the_examples(args: list[str], shown: str) -> None:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Examples" in result.stdout
    assert shown in result.stdout


def test_readme_commands_parse() -> None:
    """README's 'Using it' block is the other place a person copies commands from."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Using it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    parsed = []
    for line in block.splitlines():
        code = line.split(" #", 1)[0].strip()
        if not code.startswith("$E "):
            continue
        for part in code.split("&&"):
            part = part.strip().replace("$E", "encore", 1)
            if "[" not in part:  # '[--from D --to D]' is notation, not a command line
                parsed.append(_parse(part))
    assert len(parsed) >= 40 and "genre train" in parsed

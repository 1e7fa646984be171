"""A misspelt or shortened loader name gets the closest names (product check, round 2:
`encore ingest genric logs/` listed all 17 loaders without saying which was meant)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.sources import get_loader
from encore.errors import UnknownIdError

runner = CliRunner()


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("genric", ["generic"]),
        ("hetrec", ["hetrec2011"]),
        ("lastfm", ["lastfm1k", "lastfm_csv"]),
        ("Spotify_Basic", ["spotify_basic"]),
    ],
)
def test_close_names_are_suggested(typed: str, meant: list[str]) -> None:
    with pytest.raises(UnknownIdError) as err:
        get_loader(typed)
    hint = err.value.hint or ""
    assert hint.startswith("did you mean "), hint
    guess = hint.split("?")[0]
    for name in meant:
        assert repr(name) in guess, (typed, hint)
    assert "known sources: " in hint  # the full list still follows


def test_nothing_close_lists_the_sources_only() -> None:
    with pytest.raises(UnknownIdError) as err:
        get_loader("xyz")
    assert (err.value.hint or "").startswith("known sources: billboard_lyrics, fma, generic")


def test_cli_says_it_and_exits_66(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    result = runner.invoke(
        app, ["ingest", "genric", str(tmp_path / "logs"), "--db", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code == 66, result.output
    said = " ".join(result.stderr.split())
    assert "unknown source: 'genric'" in said
    assert "did you mean 'generic'?" in said

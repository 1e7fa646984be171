"""`encore evaluate --help` says which baselines --models always adds (product check,
round 2: `--models markov,ease` tabulated five models, popular, recent_popular and
item_knn added, while the help said only 'all, or model names separated by commas')."""

from __future__ import annotations

from typer.testing import CliRunner

from encore.cli.main import app
from encore.recommenders.registry import baseline_models

runner = CliRunner()


def test_help_names_every_baseline_models_adds() -> None:
    result = runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if "--models" in x)
    assert "always added" in line
    assert baseline_models()  # the registry has baselines, and the help names each
    for name in baseline_models():
        assert name in line, (name, line)

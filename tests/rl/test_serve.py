"""Serving with exact propensities (slot-wise epsilon-greedy) and the propensity log."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.errors import ConfigError
from encore.rl.serve import LOG_COLUMNS, explore_slate

runner = CliRunner()


def test_propensities_are_exact() -> None:
    ranked = pd.DataFrame({"item_id": np.arange(20)})
    eps, n = 0.3, 20
    # the slot-1 propensity of the greedy item, and of any other, as the formula says
    first = [explore_slate(ranked, 3, epsilon=eps, seed=s) for s in range(3000)]
    greedy = np.mean([f["item_id"].iloc[0] == 0 for f in first])
    assert greedy == pytest.approx(1 - eps + eps / n, abs=0.02)
    for f in first[:50]:
        p0 = f["propensity"].iloc[0]
        expected = 1 - eps + eps / n if f["item_id"].iloc[0] == 0 else eps / n
        assert p0 == pytest.approx(expected)
        assert f["item_id"].is_unique and list(f["rank"]) == [1, 2, 3]
    # epsilon 0 serves the model's list with propensity 1
    plain = explore_slate(ranked, 5, epsilon=0.0, seed=0)
    assert list(plain["item_id"]) == [0, 1, 2, 3, 4] and (plain["propensity"] == 1).all()
    with pytest.raises(ConfigError):
        explore_slate(ranked, 5, epsilon=1.5, seed=0)


def test_rl_recommend_logs_propensities(rl_db: Path, tmp_path: Path) -> None:
    log = tmp_path / "served.csv"
    args = ["rl", "recommend", "lh:user_01", "--db", str(rl_db), "--model", "popular"]
    for seed in ("1", "2"):
        res = runner.invoke(app, [*args, "--seed", seed, "--log", str(log), "--format", "csv"])
        assert res.exit_code == 0, res.output
    frame = pd.read_csv(log)
    assert list(frame.columns) == list(LOG_COLUMNS) and len(frame) == 20
    assert frame["propensity"].between(0, 1).all() and (frame["user_id"] == "lh:user_01").all()
    res = runner.invoke(app, [*args, "--epsilon", "2"])
    assert res.exit_code == 64
    res = runner.invoke(app, [*args, "--log", str(tmp_path / "x.json")])
    assert res.exit_code == 64 and ".csv" in res.output


def test_rl_train_saves_a_servable_policy(rl_db: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["rl", "train", "--db", str(rl_db), "--policy", "bandit", "--small", "--format", "json"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    path = Path(doc["file"])
    assert path.name == "rl-bandit.npz" and path.is_file() and doc["items"] > 50
    res = runner.invoke(
        app,
        [
            "rl",
            "recommend",
            "lh:user_01",
            "--db",
            str(rl_db),
            "--model-file",
            str(path),
            "-n",
            "5",
            "--epsilon",
            "0",
            "--format",
            "csv",
        ],
    )
    assert res.exit_code == 0, res.output
    served = pd.read_csv(io.StringIO(res.stdout))
    assert list(served["rank"]) == [1, 2, 3, 4, 5] and (served["propensity"] == 1).all()
    res = runner.invoke(app, ["rl", "train", "--db", str(rl_db), "--policy", "nope"])
    assert res.exit_code == 66

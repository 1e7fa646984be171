"""`encore evaluate --train/--test` weights the train file's counts like the store's splits.

Found by the product check: with a HetRec split written as play counts, `--weighting`
was ignored and the raw counts (up to 350,000 plays) went to the models: item kNN
scored P@10 0.049, below popularity's 0.066, an ordering the log1p-weighted store split
never shows (0.167 with log1p weights written into the file by hand).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.evaluation.splits import given_split

runner = CliRunner()


def test_given_split_applies_the_weighting(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("user,item,weight\n1,10,100\n1,11,1\n2,10,3\n2,12,0\n")
    test = tmp_path / "test.csv"
    test.write_text("user,item\n1,12\n2,11\n")
    raw = given_split(train, test)
    assert raw.train["weight"].tolist() == [100.0, 1.0, 3.0, 0.0]
    logged = given_split(train, test, weighting="log1p")
    assert np.allclose(logged.train["weight"], np.log1p([100.0, 1.0, 3.0]))  # 0 plays dropped
    assert "log1p" in logged.description
    binary = given_split(train, test, weighting="binary")
    assert binary.train["weight"].tolist() == [1.0, 1.0, 1.0]


@pytest.fixture(scope="module")
def hetrec_files(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """HetRec's user-artist play counts, 20 % of each user's artists held out (seeded)."""
    frame = pd.read_csv(shared_data / "hetrec2011-lastfm-2k" / "user_artists.dat", sep="\t")
    frame.columns = ["user", "item", "weight"]
    rng = np.random.default_rng(0)
    held = rng.random(len(frame)) < 0.2
    folder = tmp_path_factory.mktemp("given")
    frame[~held].to_csv(folder / "train.csv", index=False)
    frame[held][["user", "item"]].to_csv(folder / "test.csv", index=False)
    return folder


def test_evaluate_given_files_weights_counts(hetrec_files: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--train",
            str(hetrec_files / "train.csv"),
            "--test",
            str(hetrec_files / "test.csv"),
            "--models",
            "popular,item_knn",
            "--out",
            str(out),
            "--db",
            str(tmp_path / "unused.duckdb"),
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((out / "comparison.json").read_text())
    # the report says how the file's counts were weighted
    assert "train weights: log1p" in report["split"]["description"]
    ndcg = {m["model"]: m["ndcg@10"] for m in report["models"]}
    assert ndcg["item_knn"] > 1.5 * ndcg["popular"], ndcg

"""`encore evaluate` and `encore recommend` through the CLI runner, on real data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from evaluation_helpers import evaluate_json
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.dataset import InteractionDataset, build_interactions
from encore.data.store import Store
from encore.errors import ConfigError
from encore.evaluation.cli import parse_ks, parse_params
from encore.recommenders.registry import get_model

runner = CliRunner()


def test_parsers() -> None:
    assert parse_ks("20,10,10") == [10, 20]
    with pytest.raises(ConfigError):
        parse_ks("ten")
    with pytest.raises(ConfigError):
        parse_ks("0")
    assert parse_params(["ease.l2=500", "item_knn.similarity=bm25", "als.use_cg=false"]) == {
        "ease": {"l2": 500},
        "item_knn": {"similarity": "bm25"},
        "als": {"use_cg": False},
    }
    with pytest.raises(ConfigError):
        parse_params(["l2=5"])


def test_evaluate_store(jodie_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    rows = evaluate_json(
        jodie_db, out, "--models", "item_knn", "--k", "10,20", "--param", "item_knn.k=50"
    )
    assert rows[0]["model"] == "item_knn"  # sorted by ndcg@10, kNN first
    assert {"ndcg@20", "recall@10", "coverage@10"} <= set(rows[0])
    assert (out / "comparison.md").exists() and (out / "comparison.png").exists()
    assert "k=50" in (out / "comparison.md").read_text()


def test_evaluate_given_split_files(shared_data: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(
        shared_data / "lastfm-1k-jodie-sample" / "lastfm_jodie_first10pct.tsv",
        sep="\t",
        header=None,
        names=["user", "item", "timestamp"],
    )
    cut = raw["timestamp"].quantile(0.8)
    raw[raw["timestamp"] < cut].to_csv(tmp_path / "train.csv", index=False)
    raw[raw["timestamp"] >= cut].to_parquet(tmp_path / "test.parquet", index=False)
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--train",
            str(tmp_path / "train.csv"),
            "--test",
            str(tmp_path / "test.parquet"),
            "--models",
            "popular",
            "--out",
            str(tmp_path / "rep"),
            "--format",
            "csv",
        ],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(pd.io.common.StringIO(res.stdout))
    assert set(table["model"]) == {"popular", "recent_popular", "item_knn"}
    assert (table["ndcg@10"] > 0).all()
    assert "split made elsewhere" in (tmp_path / "rep" / "comparison.md").read_text()


def test_evaluate_errors(jodie_db: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["evaluate", "--train", str(tmp_path / "x.csv")])
    assert res.exit_code == 64 and "--test" in res.output
    res = runner.invoke(
        app, ["evaluate", "--db", str(jodie_db), "--data", "jodie", "--models", "bogus"]
    )
    assert res.exit_code == 66 and "bogus" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,weight\n1,2,x\n")
    res = runner.invoke(app, ["evaluate", "--train", str(bad), "--test", str(bad)])
    assert res.exit_code == 65 and "line 2" in res.output


def test_recommend_with_explanations(hetrec_db: Path) -> None:
    res = runner.invoke(
        app,
        [
            "recommend",
            "hetrec:2",
            "-n",
            "5",
            "--model",
            "pure_svd",
            "--data",
            "hetrec2011",
            "--level",
            "artist",
            "--explain",
            "--db",
            str(hetrec_db),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["name"] and r["because"] for r in rows)
    assert rows[0]["score"] >= rows[-1]["score"]
    with Store(hetrec_db, read_only=True) as store:
        seen = set(
            store.df(
                "SELECT a.name FROM playcounts p JOIN artists a USING (artist_id) WHERE user_id = 'hetrec:2'"
            )["name"]
        )
    assert not seen & {r["name"] for r in rows}  # new artists only
    # the contributors named are artists the user listened to
    contributors = {part.rsplit(" (", 1)[0] for r in rows for part in r["because"].split("; ")}
    assert contributors <= seen


def test_recommend_all_users_and_fold_in(jodie_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "recs.parquet"
    res = runner.invoke(
        app,
        [
            "recommend",
            "--all-users",
            "-n",
            "3",
            "--model",
            "popular",
            "--db",
            str(jodie_db),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    recs = pd.read_parquet(out)
    assert recs["user_id"].nunique() == 304 and (recs.groupby("user_id").size() == 3).all()

    # a model fitted without user jodie:0 folds the user in from the store's events
    with Store(jodie_db, read_only=True) as store:
        frame = build_interactions(store, level="track")
    ds = InteractionDataset.from_interactions(
        frame[frame["user_id"] != "jodie:0"], item_level="track"
    )
    path = get_model("item_knn").fit(ds).save(tmp_path / "knn.npz")
    res = runner.invoke(
        app,
        [
            "recommend",
            "jodie:0",
            "-n",
            "4",
            "--model-file",
            str(path),
            "--explain",
            "--db",
            str(jodie_db),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)) == 4
    assert "folded in" in res.stderr

    res = runner.invoke(
        app, ["recommend", "jodie:999999", "--model-file", str(path), "--db", str(jodie_db)]
    )
    assert res.exit_code == 66
    res = runner.invoke(app, ["recommend", "--db", str(jodie_db)])
    assert res.exit_code == 64


def test_recommend_unknown_user_hints(hetrec_db: Path, tmp_path: Path) -> None:
    # HetRec knows only artists: asking at track level says so and suggests --level artist
    db = tmp_path / "mixed.duckdb"
    db.write_bytes(hetrec_db.read_bytes())
    with Store(db) as store:
        store.execute(
            "INSERT INTO tracks (title, title_norm, source, ingest_id) VALUES ('t', 't', 'x', 0)"
        )
        store.execute("INSERT INTO users (user_id, source, ingest_id) VALUES ('x:1', 'x', 0)")
        store.execute(
            "INSERT INTO events (user_id, track_id, ts, source, ingest_id) "
            "SELECT 'x:1', max(track_id), TIMESTAMP '2020-01-01', 'x', 0 FROM tracks"
        )
    res = runner.invoke(
        app, ["recommend", "hetrec:2", "-n", "3", "--model", "popular", "--db", str(db)]
    )
    assert res.exit_code != 0
    assert "try --level artist" in res.output
    res = runner.invoke(
        app,
        [
            "recommend",
            "nobody:1",
            "-n",
            "3",
            "--model",
            "popular",
            "--level",
            "artist",
            "--data",
            "hetrec2011",
            "--db",
            str(hetrec_db),
        ],
    )
    assert res.exit_code != 0
    assert "no such user" in res.output


def test_evaluate_given_files_with_naive_datetimes(tmp_path: Path) -> None:
    # regression: a naive `datetime` column plus an extra integer column crashed with a
    # pandas TypeError (tz-aware times reached the dataset); naive times are read as UTC
    header = "user_id,item_id,datetime,extra_int\n"
    train_rows, test_rows = [], []
    for u in range(6):
        for i in range(8):
            train_rows.append(f"{u},{(u + i) % 10},2000-12-0{1 + i % 8} 01:31:25,{u * i}")
        test_rows.append(f"{u},{(u + 8) % 10},2000-12-09 01:31:25,{u}")
    (tmp_path / "train.csv").write_text(header + "\n".join(train_rows) + "\n")
    (tmp_path / "test.csv").write_text(header + "\n".join(test_rows) + "\n")
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--train",
            str(tmp_path / "train.csv"),
            "--test",
            str(tmp_path / "test.csv"),
            "--models",
            "popular",
            "--out",
            str(tmp_path / "rep"),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.exception is None
    rows = json.loads(res.stdout)
    assert {r["model"] for r in rows} == {"popular", "recent_popular", "item_knn"}


def test_evaluate_names_an_unparseable_time_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad_time.csv"
    bad.write_text("user_id,item_id,datetime,extra_int\n1,10,2000-12-09 01:31:25,1\n1,11,soon,2\n")
    res = runner.invoke(app, ["evaluate", "--train", str(bad), "--test", str(bad)])
    assert res.exit_code == 65
    assert "Traceback" not in res.output and not isinstance(res.exception, TypeError)
    text = " ".join(res.output.split())
    assert "line 3" in text and "time column 'datetime'" in text and "'soon'" in text

"""``encore segments`` commands end to end on a copy of the HetRec store."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def fitted_db(hetrec_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("segcli") / "store.duckdb"
    shutil.copy(hetrec_db, db)
    res = runner.invoke(
        app,
        [
            "segments",
            "fit",
            "--db",
            str(db),
            "--users",
            "hetrec",
            "--sample",
            "400",
            "--k-max",
            "5",
            "--seeds",
            "3",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    return db


def test_fit_json_and_table(fitted_db: Path) -> None:
    summary = json.loads((Path(f"{fitted_db}.segments") / "default" / "summary.json").read_text())
    assert summary["users"] == 400 and summary["method"] == "kmeans"
    assert 2 <= summary["segments"] <= 5
    with Store(fitted_db, read_only=True) as s:
        # the sample was fitted, every other HetRec user assigned
        rows = s.execute(
            "SELECT count(*), count(DISTINCT segment) FROM user_segments WHERE model = 'default'"
        ).fetchall()
    assert rows[0][0] == 1892 and rows[0][1] == summary["segments"]


def test_fit_output_is_json(hetrec_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    shutil.copy(hetrec_db, db)
    res = runner.invoke(
        app,
        [
            "segments",
            "fit",
            "--db",
            str(db),
            "--users",
            "hetrec",
            "--sample",
            "200",
            "--k",
            "3",
            "--map",
            "none",
            "--seeds",
            "2",
            "--name",
            "fixed",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["summary"]["segments"] == 3 and out["summary"]["k_chosen_by"] == "fixed"
    assert len(out["profiles"]) == 3 and {"name", "users", "top_genres"} <= set(out["profiles"][0])
    assert out["summary"]["friends"]["friend_pairs"] > 0
    res = runner.invoke(app, ["segments", "fit", "--db", str(db), "--users", "hetrec"])
    assert res.exit_code == 0, res.output
    assert "Segments" in res.output


def test_show(fitted_db: Path) -> None:
    res = runner.invoke(app, ["segments", "show", "--db", str(fitted_db), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert sum(p["users"] for p in out["profiles"]) == 400
    res = runner.invoke(
        app, ["segments", "show", "--db", str(fitted_db), "--segment", "0", "--format", "json"]
    )
    assert res.exit_code == 0 and json.loads(res.output)["segment"] == 0
    res = runner.invoke(app, ["segments", "show", "--db", str(fitted_db), "--segment", "0"])
    assert res.exit_code == 0 and "Segment 0" in res.output
    res = runner.invoke(app, ["segments", "show", "--db", str(fitted_db), "--segment", "99"])
    assert res.exit_code == 66 and "unknown segment" in res.output


def test_assign(fitted_db: Path) -> None:
    res = runner.invoke(
        app,
        ["segments", "assign", "hetrec:2", "hetrec:3", "--db", str(fitted_db), "--format", "json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [r["user_id"] for r in out] == ["hetrec:2", "hetrec:3"]
    with Store(fitted_db, read_only=True) as s:
        stored = dict(
            s.execute(
                "SELECT user_id, segment FROM user_segments WHERE user_id IN ('hetrec:2', 'hetrec:3')"
            ).fetchall()
        )
    assert {r["user_id"]: r["segment"] for r in out} == stored
    res = runner.invoke(app, ["segments", "assign", "nobody:1", "--db", str(fitted_db)])
    assert res.exit_code == 66 and "unknown user" in res.output


def test_map_png_and_html(fitted_db: Path, tmp_path: Path) -> None:
    png, html = tmp_path / "m.png", tmp_path / "m.html"
    res = runner.invoke(
        app, ["segments", "map", "--db", str(fitted_db), "--out", str(png), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["users"] == 400
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(app, ["segments", "map", "--db", str(fitted_db), "--out", str(html)])
    assert res.exit_code == 0, res.output
    text = html.read_text()
    assert "plotly" in text and "top genres:" in text
    res = runner.invoke(
        app, ["segments", "map", "--db", str(fitted_db), "--out", str(tmp_path / "m.svg")]
    )
    assert res.exit_code == 64


@pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn is installed")
def test_umap_missing_is_a_clear_error(fitted_db: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "segments",
            "map",
            "--db",
            str(fitted_db),
            "--method",
            "umap",
            "--out",
            str(tmp_path / "u.png"),
        ],
    )
    assert res.exit_code == 69 and "umap-learn" in res.output


def test_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["segments", "show", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 70 and "segments fit" in res.output
    res = runner.invoke(
        app, ["segments", "fit", "--db", str(tmp_path / "e.duckdb"), "--method", "spectral"]
    )
    assert res.exit_code == 64
    res = runner.invoke(app, ["segments", "fit", "--db", str(tmp_path / "e.duckdb")])
    assert res.exit_code == 65 and "no users" in res.output
    res = runner.invoke(app, ["segments", "--help"])
    assert res.exit_code == 0 and "assign" in res.output

"""encore rl on the real listening histories (small settings: 8 listeners, 2,500 rounds each)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store
from encore.rl.logging_policy import Embeddings, fit_behaviour
from encore.rl.logs import load_rounds
from encore.rl.simulator import Simulator, heldout_fit

runner = CliRunner()


def test_rounds_behaviour_and_simulator_fit(rl_db: Path) -> None:
    with Store(rl_db, read_only=True) as store:
        data = load_rounds(store, min_item_plays=20, max_users=6, max_rounds_per_user=2000)
    r = data.rounds
    # only listeners whose exports tell skips; both rewards occur; test after train per user
    assert set(np.unique(r["reward"])) == {0.0, 1.0}
    assert not r["user_id"].isin([f"lh:user_0{i}" for i in range(4, 9)]).any()
    for _, part in r.groupby("user_id"):
        assert part.loc[~part["test"], "ts"].max() <= part.loc[part["test"], "ts"].min()
    assert (r["recent_skip"].between(0, 1)).all() and (r["position"] >= 0).all()
    emb = Embeddings.fit(data)
    behaviour = fit_behaviour(data, emb, sample=500)
    rows = np.flatnonzero(r["test"].to_numpy())[:300]
    fit = behaviour.heldout_fit(data, rows)
    assert fit["nll_model"] < fit["nll_uniform"]  # the estimated logging policy beats uniform
    p = behaviour.propensities(data, rows)
    assert ((p > 0) & (p <= 1)).all()
    sim = Simulator.fit(data, emb)
    report = heldout_fit(sim, behaviour, sessions_per_user=3).set_index("measure")
    assert report.loc["listen model AUC on test rounds", "simulated"] > 0.6
    real = report.loc["skip rate (test rounds, logged tracks)"]
    assert abs(real["real"] - real["simulated"]) < 0.15


def test_rl_evaluate_end_to_end(rl_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "rl"
    res = runner.invoke(
        app,
        [
            "rl",
            "evaluate",
            "--db",
            str(rl_db),
            "--small",
            "--sessions",
            "3",
            "--out",
            str(out),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    policies = [row["policy"] for row in doc["comparison"]]
    assert policies == ["popular", "als", "bandit", "reinforce", "logging policy"]
    for row in doc["comparison"][:4]:
        assert 0 <= row["ndcg@10"] <= 1 and row["ess"] > 0 and row["sim_minutes"] > 0
    # --small ranks at most 8 listeners: the output says the ranking columns rest on too few
    ranked = int(max(row["rank_users"] for row in doc["comparison"][:4]))
    assert ranked <= 8
    said = " ".join(res.stderr.split())
    assert f"ndcg@10 and recall@10 come from {ranked} listener(s) with test plays" in said
    assert {r["estimator"] for r in doc["ope"]} == {"ips", "snips", "dm", "dr", "switch_dr"}
    for name in (
        "rl_sessions.png",
        "rl_sessions.html",
        "rl_curve_reinforce.png",
        "rl_comparison.csv",
    ):
        assert (out / name).stat().st_size > 0


def test_rl_bad_input_exit_codes(rl_db: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["rl", "evaluate", "--db", str(rl_db), "--sessions", "0"])
    assert res.exit_code == 64 and "--sessions" in res.output
    res = runner.invoke(app, ["rl", "evaluate", "--db", str(rl_db), "--policies", "nope"])
    assert res.exit_code == 66
    empty = tmp_path / "empty.duckdb"
    Store(empty).close()
    res = runner.invoke(app, ["rl", "simulate", "--db", str(empty)])
    assert res.exit_code == 65 and "skip information" in res.output

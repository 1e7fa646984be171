"""The per-user time split on the real personal listening histories, and the small-sample
rule of the reports (no intervals or verdicts below MIN_USERS_FOR_INTERVALS users).

Only counts and aggregate flags are checked: the histories are personal data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store
from encore.evaluation.report import (
    VERDICT_COLUMNS,
    evaluated_users,
    report_table,
    small_sample_note,
    write_report,
)
from encore.evaluation.runner import evaluate_models, select_data, split_store
from encore.evaluation.splits import Split
from encore.evaluation.stats import MIN_USERS_FOR_INTERVALS

runner = CliRunner()


@pytest.fixture(scope="module")
def lh_user_split(lh_db: Path) -> Split:
    with Store(lh_db, read_only=True) as store:
        sel = select_data(store, "listening-histories")
        return split_store(
            store, level="track", method="user-time", users=sel.users, min_item_interactions=2
        )


def test_user_time_split_on_listening_histories(lh_db: Path, lh_user_split: Split) -> None:
    sp = lh_user_split
    assert sp.method == "user-time"
    assert sp.stats["users_train_only"] == 0  # every history is long enough
    assert sp.stats["test_users"] == 20 and sp.stats["train_users"] == 20
    # per user, the train pairs' last plays are all before the test pairs' plays
    last_train = sp.train.groupby("user_id")["ts"].max()
    first_test = sp.test.groupby("user_id")["ts"].min()
    assert (last_train.reindex(first_test.index) < first_test).all()
    # new items only: no (user, item) in both
    both = sp.train.merge(sp.test, on=["user_id", "item_id"])
    assert both.empty and sp.stats["test_rows_seen_dropped"] > 0
    # each user's test events are about their own last 20 %
    with Store(lh_db, read_only=True) as store:
        counts = store.df(
            "SELECT user_id, count(*) AS n FROM events WHERE starts_with(user_id, 'lh:') "
            "GROUP BY user_id"
        ).set_index("user_id")["n"]
        cut = sp.train.groupby("user_id")["ts"].max()
        later = pd.Series(
            {
                u: store.scalar(
                    "SELECT count(*) FROM events WHERE user_id = ? AND ts > ?",
                    [u, cut[u].to_pydatetime()],
                )
                for u in cut.index
            }
        )
    share = later / counts.reindex(later.index)
    assert share.between(0.15, 0.35).all(), share.describe()


def _evaluate(lh_db: Path, out: Path, split: str) -> dict:
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--db",
            str(lh_db),
            "--data",
            "listening-histories",
            "--split",
            split,
            "--models",
            "popular",
            "--min-item",
            "2",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "too small" in " ".join(res.output.split())
    return json.loads((out / "comparison.json").read_text())


def test_user_time_evaluates_about_20_users_and_says_too_small(lh_db: Path, tmp_path: Path) -> None:
    js = _evaluate(lh_db, tmp_path / "ut", "user-time")
    n = js["evaluated_users"]
    assert 15 <= n <= 20 and n < MIN_USERS_FOR_INTERVALS
    assert (
        js["small_sample"] and f"sample of {n} evaluated users is too small" in js["small_sample"]
    )
    assert js["bootstrap"] == []
    assert all(
        m[c] is None
        for m in js["models"]
        for c in ("diff_low", "diff_high", "p_value", "significant", "beats_baselines")
    )
    md = (tmp_path / "ut" / "comparison.md").read_text()
    assert "too small" in md and "Paired bootstrap" not in md and "significant" not in md
    csv = pd.read_csv(tmp_path / "ut" / "comparison.csv")
    assert csv[["diff_low", "diff_high", "significant", "beats_baselines"]].isna().all().all()


def test_global_time_leaves_very_few_test_users(lh_db: Path, tmp_path: Path) -> None:
    js = _evaluate(lh_db, tmp_path / "gt", "global-time")
    # the histories cover different years: one cut-off leaves a handful of users on both sides
    assert js["split"]["stats"]["test_users"] <= 5
    assert js["evaluated_users"] <= 5 and js["bootstrap"] == []


@pytest.fixture(scope="module")
def jodie_global(jodie_db: Path) -> Split:
    with Store(jodie_db, read_only=True) as store:
        return split_store(store, level="track", method="global-time", source="jodie")


@pytest.mark.parametrize("n_users", [MIN_USERS_FOR_INTERVALS - 1, MIN_USERS_FOR_INTERVALS])
def test_small_sample_rule_in_every_format(
    jodie_global: Split, tmp_path: Path, n_users: int
) -> None:
    full = evaluate_models(jodie_global, ["popular"], data_name="jodie")
    result = full.ok_runs()[0].result
    assert result is not None
    evaluated = sorted(result.per_user.index)[:n_users]
    sp = jodie_global
    small = Split(
        train=sp.train,
        test=sp.test[sp.test["user_id"].isin(evaluated)],
        method=sp.method,
        description=sp.description,
        cutoff=sp.cutoff,
        stats=sp.stats,
    )
    comp = evaluate_models(small, ["popular"], data_name="jodie")
    assert evaluated_users(comp) == n_users
    write_report(comp, tmp_path, charts=False)
    md = (tmp_path / "comparison.md").read_text()
    js = json.loads((tmp_path / "comparison.json").read_text())
    csv = pd.read_csv(tmp_path / "comparison.csv")
    table = report_table(comp)
    if n_users < MIN_USERS_FOR_INTERVALS:
        sentence = f"The sample of {n_users} evaluated users is too small"
        assert sentence in md and sentence in (small_sample_note(comp) or "")
        assert "Paired bootstrap" not in md and "| significant" not in md
        assert js["small_sample"].startswith(sentence) and js["bootstrap"] == []
        assert all(m["significant"] is None and m["diff_low"] is None for m in js["models"])
        assert csv[list(VERDICT_COLUMNS)].isna().all().all()
        assert table[list(VERDICT_COLUMNS)].isna().all().all()
    else:
        assert small_sample_note(comp) is None and js["small_sample"] is None
        assert "Paired bootstrap" in md and "too small" not in md
        assert len(js["bootstrap"]) == 2 and js["evaluated_users"] == n_users
        best = comp.best().name
        others = table[table["model"] != best]
        assert others["diff_low"].notna().all() and others["significant"].notna().all()
        assert csv.loc[csv["model"] != best, "diff_high"].notna().all()


def test_terminal_table_marks_significance_with_enough_users(
    jodie_db: Path, tmp_path: Path
) -> None:
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--db",
            str(jodie_db),
            "--data",
            "jodie",
            "--split",
            "user-time",
            "--models",
            "popular",
            "--out",
            str(tmp_path),
            "--format",
            "table",
        ],
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    # 261 of JODIE's 304 users are evaluated: intervals are given, and marked in the table
    assert "too small" not in text and "significant: differs from" in text
    assert "users with fewer than 5 dated events" in text

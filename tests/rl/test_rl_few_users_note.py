"""The note under `encore rl evaluate` when its ranking columns rest on fewer listeners than
an interval needs (product check, round 2: `rl evaluate --small` on the make-demo store
ranked 1 listener, ndcg@10 0 or 1 per policy, with no word of it)."""

from __future__ import annotations

import pandas as pd
import pytest

from encore.evaluation.stats import MIN_USERS_FOR_INTERVALS
from encore.rl import cli as rl_cli


@pytest.mark.parametrize(
    ("users", "noted"),
    [(1, True), (MIN_USERS_FOR_INTERVALS - 1, True), (MIN_USERS_FOR_INTERVALS, False)],
)
def test_note_below_the_interval_threshold(
    users: int, noted: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pd.DataFrame(
        {"policy": ["popular", "als", "logging policy"], "rank_users": [users, users, None]}
    )
    rl_cli._warn_few_ranked(table)
    said = " ".join(capsys.readouterr().err.split())
    assert (f"come from {users} listener(s) with test plays" in said) is noted

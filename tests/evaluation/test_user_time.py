"""The per-user time split on the real personal listening histories.

Only counts and aggregate flags are checked: the histories are personal data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from encore.data.store import Store
from encore.evaluation.runner import select_data, split_store
from encore.evaluation.splits import Split


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

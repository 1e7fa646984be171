"""Splits: no leakage (Hypothesis), counts, real data, files made elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encore.errors import ConfigError, DataError
from encore.evaluation.splits import (
    given_split,
    global_time_split,
    last_n_split,
    make_split,
    random_split,
    read_interactions_file,
    user_time_min_rows,
    user_time_split,
    user_time_test_counts,
    validation_split,
)


def _frame(seed: int, n_rows: int, n_users: int, n_items: int, n_times: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": rng.integers(0, n_users, n_rows),
            "item_id": rng.integers(0, n_items, n_rows),
            "weight": rng.random(n_rows) + 0.1,
            "ts": pd.to_datetime("2020-01-01")
            + pd.to_timedelta(rng.integers(0, n_times, n_rows), unit="h"),
        }
    )


frames = st.builds(
    _frame,
    seed=st.integers(0, 100_000),
    n_rows=st.integers(20, 300),
    n_users=st.integers(1, 12),
    n_items=st.integers(1, 30),
    n_times=st.integers(2, 50),
)


@settings(max_examples=60, deadline=None)
@given(df=frames, frac=st.floats(0.05, 0.6))
def test_global_time_split_never_leaks(df: pd.DataFrame, frac: float) -> None:
    try:
        sp = global_time_split(df, test_fraction=frac)
    except DataError:
        return  # one side empty (e.g. all test users cold) is reported, not silently returned
    assert sp.train["ts"].max() <= sp.test["ts"].min()
    assert sp.train["ts"].max() < sp.cutoff <= sp.test["ts"].min()
    assert set(sp.test["user_id"]) <= set(sp.train["user_id"])
    assert set(sp.test["item_id"]) <= set(sp.train["item_id"])
    # nothing invented: every row comes from the input
    assert len(sp.train) + sp.stats["test_rows_raw"] == len(df)


@settings(max_examples=60, deadline=None)
@given(df=frames, n=st.integers(1, 5))
def test_last_n_split_never_leaks_per_user(df: pd.DataFrame, n: int) -> None:
    try:
        sp = last_n_split(df, n=n, drop_cold_items=False)
    except DataError:
        return
    last_train = sp.train.groupby("user_id")["ts"].max()
    first_test = sp.test.groupby("user_id")["ts"].min()
    assert (last_train.reindex(first_test.index) <= first_test).all()
    assert (sp.test.groupby("user_id").size() <= n).all()
    assert set(sp.test["user_id"]) <= set(sp.train["user_id"])


@settings(max_examples=40, deadline=None)
@given(df=frames, frac=st.floats(0.1, 0.5), seed=st.integers(0, 99))
def test_random_split_partitions_rows_per_user(df: pd.DataFrame, frac: float, seed: int) -> None:
    df = df.drop(columns="ts")
    try:
        sp = random_split(df, test_fraction=frac, seed=seed, drop_cold_items=False)
    except DataError:
        return
    assert len(sp.train) + len(sp.test) == len(df)
    assert set(sp.test["user_id"]) <= set(sp.train["user_id"])
    sizes = df.groupby("user_id").size()
    n_test = sp.test.groupby("user_id").size().reindex(sizes.index, fill_value=0)
    expected = np.minimum(np.rint(sizes * frac), sizes - 1)
    assert (n_test == expected).all()
    assert "no timestamps" in sp.description
    again = random_split(df, test_fraction=frac, seed=seed, drop_cold_items=False)
    pd.testing.assert_frame_equal(sp.test, again.test)


def test_errors() -> None:
    df = _frame(0, 50, 3, 5, 10)
    with pytest.raises(DataError, match="timestamp"):
        global_time_split(df.assign(ts=pd.NaT))
    with pytest.raises(ConfigError):
        global_time_split(df, test_fraction=1.5)
    with pytest.raises(ConfigError):
        make_split(df, "bogus")
    with pytest.raises(ConfigError):
        last_n_split(df, n=0)
    with pytest.raises(DataError):
        random_split(df.iloc[:0])
    assert make_split(df.drop(columns="ts"), "auto").method == "random"
    assert make_split(df, "auto").method == "global-time"


def test_validation_split_stays_inside_train() -> None:
    sp = global_time_split(_frame(1, 400, 8, 20, 100))
    val = validation_split(sp)
    assert val.test["ts"].max() < sp.cutoff
    assert len(val.train) + val.stats["test_rows_raw"] == len(sp.train)


def test_jodie_real_data_global_split(shared_data: Path) -> None:
    raw = pd.read_csv(
        shared_data / "lastfm-1k-jodie-sample" / "lastfm_jodie_first10pct.tsv",
        sep="\t",
        header=None,
        names=["user_id", "item_id", "ts"],
    )
    df = raw.assign(weight=1.0)
    sp = global_time_split(df, test_fraction=0.2)
    assert sp.train["ts"].max() < sp.test["ts"].min()
    assert 0.15 < sp.stats["test_rows_raw"] / len(df) < 0.25
    assert sp.stats["test_users"] > 100
    assert set(sp.test["user_id"]) <= set(sp.train["user_id"])
    ln = last_n_split(df, n=5)
    assert (ln.test.groupby("user_id").size() <= 5).all()


def test_hetrec_real_data_random_split(shared_data: Path) -> None:
    df = pd.read_csv(shared_data / "hetrec2011-lastfm-2k" / "user_artists.dat", sep="\t").rename(
        columns={"userID": "user_id", "artistID": "item_id"}
    )
    sp = make_split(df, "auto", seed=0)
    assert sp.method == "random" and "no timestamps" in sp.description
    assert sp.stats["train_users"] == df["user_id"].nunique()
    assert 0.17 < sp.stats["test_rows_raw"] / len(df) < 0.23
    assert not set(zip(sp.train.user_id, sp.train.item_id, strict=True)) & set(
        zip(sp.test.user_id, sp.test.item_id, strict=True)
    )


def test_read_files_and_given_split(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("user,item,rating,timestamp\n1,10,2.0,100\n1,11,1,101\n2,10,3,102\n")
    test = tmp_path / "test.parquet"
    pd.DataFrame({"user_id": [1, 2, 3], "item_id": [12, 11, 10]}).to_parquet(test)
    sp = given_split(train, test)
    assert sp.method == "given"
    assert sp.train["user_id"].tolist() == ["1", "1", "2"]
    assert sp.train["weight"].tolist() == [2.0, 1.0, 3.0]
    assert sp.train["ts"].tolist() == [100, 101, 102]
    assert sp.stats["test_users_cold_dropped"] == 1  # user 3
    # cold item 12 kept for given splits; plain integer item ids of both files as integers
    assert sp.test["item_id"].tolist() == [12, 11]
    assert sp.test["weight"].eq(1.0).all()

    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,weight\n1,10,2\n1,11,lots\n")
    with pytest.raises(DataError) as err:
        read_interactions_file(bad)
    assert err.value.file == str(bad) and err.value.line == 3 and err.value.field == "weight"
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("who,what\n1,2\n")
    with pytest.raises(DataError, match="no user column"):
        read_interactions_file(nocol)
    with pytest.raises(DataError, match="not found"):
        read_interactions_file(tmp_path / "missing.csv")


def test_last_n_keeps_undated_rows_in_train_when_asked() -> None:
    df = _frame(3, 200, 5, 30, 40)
    df.loc[:9, "ts"] = pd.NaT
    with pytest.raises(DataError, match="timestamp"):
        last_n_split(df, n=2)
    sp = last_n_split(df, n=2, undated_to_train=True, drop_cold_items=False)
    assert sp.test["ts"].notna().all()
    assert sp.train["ts"].isna().sum() == 10
    assert len(sp.train) + len(sp.test) == len(df)


def test_global_time_split_with_explicit_cutoff() -> None:
    df = _frame(5, 300, 6, 20, 100)
    cut = pd.Timestamp("2020-01-03")
    sp = global_time_split(df, cutoff=cut)
    assert sp.cutoff == cut and "given cut-off" in sp.description
    assert (sp.train["ts"] < cut).all() and (sp.test["ts"] >= cut).all()


@settings(max_examples=80, deadline=None)
@given(df=frames, frac=st.floats(0.05, 0.6))
def test_user_time_split_never_leaks_per_user(df: pd.DataFrame, frac: float) -> None:
    try:
        sp = user_time_split(df, test_fraction=frac, drop_cold_items=False)
    except DataError:
        return  # e.g. nobody has enough rows: reported, not silently returned
    # per user, every test row is later than every train row of that user
    last_train = sp.train.groupby("user_id")["ts"].max()
    first_test = sp.test.groupby("user_id")["ts"].min()
    assert (last_train.reindex(first_test.index) < first_test).all()
    # new items only: no (user, item) on both sides
    train_pairs = set(zip(sp.train["user_id"], sp.train["item_id"], strict=True))
    assert not train_pairs & set(zip(sp.test["user_id"], sp.test["item_id"], strict=True))
    assert set(sp.test["user_id"]) <= set(sp.train["user_id"])
    # nothing invented or lost: every input row is in train, in test or counted as dropped
    st_ = sp.stats
    assert len(sp.train) + st_["test_rows_raw"] + st_["test_rows_seen_dropped"] == len(df)
    # users kept out of test are those with too few rows (or no earlier time), counted
    expected_out = 0
    for _, ts in df.groupby("user_id")["ts"]:
        ordered = ts.sort_values().to_numpy()
        m = int(user_time_test_counts(len(ordered), frac))
        if m == 0 or ordered[len(ordered) - m] == ordered[0]:
            expected_out += 1
        else:
            # the user's last m rows by time are all held out (or dropped as seen)
            held = (ordered >= ordered[len(ordered) - m]).sum()
            assert held >= m
    assert st_["users_train_only"] == expected_out
    assert set(sp.test["user_id"]).isdisjoint(
        u for u, n in df.groupby("user_id").size().items() if n < user_time_min_rows(frac)
    )


def test_user_time_split_counts_and_cuts() -> None:
    t0 = pd.Timestamp("2020-01-01")
    rows = []
    # user a: 10 plays of items 0..9, one a day -> last 2 (items 8, 9) in test
    rows += [("a", i, t0 + pd.Timedelta(days=i)) for i in range(10)]
    # user b: 5 plays, the last one repeats an item from train -> its only test row is dropped
    rows += [("b", i, t0 + pd.Timedelta(days=d)) for d, i in enumerate((0, 1, 2, 3, 0))]
    # user c: 4 plays, fewer than 5 -> only in train; user d: 6 plays at one time -> only in train
    rows += [("c", i, t0 + pd.Timedelta(days=i)) for i in range(4)]
    rows += [("d", i, t0) for i in range(6)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    sp = user_time_split(df, test_fraction=0.2, drop_cold_items=False)
    assert sp.method == "user-time"
    assert sorted(zip(sp.test["user_id"], sp.test["item_id"], strict=True)) == [("a", 8), ("a", 9)]
    assert sp.stats["users_train_only"] == 2  # c and d
    assert sp.stats["test_rows_seen_dropped"] == 1  # b's replay of item 0
    assert sp.stats["test_users_only_seen_dropped"] == 1  # b
    assert "2 users with fewer than 5 rows" in sp.description
    assert len(sp.train) == 8 + 4 + 4 + 6
    assert user_time_min_rows(0.2) == 5 and user_time_min_rows(0.3) == 4
    assert make_split(df, "user-time", drop_cold_items=False).test.equals(sp.test)
    with pytest.raises(ConfigError):
        user_time_split(df, test_fraction=0.0)
    with pytest.raises(DataError, match="timestamp"):
        user_time_split(df.assign(ts=pd.NaT))
    undated = pd.concat([df, pd.DataFrame({"user_id": ["a"], "item_id": [99], "ts": [pd.NaT]})])
    kept = user_time_split(undated, drop_cold_items=False, undated_to_train=True)
    assert 99 in set(kept.train["item_id"]) and kept.test["ts"].notna().all()


def test_naive_datetime_csv_is_read_as_utc(tmp_path: Path) -> None:
    # the shape that crashed `evaluate --train/--test`: naive datetimes and an extra integer column
    path = tmp_path / "naive.csv"
    path.write_text(
        "user_id,item_id,datetime,extra_int\n"
        "1,10,2000-12-09 01:31:25,7\n"
        "1,11,2000-12-10 08:00:00,8\n"
        "2,10,2000-12-11 23:59:59,9\n"
    )
    df = read_interactions_file(path)
    assert list(df.columns) == ["user_id", "item_id", "weight", "ts"]  # extra_int ignored
    assert pd.api.types.is_datetime64_any_dtype(df["ts"]) and df["ts"].dt.tz is None
    assert df["ts"].iloc[0] == pd.Timestamp("2000-12-09 01:31:25")
    # an explicit offset is converted to UTC; formats may differ between rows
    mixed = tmp_path / "offset.csv"
    mixed.write_text("user,item,time\n1,10,2000-12-09T03:31:25+02:00\n1,11,2000-12-10\n")
    ts = read_interactions_file(mixed)["ts"]
    assert ts.tolist() == [pd.Timestamp("2000-12-09 01:31:25"), pd.Timestamp("2000-12-10")]
    # a Parquet column with a zone comes back naive UTC as well
    pq = tmp_path / "aware.parquet"
    pd.DataFrame(
        {
            "user_id": [1],
            "item_id": [2],
            "ts": [pd.Timestamp("2000-12-09 02:31:25", tz="Europe/Paris")],
        }
    ).to_parquet(pq)
    assert read_interactions_file(pq)["ts"].tolist() == [pd.Timestamp("2000-12-09 01:31:25")]


def test_unparseable_time_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad_time.csv"
    path.write_text(
        "user_id,item_id,datetime,extra_int\n1,10,2000-12-09 01:31:25,7\n1,11,last tuesday,8\n"
    )
    with pytest.raises(DataError) as err:
        read_interactions_file(path)
    assert err.value.file == str(path) and err.value.line == 3 and err.value.field == "datetime"
    assert "time column 'datetime'" in str(err.value) and "last tuesday" in str(err.value)
    # train times as numbers and test times as dates cannot be compared: said, not a crash
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("user,item,ts\n1,10,100\n")
    dates = tmp_path / "dates.csv"
    dates.write_text("user,item,ts\n1,11,2000-12-09 01:31:25\n")
    with pytest.raises(DataError, match="not comparable"):
        given_split(numbers, dates)

"""Interaction dataset: id maps, weighting schemes, building from the store."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encore.data.dataset import (
    IdMap,
    InteractionDataset,
    apply_weighting,
    build_interactions,
    k_core,
    rows_from_interactions,
)
from encore.data.store import Store
from encore.errors import ConfigError, DataError, UnknownIdError

# ----------------------------------------------------------------------------- IdMap


# NUL is excluded: numpy's fixed-width strings (the saved-model format) drop trailing NULs
_ID_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)


@given(st.lists(_ID_TEXT, min_size=1, max_size=50))
@settings(max_examples=60, deadline=None)
def test_idmap_round_trip_strings(values: list[str]) -> None:
    m = IdMap.from_values(values, kind="user")
    assert len(m) == len(set(values))
    idx = m.to_internal(values)
    assert idx.min() >= 0 and idx.max() < len(m)
    assert m.to_external(idx).tolist() == values
    assert sorted(set(m.to_internal(m.external_ids).tolist())) == list(range(len(m)))
    assert all(v in m for v in values)


@given(st.lists(st.integers(min_value=-(2**62), max_value=2**62), min_size=1, max_size=50))
@settings(max_examples=60, deadline=None)
def test_idmap_round_trip_ints(values: list[int]) -> None:
    m = IdMap.from_values(values, kind="item")
    assert m.to_external(m.to_internal(values)).tolist() == values
    assert m.external_ids.dtype == np.int64


def test_idmap_unknown_ids_are_listed() -> None:
    m = IdMap.from_values(["a", "b"], kind="user")
    with pytest.raises(UnknownIdError) as info:
        m.to_internal(["a", "x", "y", "x"])
    assert info.value.ids == ["x", "y"]
    assert "unknown user" in str(info.value)
    assert m.to_internal(["a", "x"], strict=False).tolist() == [0, -1]
    assert "x" not in m and "a" in m
    with pytest.raises(UnknownIdError):
        m.to_external([5])


def test_idmap_numeric_strings_match_int_ids() -> None:
    m = IdMap.from_values([51, 52])
    assert m.to_internal(["52", "51"]).tolist() == [1, 0]
    with pytest.raises(UnknownIdError):
        m.to_internal(["fifty"])
    with pytest.raises(ConfigError, match="duplicate"):
        IdMap([1, 1])


# ----------------------------------------------------------------------------- from_interactions


@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 14), st.floats(0.1, 100.0)),
        min_size=1,
        max_size=80,
    )
)
@settings(max_examples=60, deadline=None)
def test_from_interactions_properties(rows: list[tuple[int, int, float]]) -> None:
    frame = pd.DataFrame(rows, columns=["u", "item_id", "weight"]).assign(
        user_id=lambda f: "u" + f["u"].astype(str)
    )
    ds = InteractionDataset.from_interactions(frame)
    pairs = frame.groupby(["user_id", "item_id"])["weight"].sum()
    assert ds.matrix.shape == (frame["user_id"].nunique(), frame["item_id"].nunique())
    assert ds.nnz == len(pairs)
    assert ds.matrix.dtype == np.float32
    assert math.isclose(float(ds.matrix.sum()), float(pairs.sum()), rel_tol=1e-4)
    for (u, i), w in pairs.items():
        r = ds.user_map.to_internal([u])[0]
        c = ds.item_map.to_internal([i])[0]
        assert math.isclose(float(ds.matrix[r, c]), w, rel_tol=1e-5)
    assert ds.timestamps is None
    assert len(ds.interactions) == len(pairs)


def test_from_interactions_timestamps_and_universe() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "item_id": [1, 1, 2],
            "weight": [1.0, 2.0, 1.0],
            "ts": pd.to_datetime(["2020-01-01", "2020-01-03", None]),
        }
    )
    ds = InteractionDataset.from_interactions(frame, item_level="artist", items=[1, 2, 3])
    assert ds.n_items == 3 and ds.item_level == "artist"
    assert ds.matrix[0, 0] == pytest.approx(3.0)
    assert ds.timestamps is not None
    assert ds.timestamps[0, 0] == pd.Timestamp("2020-01-03").timestamp()
    assert np.isnan(ds.timestamps[1, 1])
    assert ds.user_items(["b"]).toarray().tolist() == [[0.0, 1.0, 0.0]]
    with pytest.raises(UnknownIdError):
        ds.user_items(["zz"])
    with pytest.raises(UnknownIdError):
        InteractionDataset.from_interactions(frame, items=[1])
    with pytest.raises(DataError, match="item_id"):
        InteractionDataset.from_interactions(frame.drop(columns="item_id"))
    with pytest.raises(DataError, match="finite"):
        InteractionDataset.from_interactions(frame.assign(weight=np.inf))


def test_fold_in_rows_drop_unknown_items() -> None:
    ds = InteractionDataset.from_interactions(
        pd.DataFrame({"user_id": ["a", "b"], "item_id": [1, 2]})
    )
    users, rows = ds.fold_in_rows(
        pd.DataFrame({"user_id": ["n2", "n1", "n1"], "item_id": [2, 1, 99]})
    )
    assert users.tolist() == ["n1", "n2"]
    assert rows.toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]]
    users, rows = rows_from_interactions(
        ds.item_map, pd.DataFrame({"item_id": [1, 1], "weight": [0.5, 2.0]})
    )
    assert users.tolist() == ["new"] and rows.toarray().tolist() == [[2.5, 0.0]]


# ----------------------------------------------------------------------------- weighting


def _counts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "c"],
            "item_id": [1, 2, 1, 1],
            "count": [3.0, 1.0, 0.0, 7.0],
            "liked": [0, 0, 1, 0],
        }
    )


def test_weighting_schemes() -> None:
    c = _counts()
    assert apply_weighting(c, "binary").tolist() == [1.0, 1.0, 0.0, 1.0]
    assert apply_weighting(c, "plays").tolist() == [3.0, 1.0, 0.0, 7.0]
    np.testing.assert_allclose(apply_weighting(c, "log1p"), np.log1p([3.0, 1.0, 0.0, 7.0]))
    # likes add like_weight; a like without plays still makes a pair
    np.testing.assert_allclose(
        apply_weighting(c, "log1p", likes="liked", like_weight=2.0),
        [np.log1p(3), np.log1p(1), 2.0, np.log1p(7)],
    )
    assert apply_weighting(c, "binary", likes="liked").tolist() == [1.0, 1.0, 1.0, 1.0]
    # tf-idf: item 1 played by 2 of 2 users (b's row has 0 plays) -> idf log(2/2) = 0, floored
    tfidf = apply_weighting(c, "tfidf")
    assert tfidf[1] == pytest.approx(np.log1p(1) * np.log(2 / 1))
    assert 0 < tfidf[0] < 1e-5
    bm = apply_weighting(c, "bm25")
    assert (bm[[0, 1, 3]] > 0).all() and bm[2] == 0
    with pytest.raises(ConfigError, match="weighting"):
        apply_weighting(c, "loudness")


def test_k_core_iterates() -> None:
    frame = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"], "item_id": [1, 2, 1, 2, 3]})
    out = k_core(frame, min_user=2, min_item=2)
    assert sorted(zip(out.user_id, out.item_id, strict=True)) == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
    ]


# ----------------------------------------------------------------------------- from the store


@pytest.fixture
def filled(store: Store) -> Store:
    con = store.con
    con.execute(
        "INSERT INTO artists (artist_id, name, name_norm, source, ingest_id) VALUES "
        "(1, 'A', 'a', 't', 1), (2, 'B', 'b', 't', 1)"
    )
    con.execute(
        "INSERT INTO albums (album_id, title, title_norm, artist_id, source, ingest_id) VALUES (7, 'X', 'x', 1, 't', 1)"
    )
    con.execute(
        "INSERT INTO tracks (track_id, title, title_norm, artist_id, album_id, duration_ms, source, ingest_id) VALUES "
        "(10, 't10', 't10', 1, 7, 240000, 't', 1), (11, 't11', 't11', 1, 7, NULL, 't', 1), "
        "(20, 't20', 't20', 2, NULL, 180000, 't', 1)"
    )
    con.execute(
        "INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, ingest_id) VALUES "
        "('u1', 10, 1, '2020-01-01 10:00', 240000, FALSE, 'svc', 1),"
        "('u1', 10, 1, '2020-01-02 10:00', 5000, TRUE, 'svc', 1),"
        "('u1', 20, 2, '2020-02-01 10:00', NULL, NULL, 'svc', 1),"
        "('u2', 11, 1, '2020-03-01 10:00', 60000, FALSE, 'other', 1)"
    )
    con.execute(
        "INSERT INTO playcounts (user_id, artist_id, track_id, plays, source, ingest_id) VALUES "
        "('u3', 2, NULL, 9, 'pc', 1)"
    )
    con.execute(
        "INSERT INTO likes (user_id, entity_type, entity_id, liked_at, source, ingest_id) VALUES "
        "('u2', 'track', 20, '2020-03-05', 'other', 1)"
    )
    return store


def test_build_track_level_plays(filled: Store) -> None:
    out = build_interactions(
        filled, level="track", weighting="plays", like_weight=0.5, skip_weight=1.0
    )
    got = {(r.user_id, r.item_id): r.weight for r in out.itertuples()}
    # u1/10: two plays, one skipped -> 1; u1/20: 1; u2/11: 1; u2/20: liked only -> 0.5
    assert got == {("u1", 10): 1.0, ("u1", 20): 1.0, ("u2", 11): 1.0, ("u2", 20): 0.5}
    assert list(out.columns) == ["user_id", "item_id", "weight", "ts"]
    assert out.loc[(out.user_id == "u1") & (out.item_id == 10), "ts"].item() == pd.Timestamp(
        "2020-01-02 10:00"
    )


def test_build_artist_level_with_playcounts(filled: Store) -> None:
    out = build_interactions(
        filled, level="artist", weighting="plays", skip_weight=0.0, like_weight=0.0
    )
    got = {(r.user_id, r.item_id): r.weight for r in out.itertuples()}
    assert got == {("u1", 1): 2.0, ("u1", 2): 1.0, ("u2", 1): 1.0, ("u3", 2): 9.0}
    assert out.loc[out.user_id == "u3", "ts"].isna().all()


def test_build_minutes_album_and_filters(filled: Store) -> None:
    out = build_interactions(
        filled, level="track", weighting="minutes", skip_weight=1.0, like_weight=0.0
    )
    got = {(r.user_id, r.item_id): round(r.weight, 6) for r in out.itertuples()}
    # u1/20 has no ms_played: the track's duration (3 min) is used
    assert got == {("u1", 10): 4.0, ("u1", 20): 3.0, ("u2", 11): 1.0}
    albums = build_interactions(filled, level="album", weighting="binary", like_weight=0.0)
    assert set(albums["item_id"]) == {7}
    only = build_interactions(filled, level="track", source="other", weighting="binary")
    assert set(only["user_id"]) == {"u2"}
    dated = build_interactions(filled, level="artist", date_from="2020-01-15", date_to="2020-03-02")
    assert set(zip(dated.user_id, dated.item_id, strict=True)) == {("u1", 2), ("u2", 1)}
    core = build_interactions(filled, level="artist", min_user_interactions=2, like_weight=0.0)
    assert set(core["user_id"]) == {"u1"}
    with pytest.raises(DataError):
        build_interactions(filled, source="nothing")
    with pytest.raises(ConfigError):
        build_interactions(filled, level="genre")


def test_from_store_builds_dataset(filled: Store) -> None:
    ds = InteractionDataset.from_store(filled, level="artist", weighting="log1p")
    assert ds.item_level == "artist"
    assert (ds.n_users, ds.n_items) == (3, 2)
    assert ds.timestamps is not None

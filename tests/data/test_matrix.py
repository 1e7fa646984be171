"""The CF matrix grouped by integer user keys (encore.data.matrix) against the frame path.

``build_dataset`` must give what ``InteractionDataset.from_interactions(build_interactions(
...))`` gives: the same user and item maps, matrix and timestamps, and the same
interactions frame row for row. Checked on the real listening histories plus HetRec (events,
play counts and likes), on small generated stores whose user keys are in another order than
the ids, and on an older (schema v1) store without user keys, opened read-only.

Weights from play counts are exact. Weights from minutes (and bm25's per-user sums) are
sums of DOUBLEs that DuckDB adds in parallel, in an order that changes from run to run even
for the frame path itself, so those are compared to 1e-12 relative.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encore.data.dataset import InteractionDataset, build_interactions
from encore.data.matrix import build_dataset, k_core_mask, key_mode
from encore.data.schema import MIGRATIONS
from encore.data.store import Store
from encore.errors import ConfigError, DataError

EXACT = ("binary", "plays", "log1p")


def assert_same(old: InteractionDataset, new: InteractionDataset, *, exact: bool) -> None:
    """``new`` is ``old``: maps, matrix pattern and values, timestamps, frame."""
    assert old.user_map == new.user_map and old.item_map == new.item_map
    assert old.item_level == new.item_level
    for name in ("matrix", "timestamps"):
        a, b = getattr(old, name), getattr(new, name)
        assert (a is None) == (b is None), name
        if a is None:
            continue
        assert a.shape == b.shape and a.dtype == b.dtype, name
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        if exact or name == "timestamps":
            assert np.array_equal(a.data, b.data, equal_nan=True), name
        else:
            np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
    frame = new.interactions
    assert isinstance(frame["user_id"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(
        old.interactions.reset_index(drop=True),
        frame.assign(user_id=frame["user_id"].astype(str)),
        check_exact=exact,
        rtol=1e-12,
    )


def frame_path(store: Store, level: str, **kw: object) -> InteractionDataset:
    return InteractionDataset.from_interactions(
        build_interactions(store, level=level, **kw),  # type: ignore[arg-type]
        item_level=level,
    )


# ----------------------------------------------------------------------------- real data

REAL_CASES = [
    ("track", "log1p", {}),
    ("artist", "plays", {}),
    ("album", "binary", {"like_weight": 2.0}),
    ("artist", "bm25", {}),
    ("track", "minutes", {"skip_weight": 0.5}),
    ("artist", "log1p", {"min_user_interactions": 5, "min_item_interactions": 3}),
    ("track", "log1p", {"date_from": "2019-01-01", "date_to": "2022-01-01"}),
    ("artist", "tfidf", {"source": "hetrec2011"}),
]


@pytest.fixture(scope="module")
def real(listeners_db: Path) -> Iterator[Store]:
    store = Store(listeners_db, read_only=True)
    yield store
    store.close()


@pytest.mark.parametrize(("level", "weighting", "kw"), REAL_CASES)
def test_same_dataset_on_real_data(
    real: Store, level: str, weighting: str, kw: dict[str, object]
) -> None:
    """The 20 listening histories and HetRec's 1,892 listeners: events, play counts, likes."""
    assert key_mode(real) == "events"
    old = frame_path(real, level, weighting=weighting, **kw)
    for keys in ("events", "joined"):
        new = build_dataset(real, level=level, weighting=weighting, keys=keys, **kw)  # type: ignore[arg-type]
        assert_same(old, new, exact=weighting in EXACT)
    assert new.n_users > 1 and new.nnz > 1000


def test_from_store_is_build_dataset(real: Store) -> None:
    users = ["lh:user_03", "hetrec:2", "lh:user_11"]
    ds = InteractionDataset.from_store(real, level="artist", users=users)
    assert sorted(ds.user_map.external_ids.tolist()) == sorted(users)
    assert_same(frame_path(real, "artist", users=users), ds, exact=True)


# ----------------------------------------------------------------------------- an older store


def _v1_copy(src: Path, dst: Path) -> None:
    """A schema v1 store (no ``user_keys``, no ``events.user_key``) holding ``src``'s data."""
    con = duckdb.connect(str(dst))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for statement in MIGRATIONS[0].statements:
        con.execute(statement)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'initial music store', now())")
    con.execute(f"ATTACH '{src}' AS src (READ_ONLY)")
    for table in ("ingests", "artists", "albums", "tracks", "events", "playcounts", "likes"):
        cols = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_catalog = current_database() AND table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
        ]
        names = ", ".join(cols)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM src.{table}")
    con.close()


def test_older_store_read_only_falls_back(listeners_db: Path, real: Store, tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    _v1_copy(listeners_db, path)
    with Store(path, read_only=True) as old_store:
        assert old_store.schema_version() == 1
        assert key_mode(old_store) == "joined"
        for level, weighting in (("track", "log1p"), ("artist", "plays")):
            new = build_dataset(old_store, level=level, weighting=weighting)
            assert_same(frame_path(old_store, level, weighting=weighting), new, exact=True)
            # and the same as the latest store's, keyed by events.user_key
            assert_same(
                frame_path(real, level, weighting=weighting),
                build_dataset(real, level=level, weighting=weighting),
                exact=True,
            )
            assert new.user_map == build_dataset(real, level=level).user_map


# ----------------------------------------------------------------------------- generated stores

_USERS = ["zed", "Ann", "ann", "bob", "é-user", "u10", "u2", "hetrec:9", "hetrec:10"]


def _fill(store: Store, events: list[tuple[int, int, int, bool]], extra: list[int]) -> None:
    con = store.con
    for table in ("events", "playcounts", "likes", "user_keys", "tracks", "artists"):
        con.execute(f"DELETE FROM {table}")
    con.execute(
        "INSERT INTO artists (artist_id, name, name_norm, source, ingest_id) VALUES "
        "(1, 'A', 'a', 't', 1), (2, 'B', 'b', 't', 1)"
    )
    con.execute(
        "INSERT INTO tracks (track_id, title, title_norm, artist_id, duration_ms, source, ingest_id) "
        "SELECT i, 't' || i, 't' || i, 1 + i % 2, CASE WHEN i % 3 = 0 THEN NULL ELSE 60000 * i END, "
        "'t', 1 FROM range(1, 9) r(i)"
    )
    # keys in the reverse of the ids' order (as first ingests can give them)
    used = sorted({_USERS[u] for u, *_ in events}, reverse=True)
    for k, uid in enumerate(used, start=1):
        con.execute("INSERT INTO user_keys VALUES (?, ?)", [uid, k])
    for i, (u, track, minute, skipped) in enumerate(events):
        con.execute(
            "INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, "
            "ingest_id, user_key) SELECT ?, ?, NULL, TIMESTAMP '2021-03-01' + to_minutes(?), "
            "?, ?, 's', 1, user_key FROM user_keys WHERE user_id = ?",
            [
                _USERS[u],
                track,
                minute,
                None if i % 4 == 0 else 30000 * (1 + i % 5),
                skipped,
                _USERS[u],
            ],
        )
    for j, u in enumerate(extra):  # play counts and likes, some from users without events
        con.execute(
            "INSERT INTO playcounts (user_id, artist_id, track_id, plays, source, ingest_id) "
            "VALUES (?, ?, NULL, ?, 'pc', 1)",
            [_USERS[u], 1 + j % 2, 1 + j],
        )
        con.execute(
            "INSERT INTO likes (user_id, entity_type, entity_id, liked_at, source, ingest_id) "
            "VALUES (?, 'track', ?, CASE WHEN ? THEN NULL ELSE TIMESTAMP '2021-04-01' END, 'lk', 1)",
            [_USERS[u], 1 + (j * 3) % 8, j % 2 == 0],
        )


_EVENT = st.tuples(
    st.integers(0, len(_USERS) - 1), st.integers(1, 8), st.integers(0, 5000), st.booleans()
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("matrix") / "gen.duckdb")
    yield store
    store.close()


@given(
    events=st.lists(_EVENT, min_size=1, max_size=40),
    extra=st.lists(st.integers(0, len(_USERS) - 1), max_size=6),
    level=st.sampled_from(["track", "artist", "album"]),
    weighting=st.sampled_from(["binary", "plays", "log1p", "bm25", "tfidf"]),
    min_user=st.integers(1, 3),
    skip_weight=st.sampled_from([0.0, 1.0, 2.0]),
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_same_dataset_on_generated_stores(
    scratch: Store,
    events: list[tuple[int, int, int, bool]],
    extra: list[int],
    level: str,
    weighting: str,
    min_user: int,
    skip_weight: float,
) -> None:
    _fill(scratch, events, extra)
    kw = {"weighting": weighting, "min_user_interactions": min_user, "skip_weight": skip_weight}
    try:
        old = frame_path(scratch, level, **kw)
    except DataError as exc:  # nothing left: the new path says the same
        with pytest.raises(DataError, match=str(exc).split(":")[0][:30]):
            build_dataset(scratch, level=level, **kw)  # type: ignore[arg-type]
        return
    assert key_mode(scratch) == "events"
    for keys in ("events", "joined"):
        new = build_dataset(scratch, level=level, keys=keys, **kw)  # type: ignore[arg-type]
        assert_same(old, new, exact=weighting in EXACT)


def test_events_without_keys_are_joined(scratch: Store) -> None:
    """One event written without a key: the build looks every event's key up instead."""
    _fill(scratch, [(0, 1, 0, False), (3, 2, 5, True), (3, 1, 9, False)], [5, 0])
    scratch.con.execute(
        "INSERT INTO events (user_id, track_id, ts, ms_played, skipped, source, ingest_id) "
        "VALUES ('late', 3, TIMESTAMP '2021-05-01', 1000, FALSE, 's', 1)"
    )
    assert key_mode(scratch) == "joined"
    new = build_dataset(scratch, level="track", weighting="plays")
    assert "late" in new.user_map
    assert_same(frame_path(scratch, "track", weighting="plays"), new, exact=True)


def test_errors_and_k_core_mask(scratch: Store) -> None:
    _fill(scratch, [(0, 1, 0, False)], [])
    with pytest.raises(DataError, match="no interactions match"):
        build_dataset(scratch, source="nothing")
    with pytest.raises(DataError, match="minimum-interaction"):
        build_dataset(scratch, min_user_interactions=2)
    with pytest.raises(ConfigError, match="key mode"):
        build_dataset(scratch, keys="strings")
    with pytest.raises(ConfigError, match="item level"):
        build_dataset(scratch, level="genre")
    # a, b hold items 1 and 2; c only 3: the 2-core keeps a and b
    users, items = np.array([0, 0, 1, 1, 2]), np.array([1, 2, 1, 2, 3])
    assert k_core_mask(users, items, 2, 2).tolist() == [True, True, True, True, False]
    assert k_core_mask(users, items).all()


def test_duckdb_memory_is_reset(scratch: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The grouping's bounded DuckDB memory is the store's own again afterwards."""
    _fill(scratch, [(0, 1, 0, False), (1, 2, 3, False)], [])

    def limit() -> str:
        return str(scratch.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])

    before = limit()
    assert build_dataset(scratch).nnz == 2
    assert limit() == before
    monkeypatch.setenv("ENCORE_DUCKDB_MEMORY", "1GB")  # the store's limit: left alone
    assert build_dataset(scratch).nnz == 2
    assert limit() == before


def test_one_snapshot_own_or_callers(scratch: Store) -> None:
    """The build reads in a transaction of its own, ended after; a transaction open on
    the store's connection is left alone, still usable."""
    _fill(scratch, [(0, 1, 0, False), (1, 2, 3, False)], [4])
    alone = build_dataset(scratch, level="artist")
    scratch.con.execute("BEGIN TRANSACTION")  # fails if the build left one open
    try:
        inside = build_dataset(scratch, level="artist")
        scratch.con.execute("SELECT 1").fetchall()  # still usable, still open
    finally:
        scratch.con.execute("ROLLBACK")
    assert alone.user_map == inside.user_map and alone.item_map == inside.item_map
    assert (alone.matrix != inside.matrix).nnz == 0
    pd.testing.assert_frame_equal(alone.interactions, inside.interactions)
    assert "hetrec:9" not in alone.user_map and _USERS[4] in alone.user_map

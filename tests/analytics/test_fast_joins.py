"""The fast labelling joins of the genre histogram and the trend give the old joins' answers.

``per_user_sql(..., fast=True)`` labels events through INNER joins (DuckDB's perfect hash
join; about a quarter less CPU at 10 M events, ``benchmarks/bench_coverage.py``) and
``query_checked`` falls back to the LEFT joins when the INNER ones did not label exactly
the window's events. Held here, frame for frame (values, dtypes, order, notes; a share
by minutes to 1e-12, as its total of fractional minutes is summed in the plan's order):

- on real data (three listening histories, the Spotify artist genres, HetRec; the
  session's ``real`` store, copied and resolved without the model, then given seeded
  predicted genres for the artists still unknown, as the benchmark does) for every
  ``--genres`` and ``--minutes`` basis, weeks and months, by plays and minutes, a source
  filter and skips included;
- on the hand-made store with plays naming a track and an artist missing from the
  catalogue: the fast query sees it and the answer is the LEFT joins' one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from analytics_helpers import RealData

from encore.analytics import common, genres, trend
from encore.analytics.api import run
from encore.analytics.window import resolve_window, used_params
from encore.data.resolve import resolve
from encore.data.store import Store

WHOLE = {"start": "2000-01-01", "end": "2030-12-31"}


def _exact(
    store: Store, build: Any, window: Any, extra: dict[str, Any] | None = None
) -> pd.DataFrame:
    return common.query(store, build(False), window, extra)


def _both(monkeypatch: pytest.MonkeyPatch, store: Store, question: str, **kw: Any) -> None:
    """``run(store, question, **kw)`` the fast way and the old way: equal frames."""
    fast = run(store, question, **kw)
    with monkeypatch.context() as m:
        m.setattr(genres, "query_checked", _exact)
        m.setattr(trend, "query_checked", _exact)
        old = run(store, question, **kw)
    # counts and minutes to the bit; a share by minutes divides by a sum of per-group
    # minutes (fractions) whose order follows the plan, so its last bit may differ
    pd.testing.assert_frame_equal(
        fast.drop(columns="share"), old.drop(columns="share"), check_exact=True
    )
    pd.testing.assert_series_equal(fast["share"], old["share"], check_exact=False, rtol=1e-12)
    assert fast.attrs == old.attrs


@pytest.fixture(scope="module")
def resolved_real(real: RealData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("fast_joins") / "r.duckdb"
    shutil.copyfile(real.path, path)
    store = Store(path)
    resolve(store, predict=False)  # observed steps and every duration estimate
    unknown = store.df(
        "SELECT r.artist_id FROM artist_resolution r JOIN artists a USING (artist_id) "
        "WHERE a.genre IS NULL AND r.genre IS NULL ORDER BY r.artist_id"
    )
    rng = np.random.default_rng(0)
    names = [r[0] for r in store.execute("SELECT genre FROM genres ORDER BY genre").fetchall()]
    store.con.register(
        "_pred",
        pd.DataFrame(
            {
                "artist_id": unknown["artist_id"],
                "genre": rng.choice(names, size=len(unknown)),
                "probability": rng.uniform(0.1, 0.9, size=len(unknown)),
            }
        ),
    )
    store.execute(
        "UPDATE artist_resolution SET genre = p.genre, basis = 'predicted', step = 'model', "
        "probability = p.probability FROM _pred p WHERE artist_resolution.artist_id = p.artist_id"
    )
    store.con.unregister("_pred")
    store.close()
    store = Store(path, read_only=True)
    yield store
    store.close()


CASES = [
    {},
    {"genres_basis": "observed"},
    {"genres_basis": "predicted"},
    {"genres_basis": "catalogue", "minutes_basis": "observed"},
    {"minutes_basis": "observed", "by": "minutes"},
    {"min_probability": 0.7, "include_skips": True},
    {"source": "lastfm_csv", "by": "minutes"},
]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_fast_joins_equal_the_old_on_a_resolved_real_store(
    resolved_real: Store, monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any]
) -> None:
    store = resolved_real
    # the fixture did give the store predicted genres and estimated minutes to join
    frame = run(store, "genres", **WHOLE)
    assert {"observed", "predicted", "unknown"} <= set(frame["basis"])
    assert frame["estimated_minutes"].sum() > 0
    _both(monkeypatch, store, "genres", **WHOLE, **kw)
    _both(monkeypatch, store, "trend", every="month", **WHOLE, **kw)
    _both(monkeypatch, store, "trend", every="week", start="2019-01-01", end="2019-12-31", **kw)


def test_fast_joins_equal_the_old_before_resolution(
    real: RealData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's real store was never resolved: the catalogue's genres, as before."""
    _both(monkeypatch, real.store, "genres", **WHOLE)
    _both(monkeypatch, real.store, "trend", every="month", **WHOLE, genres=["rock"])
    _both(monkeypatch, real.store, "trend", every="week", start="2019-06-01", end="2019-08-31")


def test_ids_missing_from_the_catalogue_fall_back_to_the_left_joins(
    tiny: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tiny
    row = store.df("SELECT * FROM events ORDER BY ts LIMIT 1").iloc[0]
    for track_id, artist_id in ((987_654, None), (None, 876_543)):
        store.execute(
            "INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, "
            "ingest_id, user_key) VALUES (?, ?, ?, ?, 60000, FALSE, ?, ?, ?)",
            [row.user_id, track_id, artist_id, row.ts, row.source, int(row.ingest_id),
             int(row.user_key)],
        )  # fmt: skip
    window = resolve_window(store, **WHOLE)
    sql = common.per_user_sql(window, user="user_key", fast=True)
    check = store.df(sql, used_params(sql, window.params()))
    # the INNER joins dropped the two plays, and the check columns say so
    assert int(check["_expected"].iloc[0]) - int(check["_labelled"].iloc[0]) == 2
    answer = run(store, "genres", **WHOLE)
    assert "_labelled" not in answer and "_expected" not in answer
    unknown = answer.loc[answer["genre"] == "(unknown)", "plays"]
    assert int(unknown.iloc[0]) >= 2  # both plays counted, as plays of no known genre
    _both(monkeypatch, store, "genres", **WHOLE)
    _both(monkeypatch, store, "trend", every="week", **WHOLE)


def test_no_plays_in_the_window(tiny: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _both(monkeypatch, tiny, "genres", start="1990-01-01", end="1990-12-31")
    _both(monkeypatch, tiny, "trend", every="month", start="1990-01-01", end="1990-12-31")


def test_spark_like_stores_take_the_left_joins(tiny: Store, tmp_path: Path) -> None:
    """A store that is not a DuckDB :class:`Store` (the Spark engine) never gets the fast SQL."""
    seen: list[str] = []

    class Other:
        def df(self, sql: str, params: Any = None) -> pd.DataFrame:
            seen.append(sql)
            return tiny.df(sql, params)

    window = resolve_window(tiny, **WHOLE)
    frame = common.query_checked(
        Other(),  # type: ignore[arg-type]
        lambda fast: common.per_user_sql(window, fast=fast),
        window,
    )
    assert len(seen) == 1 and "_labelled" not in seen[0] and not frame.empty

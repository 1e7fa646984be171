"""Lake ingest in batches and by date range: same rows as one write, nothing half-written.

Small settings: the session's small lake (two real listening histories and 20,000
synthetic events, ~300 day partitions) with batches of a few thousand events, so the
batching paths run many times in seconds.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources.parquet_lake import ParquetLakeLoader
from encore.data.store import Store
from encore.errors import ConfigError, DataError
from encore.lake.export import read_manifest

runner = CliRunner()

#: The play as the store keeps it, independent of ids.
PLAYS = (
    "SELECT e.user_id, e.ts, e.ms_played, e.skipped, t.title, a.name FROM events e "
    "LEFT JOIN tracks t USING (track_id) LEFT JOIN artists a "
    "ON a.artist_id = COALESCE(e.artist_id, t.artist_id) ORDER BY ALL"
)
FIRST, LAST = date(2024, 3, 1), date(2024, 3, 20)


def _plays(store: Store, where: str = "TRUE") -> list[tuple[Any, ...]]:
    sql = PLAYS.replace("ORDER BY ALL", f"WHERE {where} ORDER BY ALL")
    return [tuple(r) for r in store.execute(sql).fetchall()]


def _state(store: Store) -> dict[str, str]:
    """Row count and a digest of every table: equal means the store is unchanged."""
    out = {}
    for (table,) in store.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1"
    ).fetchall():
        rows = store.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        out[table] = f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()}"
    return out


def test_batches_write_the_same_plays_as_one_write(
    lake_db: Path, lake_dir: Path, tmp_path: Path
) -> None:
    manifest = read_manifest(lake_dir)
    with Store(tmp_path / "one.duckdb") as one, Store(tmp_path / "many.duckdb") as many:
        whole = ingest(one, ParquetLakeLoader(batch_rows=10**9), lake_dir)
        steps: list[str] = []
        batched = ingest(many, ParquetLakeLoader(batch_rows=3_000), lake_dir, progress=steps.append)
        writes = [s for s in steps if s.startswith("parquet: writing events")]
        assert len(writes) > 5 and writes[0].startswith("parquet: writing events 1/")
        assert batched.loaded == whole.loaded
        assert batched.loaded["events"] == manifest["events"]["rows"]
        assert _plays(many) == _plays(one)
        with Store(lake_db, read_only=True) as store:
            assert _plays(many) == _plays(store)
        # a second ingest of the same lake, in batches, replaces the first: nothing doubles
        again = ingest(many, ParquetLakeLoader(batch_rows=3_000), lake_dir)
        assert again.replaced_previous and again.loaded["events"] == whole.loaded["events"]
        assert many.scalar("SELECT count(*) FROM events") == whole.loaded["events"]
        assert not many.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '_lake%'"
        ).fetchall()


def test_date_range_loads_those_days_and_ranges_add_up(
    lake_db: Path, lake_dir: Path, tmp_path: Path
) -> None:
    in_range = f"CAST(e.ts AS DATE) BETWEEN DATE '{FIRST}' AND DATE '{LAST}'"
    with Store(lake_db, read_only=True) as store:
        want_range = _plays(store, in_range)
        want_all = _plays(store)
    assert 0 < len(want_range) < len(want_all)
    with Store(tmp_path / "s.duckdb") as back:
        first = ingest(back, ParquetLakeLoader(FIRST, LAST, batch_rows=2_000), lake_dir)
        assert first.loaded["events"] == len(want_range)
        assert _plays(back) == want_range
        assert first.path.endswith(f"#events={FIRST}..{LAST}")
        # the same range again replaces itself; the days before and after add to it
        same = ingest(back, ParquetLakeLoader(FIRST, LAST), lake_dir)
        assert same.replaced_previous and _plays(back) == want_range
        # an overlapping range (open start) adds nothing: its plays are already stored
        overlap = ingest(back, ParquetLakeLoader(end=LAST), lake_dir)
        assert not overlap.replaced_previous and overlap.loaded.get("events", 0) == 0
        assert overlap.duplicates["events"] == len(want_range)
        # the days after add to it
        after = ingest(back, ParquetLakeLoader(start=date(2024, 3, 21)), lake_dir)
        assert not after.replaced_previous
        assert after.loaded["events"] == len(want_all) - len(want_range)
        assert _plays(back) == want_all
        # the whole lake now adds no play: every one is already stored
        whole = ingest(back, ParquetLakeLoader(), lake_dir)
        assert whole.loaded.get("events", 0) == 0
        assert whole.duplicates["events"] == len(want_all)
        assert _plays(back) == want_all
    with (
        pytest.raises(ConfigError, match="no events from 2031-01-01"),
        Store(tmp_path / "t.duckdb") as other,
    ):
        ingest(other, ParquetLakeLoader(start=date(2031, 1, 1)), lake_dir)
    with pytest.raises(ConfigError, match="after --to"):
        ParquetLakeLoader(LAST, FIRST)


def _truncate_after_first_batch(
    loader: ParquetLakeLoader, victim: Path, seen: dict[str, int]
) -> None:
    """Make ``loader`` damage ``victim`` once its first batch is written (mid-way)."""
    real = loader._batches

    def batches(*args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        gen = real(*args, **kwargs)
        for i, frames in enumerate(gen):
            if i == 1:  # batch 0 is in the store (uncommitted) by now
                con = args[1].con
                seen["written"] = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
                victim.write_bytes(victim.read_bytes()[:100])
            yield frames

    loader._batches = batches  # type: ignore[method-assign]


def test_a_failure_mid_way_leaves_the_store_unchanged(lake_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "c.lake"
    shutil.copytree(lake_dir, copy)
    files = read_manifest(copy)["events"]["files"]
    victim = copy / sorted(f["path"] for f in files)[-1]  # in the last batch
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, ParquetLakeLoader(start=date(2024, 4, 1)), copy)  # something there
        before = _state(store)
        n_before = store.scalar("SELECT count(*) FROM events")
        loader = ParquetLakeLoader(batch_rows=3_000)
        seen: dict[str, int] = {}
        _truncate_after_first_batch(loader, victim, seen)
        with pytest.raises(DataError, match="cannot read the lake") as err:
            ingest(store, loader, copy)
        assert err.value.file == str(copy)
        assert seen["written"] > n_before  # the first batch had been written
        assert _state(store) == before  # ... and rolled back with everything else
        assert not store.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '_lake%'"
        ).fetchall()


def test_skip_keeps_the_rest_across_batches(lake_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b.lake"
    shutil.copytree(lake_dir, copy)
    rel = sorted(f["path"] for f in read_manifest(copy)["events"]["files"])[-1]
    path = copy / rel
    con = duckdb.connect()
    frame = con.sql(f"SELECT * FROM read_parquet('{path}')").df()
    frame.loc[0, "user_id"] = " "
    con.register("f", frame)
    con.execute(f"COPY (SELECT * FROM f) TO '{path}' (FORMAT parquet)")
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(DataError) as err:
            ingest(store, ParquetLakeLoader(batch_rows=3_000), copy)
        assert (err.value.file, err.value.line, err.value.field) == (str(path), 1, "user_id")
        assert store.scalar("SELECT count(*) FROM events") == 0
        result = ingest(store, ParquetLakeLoader(batch_rows=3_000), copy, on_error="skip")
        assert result.rejected == {"events": 1}
        total = read_manifest(copy)["events"]["rows"]
        assert store.scalar("SELECT count(*) FROM events") == total - 1
        assert (
            store.scalar("SELECT count(*) FROM rejects WHERE file = ? AND line = 1", [str(path)])
            == 1
        )


def test_cli_ingest_a_date_range(lake_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    args = ["ingest", "parquet", str(lake_dir), "--db", str(db), "-f", "json"]
    res = runner.invoke(app, [*args, "--from", str(FIRST), "--to", str(LAST)])
    assert res.exit_code == 0, res.output
    with Store(db, read_only=True) as store:
        days = store.execute("SELECT min(ts)::DATE, max(ts)::DATE FROM events").fetchone()
        n = store.scalar("SELECT count(*) FROM events")
    assert days is not None and days[0] >= FIRST and days[1] <= LAST and n > 0
    res = runner.invoke(app, [*args, "--from", "2024-03-20", "--to", "2024-03-01"])
    assert res.exit_code == 64 and "after --to" in res.output
    res = runner.invoke(app, [*args, "--from", "March"])
    assert res.exit_code == 64 and "--from 'March' is not a date" in res.output
    res = runner.invoke(app, [*args, "--from", "2040-01-01"])
    assert res.exit_code == 64 and "no events from 2040-01-01" in res.output
    res = runner.invoke(
        app, ["ingest", "lastfm_csv", str(tmp_path), "--db", str(db), "--from", "2024-03-01"]
    )
    assert res.exit_code == 64 and "Parquet lake" in res.output
    with Store(db, read_only=True) as store:  # the failed commands changed nothing
        assert store.scalar("SELECT count(*) FROM events") == n

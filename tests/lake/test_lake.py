"""The Parquet lake: export, DuckDB over the lake in place, ingest back, bad lakes, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

from encore.analytics import api
from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import ConfigError, DataError, SchemaError
from encore.lake.export import export_lake, read_manifest
from encore.lake.store import open_lake

runner = CliRunner()

#: Questions and options checked for equal answers (the window spans every play).
CASES: list[tuple[str, dict[str, Any]]] = [
    ("genres", {}),
    ("genres", {"by": "minutes", "include_skips": True}),
    ("top-tracks", {"n": 5}),
    ("top-artists", {"n": 5, "by": "listeners"}),
    ("top-artists", {"n": 3, "source": "lastfm_csv"}),
    ("trend", {"every": "week", "start": "2024-03-01", "end": "2024-04-30"}),
    ("trend", {"every": "month", "genres": ["rock", "unknown"]}),
]
WIDE = {"start": "2000-01-01", "end": "2030-12-31"}
#: Counts must be equal; a share of minutes divides by a sum of non-integer minutes, whose
#: last bits depend on the order the engine adds rows in (DuckDB's own parallel sums too),
#: so floats are compared to 1e-12 relative (a count off by one would be 1e-6 or more).
FLOAT_RTOL = 1e-12


def _answer(store: Any, what: str, opts: dict[str, Any]) -> pd.DataFrame:
    return api.run(store, what, **{**WIDE, **opts})


def test_manifest_lists_every_partition_and_table(lake_db: Path, lake_dir: Path) -> None:
    manifest = read_manifest(lake_dir)
    with Store(lake_db, read_only=True) as store:
        n = store.scalar("SELECT count(*) FROM events")
        days = store.scalar("SELECT count(DISTINCT CAST(ts AS DATE)) FROM events")
        tracks = store.scalar("SELECT count(*) FROM tracks")
        version = store.schema_version()
    events = manifest["events"]
    assert events["rows"] == n == sum(f["rows"] for f in events["files"])
    assert events["partitions"] == days > 250  # one folder per day
    assert all(f["path"].startswith("events/date=") for f in events["files"])
    assert manifest["schema_version"] == version
    assert manifest["tables"]["tracks"]["rows"] == tracks
    assert "rejects" not in manifest["tables"]
    # any engine reads the partitions: the date folder is each play's UTC day
    con = duckdb.connect()
    bad = con.sql(
        f"SELECT count(*) FROM read_parquet('{lake_dir}/events/**/*.parquet', "
        "hive_partitioning = true) WHERE CAST(ts AS DATE) <> date"
    ).fetchall()
    assert bad == [(0,)]


@pytest.mark.parametrize(("what", "opts"), CASES)
def test_duckdb_over_the_lake_answers_as_the_store(
    lake_db: Path, lake_dir: Path, what: str, opts: dict[str, Any]
) -> None:
    with Store(lake_db, read_only=True) as store:
        expected = _answer(store, what, opts)
    with open_lake(lake_dir) as lake:
        got = _answer(lake, what, opts)
    assert not expected.empty
    assert_frame_equal(got, expected, check_exact=False, rtol=FLOAT_RTOL, atol=0)
    assert got.attrs["notes"] == expected.attrs["notes"]


def test_ingest_parquet_round_trip_and_again(lake_db: Path, lake_dir: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "back.duckdb") as back:
        result = ingest(back, get_loader("parquet"), lake_dir)
        assert not result.rejected
        again = ingest(back, get_loader("parquet"), lake_dir)
        assert again.loaded.get("events", 0) == 0 or again.replaced_previous
        with Store(lake_db, read_only=True) as store:
            cols = ["user_id", "ts", "ms_played", "skipped"]
            q = f"SELECT {', '.join(cols)} FROM events ORDER BY ALL"
            assert_frame_equal(back.df(q), store.df(q))
            names = (
                "SELECT e.user_id, e.ts, t.title, a.name FROM events e "
                "LEFT JOIN tracks t USING (track_id) LEFT JOIN artists a "
                "ON a.artist_id = COALESCE(e.artist_id, t.artist_id) ORDER BY ALL"
            )
            assert_frame_equal(back.df(names), store.df(names))
            want = api.run(store, "genres", **WIDE)
        got = api.run(back, "genres", **WIDE)
    keep = ["genre", "plays", "minutes", "skips", "listeners"]
    assert_frame_equal(got[keep], want[keep], check_exact=False, rtol=FLOAT_RTOL, atol=0)


def _broken_copy(lake_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the lake with one events file holding a negative ms_played on row 2."""
    copy = tmp_path / "broken.lake"
    shutil.copytree(lake_dir, copy)
    rel = read_manifest(copy)["events"]["files"][0]["path"]
    path = copy / rel
    con = duckdb.connect()
    frame = con.sql(f"SELECT * FROM read_parquet('{path}')").df()
    assert len(frame) >= 2
    frame.loc[1, "ms_played"] = -5
    con.register("f", frame)
    con.execute(f"COPY (SELECT * FROM f) TO '{path}' (FORMAT parquet)")
    return copy, str(path)


def test_bad_row_is_named_by_file_row_and_field(lake_dir: Path, tmp_path: Path) -> None:
    copy, bad_file = _broken_copy(lake_dir, tmp_path)
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(DataError) as err:
            ingest(store, get_loader("parquet"), copy)
        assert err.value.file == bad_file and err.value.line == 2
        assert err.value.field == "ms_played"
        assert store.scalar("SELECT count(*) FROM events") == 0  # nothing written
        result = ingest(store, get_loader("parquet"), copy, on_error="skip")
        assert result.rejected == {"events": 1}
        assert (
            store.scalar("SELECT count(*) FROM events") == read_manifest(copy)["events"]["rows"] - 1
        )


def test_damaged_lakes_are_refused(lake_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "c.lake"
    shutil.copytree(lake_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    first = copy / manifest["events"]["files"][0]["path"]
    first.unlink()
    with pytest.raises(DataError, match="lists is missing"):
        open_lake(copy)
    manifest["schema_version"] = 999
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaError, match="schema 999"):
        read_manifest(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON") as err:
        read_manifest(copy)
    assert err.value.line == 1
    with pytest.raises(DataError, match="no lake manifest"):
        open_lake(tmp_path)


def test_export_refuses_a_folder_that_is_not_a_lake(lake_db: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with Store(lake_db, read_only=True) as store, pytest.raises(ConfigError, match="not empty"):
        export_lake(store, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_cli_export_query_and_ingest(lake_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(lake_db, db)
    res = runner.invoke(app, ["export", "events", "--db", str(db), "-f", "json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    lake = Path(info["lake"])
    assert lake == Path(f"{db}.lake") and info["events"] > 20_000
    args = ["analytics", "top-tracks", "-n", "3", "--from", "2000-01-01", "--to", "2030-12-31"]
    on_store = runner.invoke(app, [*args, "--db", str(db), "-f", "json"])
    on_lake = runner.invoke(app, [*args, "--db", str(db), "--lake", str(lake), "-f", "json"])
    assert on_store.exit_code == on_lake.exit_code == 0, on_lake.output
    assert json.loads(on_lake.stdout) == json.loads(on_store.stdout)
    res = runner.invoke(app, ["analytics", "genres", "--db", str(db), "--engine", "flink"])
    assert res.exit_code == 64 and "--engine must be one of duckdb, spark" in res.output
    back = tmp_path / "back.duckdb"
    res = runner.invoke(app, ["ingest", "parquet", str(lake), "--db", str(back)])
    assert res.exit_code == 0, res.output
    with Store(back, read_only=True) as store:
        assert store.scalar("SELECT count(*) FROM events") == info["events"]
    res = runner.invoke(app, ["ingest", "parquet", str(tmp_path), "--db", str(back)])
    assert res.exit_code == 65 and "manifest" in res.output

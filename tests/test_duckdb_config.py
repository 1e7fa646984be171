"""ENCORE_DUCKDB_MEMORY / ENCORE_DUCKDB_THREADS reach every store Encore opens.

The bounded-memory lake ingest (docs/scaling.md) relies on DuckDB's memory limit; the
scaling benchmark set it, Encore had no way to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store
from encore.errors import ConfigError


def test_limits_reach_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCORE_DUCKDB_MEMORY", "512MB")
    monkeypatch.setenv("ENCORE_DUCKDB_THREADS", "1")
    with Store(tmp_path / "s.duckdb") as store:
        limit = store.scalar("SELECT current_setting('memory_limit')")
        threads = store.scalar("SELECT current_setting('threads')")
    assert str(limit).replace(" ", "").upper() in ("488.2MIB", "512.0MB", "512MB", "488.2MB")
    assert int(threads) == 1


@pytest.mark.parametrize(
    ("var", "value"), [("ENCORE_DUCKDB_MEMORY", "lots"), ("ENCORE_DUCKDB_THREADS", "0")]
)
def test_bad_values_are_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        Store(tmp_path / "new.duckdb")
    assert not (tmp_path / "new.duckdb").exists()  # nothing written
    monkeypatch.delenv(var)
    Store(tmp_path / "s.duckdb").close()
    monkeypatch.setenv(var, value)
    res = CliRunner().invoke(app, ["info", "--db", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 64 and var in res.output

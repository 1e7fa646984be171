"""The store: migrations recorded, version checks, transactions roll back."""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.data.schema import LATEST_VERSION
from encore.data.store import Store
from encore.errors import SchemaError


def test_migrations_recorded_once(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    with Store(db) as s:
        assert s.schema_version() == LATEST_VERSION
        assert s.scalar("SELECT count(*) FROM genres") == 21
    with Store(db) as s:
        assert s.migrate() == []
        assert s.scalar("SELECT count(*) FROM schema_migrations") == LATEST_VERSION


def test_newer_schema_refused(tmp_path: Path) -> None:
    db = tmp_path / "n.duckdb"
    with Store(db) as s:
        s.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    with pytest.raises(SchemaError, match="newer"):
        Store(db)


def test_transaction_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as con:
        con.execute("INSERT INTO friends VALUES ('a', 'b', 'x', 1)")
        raise RuntimeError("boom")
    assert store.scalar("SELECT count(*) FROM friends") == 0


def test_norm_macro_matches_variants(store: Store) -> None:
    got = store.execute(
        "SELECT enc_norm('Creep (Remastered 2009)'), enc_norm('The Beatles'), "
        "enc_norm_artist('Daft Punk feat. Pharrell'), enc_norm('Björk'), enc_norm('Song - Live')"
    ).fetchone()
    assert got == ("creep", "beatles", "daft punk", "bjork", "song")


def test_read_only_missing_store(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no Encore store"):
        Store(tmp_path / "missing.duckdb", read_only=True)

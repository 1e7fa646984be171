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


def _old_store(path: Path, upto: int) -> None:
    """A store as an Encore of schema version `upto` wrote it (later migrations absent)."""
    import duckdb

    from encore.data import genres as genre_vocab
    from encore.data.schema import MIGRATIONS

    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    for m in MIGRATIONS:
        if m.version > upto:
            break
        for statement in m.statements:
            con.execute(statement)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [m.version, m.name])
        if m.version == 1:
            con.executemany("INSERT INTO genres VALUES (?, ?)", list(genre_vocab.GENRES.items()))
    con.close()


def test_reader_of_an_older_store_is_told_why(tmp_path: Path) -> None:
    # a reader of a store from an older Encore (schema 3: no track_moods) failed deep in a
    # query with "internal error ... Table track_moods does not exist" (exit 70, "a bug");
    # a reader never writes, so the store stays as it is and the message says why
    from typer.testing import CliRunner

    from encore.cli.main import app

    db = tmp_path / "old.duckdb"
    _old_store(db, 3)
    with Store(db, read_only=True) as s:
        assert s.schema_version() == 3  # opened read-only: not migrated
    res = CliRunner().invoke(app, ["moods", "chart", "--db", str(db)])
    flat = " ".join(res.output.split())
    assert res.exit_code == 70, res.output
    assert "has no table track_moods" in flat and "older Encore" in flat
    assert "internal error" not in flat
    with Store(db, read_only=True) as s:
        assert s.schema_version() == 3
    Store(db).close()  # any writer upgrades it in place
    with Store(db, read_only=True) as s:
        assert s.schema_version() == LATEST_VERSION

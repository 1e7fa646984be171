"""The Encore store: an embedded DuckDB file with a versioned schema.

One :class:`Store` wraps one DuckDB connection. Writes go through
:meth:`Store.transaction`, so a failure (or a kill) half-way leaves the store as it was:
DuckDB rolls back an uncommitted transaction when the file is next opened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from encore.config import default_db_path, duckdb_config
from encore.data import genres as genre_vocab
from encore.data.schema import CATALOGUE_TABLES, INGEST_TABLES, LATEST_VERSION, MIGRATIONS
from encore.errors import SchemaError, StoreNotFoundError

log = logging.getLogger(__name__)

#: SQL macros created on every connection (TEMP: they live with the connection).
#: ``enc_norm`` is the normalisation used to match artists, albums and tracks across
#: sources: lower case, accents stripped, "feat. X" and "(... remaster ...)" removed,
#: punctuation folded to single spaces, a leading "the " dropped.
_MACROS = (
    r"""
    CREATE OR REPLACE TEMP MACRO enc_norm(s) AS
    trim(regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(lower(strip_accents(CAST(s AS VARCHAR))),
                    '\s*[\(\[][^\)\]]*\b(feat|ft|featuring|with|remaster\w*|live|version|edit|mono|stereo|deluxe)\b[^\)\]]*[\)\]]', '', 'g'),
                '\s+-\s+.*\b(remaster\w*|live|version|edit|mono|stereo|mix)\b.*$', '', 'g'),
            '[^\p{L}\p{N}&]+', ' ', 'g'),
        '^the\s+', '', 'g'))
    """,
    r"""
    CREATE OR REPLACE TEMP MACRO enc_norm_artist(s) AS
    enc_norm(regexp_replace(CAST(s AS VARCHAR), '\s+(feat\.?|ft\.?|featuring)\s+.*$', '', 'i'))
    """,
)


def add_user_keys(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Give each user id not yet in ``user_keys`` the next integer key (schema v2).

    Call inside the writing transaction, before inserting events whose ``user_key`` is
    looked up from ``user_keys``; ids already there keep their key, so a key always means
    one user id and a user id one key.

    Parameters
    ----------
    con:
        The store's connection (inside its transaction).
    relation:
        SQL for a relation with a VARCHAR column ``u`` (user ids; NULLs and repeats are
        ignored). New ids get consecutive keys after the largest one, in id order.
    """
    con.execute(
        f"""
        INSERT INTO user_keys (user_id, user_key)
        SELECT u, CAST((SELECT COALESCE(max(user_key), 0) FROM user_keys)
                       + row_number() OVER (ORDER BY u) AS INTEGER)
        FROM (SELECT DISTINCT u FROM ({relation}) r
              WHERE u IS NOT NULL AND u NOT IN (SELECT user_id FROM user_keys))
        """
    )


@contextmanager
def genre_order(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``_genre_order`` (``genre``, ``prio``: its place in the vocabulary) registered on ``con``
    while the block runs: ties between genres go to the vocabulary's order."""
    order = {g: i for i, g in enumerate(genre_vocab.GENRES)}
    con.register("_genre_order", pd.DataFrame({"genre": list(order), "prio": list(order.values())}))
    try:
        yield
    finally:
        con.unregister("_genre_order")


class Store:
    """An open Encore store.

    Parameters
    ----------
    path:
        The DuckDB file (created when missing), or ``":memory:"``; default
        :func:`encore.config.default_db_path` (``ENCORE_DB``, else ``encore.duckdb``).
    read_only:
        Open without write access (several readers may share the file).

    Raises
    ------
    StoreNotFoundError
        ``read_only`` and the file does not exist (exit 66).
    SchemaError
        The file's schema is newer than this version of Encore knows.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = str(default_db_path() if path is None else path)
        if read_only and self.path != ":memory:" and not Path(self.path).exists():
            raise StoreNotFoundError(
                f"no Encore store at {self.path}",
                hint="build one with `encore ingest --all ../shared/data` or pass --db",
            )
        self.con = self._connect(read_only)
        self.read_only = read_only
        try:
            self._refuse_foreign()
            for macro in _MACROS:
                self.con.execute(macro)
            if not read_only:
                self.migrate()
            else:  # a reader never writes: an older store answers what its tables allow
                self._check_version()
        except BaseException:
            self.con.close()
            raise

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        config = duckdb_config()  # ENCORE_DUCKDB_MEMORY / _THREADS, checked first
        try:
            return duckdb.connect(self.path, read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise SchemaError(f"cannot open store {self.path}: {exc}") from exc

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- schema
    def _refuse_foreign(self) -> None:
        """Refuse a DuckDB file that holds tables but no Encore schema, before writing anything.

        Raises
        ------
        SchemaError
            The file is some other program's database ("not an Encore store"); it is left
            untouched.
        """
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY table_name"
        ).fetchall()
        names = [r[0] for r in rows]
        if names and "schema_migrations" not in names:
            shown = ", ".join(names[:5]) + (
                f" (and {len(names) - 5} more)" if len(names) > 5 else ""
            )
            raise SchemaError(
                f"{self.path} is not an Encore store: it holds other tables ({shown}) and no "
                "Encore schema; it was not changed",
                hint="pass --db with a new file name (or an existing Encore store)",
            )

    def schema_version(self) -> int:
        """The highest migration applied to this store (0 for an empty file).

        Raises
        ------
        SchemaError
            ``schema_migrations`` is damaged (wrong columns or values).
        """
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ).fetchone()
        if not exists or exists[0] == 0:
            return 0
        try:
            row = self.con.execute("SELECT max(version) FROM schema_migrations").fetchone()
            version = int(row[0]) if row and row[0] is not None else 0
        except (duckdb.Error, ValueError, TypeError) as exc:
            raise SchemaError(
                f"store {self.path} has a damaged schema_migrations table ({exc})",
                hint="restore the store from a backup, or rebuild it with `encore ingest`",
            ) from exc
        if version < 0:
            raise SchemaError(
                f"store {self.path} has a damaged schema_migrations table (version {version})",
                hint="restore the store from a backup, or rebuild it with `encore ingest`",
            )
        return version

    def _check_version(self) -> int:
        version = self.schema_version()
        if version > LATEST_VERSION:
            raise SchemaError(
                f"store {self.path} has schema version {version}, newer than this "
                f"Encore knows ({LATEST_VERSION})",
                hint="upgrade Encore",
            )
        return version

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; return the versions applied."""
        version = self._check_version()
        applied: list[int] = []
        if version == 0:
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            with self.transaction():
                for statement in migration.statements:
                    self.con.execute(statement)
                self.con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)],
                )
                if migration.version == 1:
                    self.con.executemany(
                        "INSERT INTO genres VALUES (?, ?)", list(genre_vocab.GENRES.items())
                    )
            applied.append(migration.version)
            log.info("applied migration %s (%s)", migration.version, migration.name)
        return applied

    # ---------------------------------------------------------------- access
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: committed on success, rolled back on any error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    def execute(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Execute one statement on the store's connection."""
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)

    def df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a query and return a pandas DataFrame."""
        return self.execute(sql, params).df()

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """Run a query and return the first column of its first row (None when empty)."""
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # ---------------------------------------------------------------- derived data
    def refresh_derived(self) -> None:
        """Recompute what is derived from several sources; call inside the ingest transaction.

        - ``genre_map``: every raw tag or genre string not yet mapped gets its coarse genre;
        - ``artists.genre``: the coarse genre with the largest total tag weight over the
          artist's tags (ties: the vocabulary's order);
        - ``tracks.genre``: the track's own ``genre_raw`` mapped, else its artist's genre.
        """
        con = self.con
        new_tags = con.execute(
            """
            SELECT DISTINCT t FROM (
                SELECT tag AS t FROM artist_tags UNION ALL
                SELECT tag FROM track_tags WHERE kind IN ('tag', 'genre') UNION ALL
                SELECT genre_raw FROM tracks WHERE genre_raw IS NOT NULL
            ) WHERE t NOT IN (SELECT tag FROM genre_map)
            """
        ).fetchall()
        if new_tags:
            rows = pd.DataFrame(
                {
                    "tag": [t for (t,) in new_tags],
                    "genre": [genre_vocab.map_genre(t) for (t,) in new_tags],
                }
            )
            con.register("_new_genre_map", rows)
            con.execute("INSERT INTO genre_map SELECT tag, genre FROM _new_genre_map")
            con.unregister("_new_genre_map")
        with genre_order(con):
            con.execute(
                """
                UPDATE artists SET genre = best.genre FROM (
                    SELECT artist_id, arg_min(genre, rk) AS genre FROM (
                        SELECT tg.artist_id, gm.genre,
                               -sum(tg.weight) * 1000 + any_value(go.prio) AS rk
                        FROM artist_tags tg
                        JOIN genre_map gm ON gm.tag = tg.tag
                        JOIN _genre_order go ON go.genre = gm.genre
                        WHERE gm.genre IS NOT NULL
                        GROUP BY tg.artist_id, gm.genre
                    ) GROUP BY artist_id
                ) best WHERE artists.artist_id = best.artist_id
                """
            )
            con.execute(
                """
                UPDATE tracks SET genre = COALESCE(gm.genre, a.genre),
                                  genre_from = CASE WHEN gm.genre IS NOT NULL THEN 'track'
                                                    WHEN a.genre IS NOT NULL THEN 'artist' END
                FROM tracks t
                LEFT JOIN genre_map gm ON gm.tag = t.genre_raw
                LEFT JOIN artists a ON a.artist_id = t.artist_id
                WHERE tracks.track_id = t.track_id
                """
            )

    # ---------------------------------------------------------------- reporting
    def counts(self) -> pd.DataFrame:
        """Rows per table and source: columns ``table``, ``source``, ``rows``."""
        parts = [
            f"SELECT '{t}' AS \"table\", source, count(*) AS rows FROM {t} GROUP BY source"
            for t in (*CATALOGUE_TABLES, *INGEST_TABLES)
        ]
        return self.df(" UNION ALL ".join(parts) + ' ORDER BY "table", source')

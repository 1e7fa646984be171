"""``encore export events``: a store as a Parquet lake (events by date, catalogue, manifest).

Layout of a lake folder::

    manifest.json                      what is here (see below)
    events/date=YYYY-MM-DD/*.parquet   the ``events`` table, one Hive partition per UTC day
    catalogue/<table>.parquet          every other table of the store, one file each

The ``events`` files keep the store's columns and types (``user_id``, ``track_id``,
``artist_id``, ``ts``, ``ms_played``, ``skipped``, ``source``, ``ingest_id``,
``user_key``); ``date`` exists only as the partition folder. Any engine that reads Hive
partitioned Parquet (DuckDB, Spark, Polars, Trino) reads the lake; the analytics read it
through :func:`encore.lake.store.open_lake` (DuckDB) or :mod:`encore.lake.spark`.

``manifest.json``: ``format`` (``encore-lake``), ``version``, the store's
``schema_version``, ``created_at``, ``store``; ``events``: ``rows``, ``first`` and
``last`` play, ``partition_by``, ``partitions``, ``columns`` (name -> DuckDB type) and
``files`` (relative path and rows of each file); ``tables``: per catalogue table its
``path``, ``rows`` and ``columns``. Readers check the format, version, schema version and
every listed file against it (:func:`read_manifest`).

The lake is written to a temporary sibling folder and moved into place at the end, so a
failed export leaves the previous lake as it was. An existing folder is replaced only when
it is a lake (has a manifest) or empty.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from encore.data.sources._toolkit import ident, sql_str
from encore.data.store import Store
from encore.errors import ConfigError, DataError, SchemaError

log = logging.getLogger(__name__)

FORMAT = "encore-lake"
VERSION = 1
MANIFEST = "manifest.json"
EVENTS_DIR = "events"
CATALOGUE_DIR = "catalogue"
PARTITION = "date"

#: Tables left out of the catalogue: none is needed by a reader and ``rejects`` holds raw
#: input lines (possibly personal data that failed validation).
_SKIP_TABLES = ("events", "rejects")


@dataclass(frozen=True)
class LakeSummary:
    """What :func:`export_lake` wrote."""

    path: Path
    events: int
    partitions: int
    tables: int
    bytes: int
    seconds: float


def _tables(store: Store) -> list[str]:
    rows = store.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows if r[0] not in _SKIP_TABLES]


def _columns(store: Store, relation: str) -> dict[str, str]:
    rows = store.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _file_rows(store: Store, pattern: str, root: Path) -> list[dict[str, Any]]:
    """Relative path and row count of every Parquet file matching ``pattern`` (metadata only)."""
    rows = store.execute(
        f"""SELECT file_name, sum(n)::BIGINT FROM (
                SELECT DISTINCT file_name, row_group_id, row_group_num_rows AS n
                FROM parquet_metadata({sql_str(pattern)}))
            GROUP BY file_name ORDER BY file_name"""
    ).fetchall()
    return [{"path": Path(f).relative_to(root).as_posix(), "rows": int(n)} for f, n in rows]


def _replaceable(path: Path) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(f"--to {path}: a file is in the way; the lake is a folder")
    if not (path / MANIFEST).is_file() and any(path.iterdir()):
        raise ConfigError(
            f"--to {path}: the folder is not empty and holds no Encore lake manifest",
            hint="choose a new or empty folder (an existing lake is replaced)",
        )


def export_lake(
    store: Store,
    to: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> LakeSummary:
    """Write the store's events and catalogue as a Parquet lake at ``to``.

    Parameters
    ----------
    store:
        The open store (read-only is enough).
    to:
        The lake folder; replaced when it already holds a lake.
    progress:
        Called with a message before each step.

    Returns
    -------
    LakeSummary

    Raises
    ------
    ConfigError
        ``to`` is a file, or a non-empty folder that is not a lake.
    OSError
        The folder cannot be created there (a parent is a file, no permission, a read-only
        file system); the message names ``to``.
    """
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    final = Path(to)
    _replaceable(final)
    tmp = final.parent / f".{final.name}.tmp-{int(time.time() * 1000)}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        # name the folder asked for, never the temporary one beside it
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(tmp) else ""
        raise OSError(
            exc.errno, f"--to {final}: cannot create the lake folder: {exc.strerror}{where}"
        ) from exc
    try:
        n_events = int(store.scalar("SELECT count(*) FROM events") or 0)
        say(f"writing {n_events:,} events by date")
        events_cols = _columns(store, "events")
        if n_events:
            store.execute(
                f"COPY (SELECT *, CAST(ts AS DATE) AS {PARTITION} FROM events) "
                f"TO {sql_str(str(tmp / EVENTS_DIR))} "
                f"(FORMAT parquet, PARTITION_BY ({PARTITION}), COMPRESSION zstd)"
            )
            files = _file_rows(store, str(tmp / EVENTS_DIR / "**" / "*.parquet"), tmp)
        else:
            (tmp / EVENTS_DIR).mkdir()
            files = []
        span = store.execute("SELECT min(ts), max(ts) FROM events").fetchone()
        tables: dict[str, Any] = {}
        (tmp / CATALOGUE_DIR).mkdir()
        for name in _tables(store):
            say(f"writing {name}")
            rel = f"{CATALOGUE_DIR}/{name}.parquet"
            store.execute(
                f"COPY (SELECT * FROM {ident(name)}) TO {sql_str(str(tmp / rel))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            tables[name] = {
                "path": rel,
                "rows": int(store.scalar(f"SELECT count(*) FROM {ident(name)}") or 0),
                "columns": _columns(store, ident(name)),
            }
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "schema_version": store.schema_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "store": str(store.path),
            "events": {
                "path": EVENTS_DIR,
                "partition_by": PARTITION,
                "rows": n_events,
                "first": None if span is None or span[0] is None else span[0].isoformat(),
                "last": None if span is None or span[1] is None else span[1].isoformat(),
                "partitions": len({Path(f["path"]).parent.name for f in files}),
                "columns": events_cols,
                "files": files,
            },
            "tables": tables,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    summary = LakeSummary(
        final,
        n_events,
        manifest["events"]["partitions"],
        len(tables),
        size,
        time.perf_counter() - started,
    )
    log.info("lake written: %s", summary)
    return summary


def read_manifest(path: str | Path, *, check_files: bool = True) -> dict[str, Any]:
    """Read and check a lake's manifest.

    Parameters
    ----------
    path:
        The lake folder.
    check_files:
        Also check that every file the manifest lists exists (and no events file is
        unlisted).

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    DataError
        No manifest, not valid JSON, not an Encore lake, or a listed file is missing.
    SchemaError
        The lake's format version or schema version is newer than this Encore knows.
    """
    from encore.data.schema import MIGRATIONS

    root = Path(path)
    file = root / MANIFEST
    if not file.is_file():
        raise DataError(
            "no lake manifest (manifest.json) here",
            file=str(root),
            hint="write a lake with `encore export events --to DIR`",
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise DataError(
            f"the manifest is not valid JSON: {exc}", file=str(file), line=line
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"not an Encore lake manifest (format is not {FORMAT!r})", file=str(file))
    for key in ("version", "schema_version", "events", "tables"):
        if key not in manifest:
            raise DataError("the manifest has no such field", file=str(file), field=key)
    if not isinstance(manifest["version"], int) or manifest["version"] > VERSION:
        raise SchemaError(
            f"lake format version {manifest['version']!r} is newer than this Encore reads ({VERSION})",
            hint="upgrade Encore",
        )
    latest = max(m.version for m in MIGRATIONS)
    if not isinstance(manifest["schema_version"], int) or manifest["schema_version"] > latest:
        raise SchemaError(
            f"the lake was written by a store of schema {manifest['schema_version']!r}; "
            f"this Encore knows up to {latest}",
            hint="upgrade Encore",
        )
    if check_files:
        listed = {f["path"] for f in manifest["events"].get("files", [])}
        for rel in sorted(listed):
            if not (root / rel).is_file():
                raise DataError(
                    "an events file the manifest lists is missing", file=str(root / rel)
                )
        present = {p.relative_to(root).as_posix() for p in (root / EVENTS_DIR).rglob("*.parquet")}
        extra = sorted(present - listed)
        if extra:
            raise DataError(
                f"{len(extra)} events file(s) not in the manifest (e.g. {extra[0]})",
                file=str(file),
                hint="re-export the lake, or remove the stray files",
            )
        for name, spec in manifest["tables"].items():
            if not (root / spec["path"]).is_file():
                raise DataError(
                    f"catalogue table {name!r} is missing", file=str(root / spec["path"])
                )
    return manifest

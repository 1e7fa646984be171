"""Ingest: loaders parse files into canonical *staged* frames; one writer puts them in the store.

This module holds the loader contract and the orchestration:

- the contract: a :class:`Loader` (one module per public format under
  :mod:`encore.data.sources`) only parses and validates, reporting bad rows through its
  :class:`IngestContext`; it returns a :class:`Staged` bundle of frames whose columns are
  listed in :data:`encore.data.writer.STAGED_COLUMNS`;
- :func:`ingest` runs a loader and, in **one transaction**:

  1. deletes what an earlier ingest of the same source and path wrote (re-running adds
     nothing);
  2. hands the staged frames to the writer (:func:`encore.data.writer.write_staged`),
     which resolves artist, album and track references against the catalogue and
     inserts the facts;
  3. records the rejected rows, recomputes derived genres
     (:meth:`~encore.data.store.Store.refresh_derived`) and records the ingest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Literal

import duckdb
import pandas as pd
import pyarrow as pa

from encore.data.schema import INGEST_TABLES
from encore.data.store import Store
from encore.data.writer import STAGED_COLUMNS, Frame, write_staged
from encore.errors import ConfigError, DataError

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]


@dataclass
class Reject:
    """One rejected input row."""

    table: str
    file: str
    line: int | None
    field: str | None
    reason: str
    raw: str | None = None


@dataclass
class Staged:
    """What a loader parsed: canonical frames by table name, plus rejected rows."""

    frames: dict[str, Frame] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)

    def add(self, table: str, frame: Frame) -> None:
        """Add (or append to) the staged frame of ``table``."""
        if table not in STAGED_COLUMNS:
            raise ValueError(f"unknown staged table {table!r}")
        if table in self.frames:
            self.frames[table] = pd.concat(
                [_to_pandas(self.frames[table]), _to_pandas(frame)], ignore_index=True
            )
        else:
            self.frames[table] = frame


def _to_pandas(frame: Frame) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, pa.Table):
        return frame.to_pandas()
    return frame.df()


@dataclass
class IngestContext:
    """What a loader gets besides the path: the policy for bad rows, progress and options.

    Attributes
    ----------
    con:
        A DuckDB connection loaders may use to read files fast (``read_csv``, ``read_json``);
        it is the store's own, so staged relations made from it can be written directly.
    on_error:
        ``"raise"``: the first bad row raises :class:`DataError` naming file, line and field;
        ``"skip"``: bad rows go to the ``rejects`` table with the reason.
    user:
        For single-person exports: the user id to use (default: the folder's name).
    """

    con: duckdb.DuckDBPyConnection
    on_error: OnError = "raise"
    user: str | None = None
    progress: Callable[[str], None] | None = None
    rejects: list[Reject] = field(default_factory=list)

    def reject(
        self,
        table: str,
        file: str | Path,
        line: int | None,
        field: str | None,
        reason: str,
        raw: str | None = None,
    ) -> None:
        """Handle one bad row: raise (strict) or record it (skip)."""
        if self.on_error == "raise":
            raise DataError(
                reason,
                file=str(file),
                line=line,
                field=field,
                hint="fix the row, or pass --on-error skip to load the rest and keep bad rows in the rejects table",
            )
        self.rejects.append(Reject(table, str(file), line, field, reason, raw))

    def step(self, message: str) -> None:
        """Report progress (shown by the CLI's Rich status)."""
        log.info(message)
        if self.progress is not None:
            self.progress(message)


class Loader(ABC):
    """Base class of every loader: subclass, set ``name``, implement ``detect`` and ``load``.

    Loaders are found by :func:`encore.data.sources.registry`; one module per format.
    """

    #: Name used by ``encore ingest NAME PATH`` and stored in every row's ``source``.
    name: ClassVar[str] = ""
    #: One line for ``encore ingest --help`` and ``encore doctor``.
    description: ClassVar[str] = ""
    #: Order within ``ingest --all`` (lower first): users and catalogue before facts.
    priority: ClassVar[int] = 50

    @classmethod
    @abstractmethod
    def detect(cls, path: Path) -> bool:
        """True when ``path`` (a file or folder) looks like this format."""

    @abstractmethod
    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Parse ``path`` into staged frames; report bad rows through ``ctx.reject``."""


@dataclass
class IngestResult:
    """What one ingest did."""

    source: str
    path: str
    ingest_id: int
    loaded: dict[str, int]
    rejected: dict[str, int]
    replaced_previous: bool


def fingerprint(path: Path) -> str:
    """A hash of the names, sizes and modification times of the files under ``path``."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def ingest(
    store: Store,
    loader: Loader,
    path: str | Path,
    *,
    on_error: OnError = "raise",
    user: str | None = None,
    label: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    """Load ``path`` with ``loader`` into ``store`` in one transaction.

    Raises
    ------
    DataError
        A bad row with ``on_error="raise"``, an empty or unreadable file; the store is unchanged.
    ConfigError
        ``path`` does not exist, or ``on_error`` is not ``raise`` or ``skip``.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file or folder")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be 'raise' or 'skip', not {on_error!r}")
    resolved = str(p.resolve())
    ctx = IngestContext(con=store.con, on_error=on_error, user=user, progress=progress)
    with store.transaction() as con:
        ctx.step(f"{loader.name}: reading {p}")
        staged = loader.load(p, ctx)
        staged.rejects.extend(ctx.rejects)
        previous = [
            r[0]
            for r in con.execute(
                "SELECT ingest_id FROM ingests WHERE source = ? AND path = ?",
                [loader.name, resolved],
            ).fetchall()
        ]
        for old in previous:
            for table in INGEST_TABLES:
                con.execute(f"DELETE FROM {table} WHERE ingest_id = ?", [old])
            con.execute("DELETE FROM ingests WHERE ingest_id = ?", [old])
        row = con.execute("SELECT nextval('ingest_id_seq')").fetchone()
        assert row is not None
        ingest_id = int(row[0])
        con.execute(
            "INSERT INTO ingests (ingest_id, source, path, label, fingerprint, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [ingest_id, loader.name, resolved, label or p.name, fingerprint(p), _now()],
        )
        ctx.step(f"{loader.name}: matching and writing")
        loaded = write_staged(store, staged.frames, source=loader.name, ingest_id=ingest_id)
        rejected: dict[str, int] = {}
        for rej in staged.rejects:
            rejected[rej.table] = rejected.get(rej.table, 0) + 1
        if staged.rejects:
            con.executemany(
                "INSERT INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [ingest_id, loader.name, r.table, r.file, r.line, r.field, r.reason, r.raw]
                    for r in staged.rejects
                ],
            )
        ctx.step(f"{loader.name}: deriving genres")
        store.refresh_derived()
        con.execute(
            "UPDATE ingests SET finished_at = ?, loaded = ?, rejected = ? WHERE ingest_id = ?",
            [_now(), json.dumps(loaded), json.dumps(rejected), ingest_id],
        )
    return IngestResult(loader.name, resolved, ingest_id, loaded, rejected, bool(previous))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

"""Ingest: loaders parse files into canonical *staged* frames; one writer puts them in the store.

This module holds the loader contract and the orchestration:

- the contract: a :class:`Loader` (one module per public format under
  :mod:`encore.data.sources`) only parses and validates, reporting bad rows through its
  :class:`IngestContext`; it returns a :class:`Staged` bundle of frames whose columns are
  listed in :data:`encore.data.writer.STAGED_COLUMNS`;
- :func:`ingest` runs a loader and, in **one transaction**:

  1. deletes what an earlier ingest of the same source wrote from the same path or from
     files of the same content (re-running adds nothing, whatever the path); a user row
     that other ingests' facts still name is kept;
  2. hands the staged frames to the writer (:func:`encore.data.writer.write_staged`),
     which resolves artist, album and track references against the catalogue and
     inserts the facts;
     Plays are keyed on their natural key (user, time, track): one already in the store,
     or repeated within the file, is not written again but counted as a duplicate;
  3. records the rejected rows, recomputes derived genres
     (:meth:`~encore.data.store.Store.refresh_derived`) and records the ingest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import duckdb
import pandas as pd
import pyarrow as pa

from encore.data import bounds
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
    #: The input field a staged column came from, by table (e.g. JODIE's ``t`` for
    #: ``events.ts``): named in errors about the value (default: the staged column).
    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    #: More frames, written one batch at a time after ``frames`` in the same transaction
    #: (a source too large to stage at once: the Parquet lake's events, a date range at a
    #: time). Each batch is checked and written like ``frames``; rows repeated across two
    #: batches are keyed like plays already in the store. Rejects a batch reports go to
    #: the ingest's rejects too.
    batches: Iterable[dict[str, Frame]] = ()

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
    dropped:
        Rows a documented rule of the format leaves out (not bad rows: Last.fm's Unix time
        0, a Spotify placeholder play, a podcast episode), counted per reason by
        :meth:`drop`; the ingest's answer reports them, so every row is accounted for.
    """

    con: duckdb.DuckDBPyConnection
    on_error: OnError = "raise"
    user: str | None = None
    progress: Callable[[str], None] | None = None
    rejects: list[Reject] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int) -> None:
        """Count ``n`` rows left out by a documented rule (``reason``: what they are)."""
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

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
        self.rejects.append(
            Reject(
                table,
                _text(str(file)),
                line,
                None if field is None else _text(field),
                _text(reason),
                None if raw is None else _text(raw),
            )
        )

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

    def variant(self) -> str:
        """What part of ``path`` this loader reads, when not all of it (``""``: all).

        Part of the ingest's identity: an ingest replaces an earlier one of the same
        source, path or content *and* variant (e.g. one date range of a lake), so loading
        another part adds to the store instead of replacing the first.
        """
        return ""


@dataclass
class IngestResult:
    """What one ingest did."""

    source: str
    path: str
    ingest_id: int
    loaded: dict[str, int]
    rejected: dict[str, int]
    replaced_previous: bool
    #: Rows not written because the store (or the file itself) already held them, per table.
    duplicates: dict[str, int] = field(default_factory=dict)
    #: The genre resolution's ``refreshed`` report when the ingest brought it up to date
    #: (:func:`encore.data.resolve.refresh`); None when the store was never resolved or
    #: ``resolve=False``.
    resolution: dict[str, Any] | None = None
    #: The earlier ingests this one replaced (same source, and same path or content):
    #: ``ingest_id``, ``path`` and the ``users`` whose plays or likes they held.
    replaced: list[dict[str, Any]] = field(default_factory=list)
    #: The users whose plays or likes this ingest holds.
    users: list[str] = field(default_factory=list)
    #: Rows the loader left out by a documented rule, per reason (:meth:`IngestContext.drop`).
    dropped: dict[str, int] = field(default_factory=dict)
    #: Stored rows this ingest changed (users given new or corrected attributes), per
    #: table; the rows it named unchanged are counted in ``duplicates``.
    updated: dict[str, int] = field(default_factory=dict)


def fingerprint(path: Path) -> str:
    """A digest of the content of the files under ``path`` (names, places and times ignored).

    The same export read as its folder, from a copy, or after a ``touch`` has the same
    fingerprint; ingest uses it to replace an earlier load of the same content.
    """
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digests = []
    for p in files:
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digests.append(h.hexdigest())
    total = hashlib.sha256()
    for d in sorted(digests):
        total.update(d.encode())
    return total.hexdigest()[:32]


_MAX_ID_LENGTH = 256


def check_user_id(user: str) -> str:
    """A ``--user`` value without surrounding whitespace.

    Raises
    ------
    ConfigError
        The id is blank, longer than 256 characters, or holds control characters or
        characters that are not valid Unicode text.
    """
    u = user.strip()
    bad: str | None = None
    if not u:
        bad = "is blank"
    elif len(u) > _MAX_ID_LENGTH:
        bad = f"is {len(u):,} characters long (at most {_MAX_ID_LENGTH})"
    elif any(ord(c) < 32 or ord(c) == 127 for c in u):
        bad = "holds control characters"
    elif any(0xD800 <= ord(c) <= 0xDFFF for c in u):
        bad = "is not valid Unicode text"
    if bad is not None:
        raise ConfigError(
            f"--user {user!r} {bad}",
            hint="give a visible id such as --user alice (or leave --user out to use the folder name)",
        )
    return u


def ingest(
    store: Store,
    loader: Loader,
    path: str | Path,
    *,
    on_error: OnError = "raise",
    user: str | None = None,
    label: str | None = None,
    progress: Callable[[str], None] | None = None,
    resolve: bool = False,
) -> IngestResult:
    """Load ``path`` with ``loader`` into ``store`` in one transaction.

    With ``resolve`` (what ``encore ingest`` does unless ``--no-resolve``), on a store that
    holds a genre resolution (``encore genre resolve``), the same transaction brings it up
    to date (:func:`encore.data.resolve.refresh`: observed genres, predictions for new
    artists from the saved model, estimated minutes), so a failed refresh leaves the store
    as it was. Off by default for library callers that write often in small batches (the
    service's live events): the analytics then say the resolution is older than the data.

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
    if user is not None:
        user = check_user_id(user)
    resolved = str(p.resolve())
    digest = fingerprint(p)
    if part := loader.variant():
        resolved, digest = f"{resolved}#{part}", f"{digest}#{part}"
    ctx = IngestContext(con=store.con, on_error=on_error, user=user, progress=progress)
    with store.transaction() as con:
        ctx.step(f"{loader.name}: reading {p}")
        staged = loader.load(p, ctx)
        enforce_bounds(con, staged, ctx, p)
        staged.rejects.extend(ctx.rejects)
        previous = [
            r[0]
            for r in con.execute(
                "SELECT ingest_id FROM ingests WHERE source = ? AND (path = ? OR fingerprint = ?) "
                "ORDER BY ingest_id",
                [loader.name, resolved, digest],
            ).fetchall()
        ]
        row = con.execute("SELECT nextval('ingest_id_seq')").fetchone()
        assert row is not None
        ingest_id = int(row[0])
        replaced = [
            {"ingest_id": old, "path": _ingest_path(con, old), "users": _ingest_users(con, old)}
            for old in previous
        ]
        for old in previous:
            _delete_ingest(con, old, ingest_id)
        con.execute(
            "INSERT INTO ingests (ingest_id, source, path, label, fingerprint, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [ingest_id, loader.name, resolved, label or p.name, digest, _now()],
        )
        ctx.step(f"{loader.name}: matching and writing")
        duplicates: dict[str, int] = {}
        updated: dict[str, int] = {}
        loaded = write_staged(
            store,
            staged.frames,
            source=loader.name,
            ingest_id=ingest_id,
            duplicates=duplicates,
            updated=updated,
        )
        seen = len(ctx.rejects)
        batches = iter(staged.batches)
        try:
            for frames in batches:
                batch = Staged(frames=dict(frames), fields=staged.fields)
                enforce_bounds(con, batch, ctx, p)
                more: dict[str, int] = {}
                # counts per ingest id: each batch's are the running totals
                loaded |= write_staged(
                    store,
                    batch.frames,
                    source=loader.name,
                    ingest_id=ingest_id,
                    duplicates=more,
                    updated=updated,
                )
                for table, n in more.items():
                    duplicates[table] = duplicates.get(table, 0) + n
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        staged.rejects.extend(ctx.rejects[seen:])
        if duplicates:
            log.info("%s: not written again (already in the store): %s", loader.name, duplicates)
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
        ).fetchall()
        refreshed = None
        if resolve:
            from encore.data.resolve import refresh

            # after finished_at: the resolution is then newer than every ingest it covers
            report = refresh(store, progress=ctx.step)
            refreshed = report["refreshed"] if report else None
        users = _ingest_users(con, ingest_id) if replaced else []
    return IngestResult(
        loader.name,
        resolved,
        ingest_id,
        loaded,
        rejected,
        bool(previous),
        duplicates,
        refreshed,
        replaced,
        users,
        dict(ctx.dropped),
        updated,
    )


def _ingest_path(con: duckdb.DuckDBPyConnection, ingest_id: int) -> str:
    row = con.execute("SELECT path FROM ingests WHERE ingest_id = ?", [ingest_id]).fetchone()
    return "" if row is None else str(row[0])


def _ingest_users(con: duckdb.DuckDBPyConnection, ingest_id: int) -> list[str]:
    """The users whose plays or likes ingest ``ingest_id`` wrote (a dataset's first 20)."""
    rows = con.execute(
        "SELECT DISTINCT user_id FROM (SELECT user_id FROM events WHERE ingest_id = $i "
        "UNION ALL SELECT user_id FROM likes WHERE ingest_id = $i) ORDER BY 1 LIMIT 20",
        {"i": ingest_id},
    ).fetchall()
    return [str(r[0]) for r in rows]


#: Fact tables whose ``user_id`` keeps a user row alive when its own ingest is replaced.
_USER_FACTS = ("events", "likes", "playcounts", "artist_tags", "playlists", "friends")


def _delete_ingest(con: duckdb.DuckDBPyConnection, old: int, new: int) -> None:
    """Delete what ingest ``old`` wrote; its user rows that other ingests' facts name stay.

    Those users are handed to ingest ``new`` (which may update them), so no fact is left
    pointing at a user that is gone.
    """
    for table in INGEST_TABLES:
        if table != "users":
            con.execute(f"DELETE FROM {table} WHERE ingest_id = ?", [old])
    named = " UNION ".join(f"SELECT user_id FROM {t}" for t in _USER_FACTS)
    named += " UNION SELECT friend_id FROM friends"
    con.execute(
        f"UPDATE users SET ingest_id = ? WHERE ingest_id = ? AND user_id IN ({named})", [new, old]
    )
    con.execute("DELETE FROM users WHERE ingest_id = ?", [old])
    con.execute("DELETE FROM ingests WHERE ingest_id = ?", [old])


def enforce_bounds(
    con: duckdb.DuckDBPyConnection, staged: Staged, ctx: IngestContext, path: Path
) -> None:
    """Check the bounded columns of every staged frame (:data:`encore.data.bounds.STAGED_BOUNDS`).

    The last line of defence behind the loaders' own checks: a value outside the bounds
    raises :class:`DataError`, or with ``--on-error skip`` its row is dropped into
    ``rejects``. The error names the row's file and line when the frame carries them
    (:data:`~encore.data.writer.PROVENANCE_COLUMNS`, which the loaders of the research TSV
    and catalogue CSV files stage), else ``path``; and the input field the value came from
    (:attr:`Staged.fields`), else the staged column.
    """
    for table, columns in bounds.STAGED_BOUNDS.items():
        frame = staged.frames.get(table)
        if frame is None:
            continue
        view = f"_bounds_{table}"
        if isinstance(frame, duckdb.DuckDBPyRelation):
            frame.create_view(view, replace=True)
            have = set(frame.columns)
        else:
            con.register(view, frame)
            have = set(frame.columns if isinstance(frame, pd.DataFrame) else frame.column_names)
        try:
            conds = {
                col: bounds.bound_sql(kind, f'TRY_CAST("{col}" AS {_BOUND_TYPES[kind]})')
                for col, kind in columns.items()
                if col in have
            }
            if not conds:
                continue
            any_bad = " OR ".join(conds.values())
            n_bad = con.execute(f"SELECT count(*) FROM {view} WHERE {any_bad}").fetchall()
            if not n_bad[0][0]:
                continue
            which = ", ".join(f"CASE WHEN {c} THEN '{col}' END" for col, c in conds.items())
            order = " ORDER BY _file, _line" if {"_file", "_line"} <= have else ""
            if not order and "_line" in have:
                order = " ORDER BY _line"
            bad = con.execute(
                f"SELECT coalesce({which}) AS _field, * FROM {view} WHERE {any_bad}{order}"
            ).df()
            names = staged.fields.get(table, {})
            for rec in bad.to_dict(orient="records"):
                col = str(rec.pop("_field"))
                file = rec.pop("_file", None)
                line = rec.pop("_line", None)
                ctx.reject(
                    table,
                    path if file is None or pd.isna(file) else file,
                    None if line is None or pd.isna(line) else int(line),
                    names.get(col, col),
                    f"{col + ' ' if col in names else ''}{rec.get(col)!s} is out of bounds: "
                    + bounds.bound_text(columns[col]),
                    json.dumps(rec, default=str, ensure_ascii=False)[:2000],
                )
            staged.frames[table] = con.sql(
                f"SELECT * FROM {view} WHERE NOT ({any_bad})"
            ).to_arrow_table()
        finally:
            if isinstance(frame, duckdb.DuckDBPyRelation):
                con.execute(f"DROP VIEW IF EXISTS {view}")
            else:
                con.unregister(view)


_BOUND_TYPES = {"time": "TIMESTAMP", "play": "HUGEINT", "duration": "HUGEINT"}


def _text(s: str) -> str:
    """Text that can be stored: lone surrogates and other unencodable characters escaped."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

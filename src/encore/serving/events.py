"""Live events: ``POST /events`` (plays, skips, likes) written as an ingest of the store.

A batch is checked (pydantic types, then every ``track_id`` against the catalogue), written
as one JSON Lines file to ``<store>.events/`` (the journal: what was accepted, replayable
with :class:`ApiEventsLoader`) and then written to the store in one transaction by the ids
it names (:func:`encore.serving.known_tracks.write_known_tracks`): the ingest recorded,
new listeners added, skips derived, as ``encore ingest`` of the journal file does, without
finding each track again from its title. A batch whose content an earlier ingest already
holds goes through :func:`encore.data.ingest.ingest`, which replaces that ingest.

DuckDB allows one writer: :class:`EventWriter` is the one thread that writes. Requests
put their batch on its queue and wait for the answer; the thread takes whatever batches
are waiting and writes them in one ingest (one transaction), which is what keeps 10
writes a second cheap. If a combined write fails, each batch is written alone, so one
client's bad batch never rejects another's. A batch is committed whole or not at all,
and each accepted event is written once.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from encore.data.bounds import MAX_PLAY_MS
from encore.data.ingest import IngestContext, Loader, Staged, ingest
from encore.data.store import Store
from encore.errors import DataError
from encore.serving.known_tracks import write_known_tracks

log = logging.getLogger(__name__)

#: Events may be dated at most this far in the future (clock skew between services).
MAX_FUTURE = timedelta(days=1)
#: Earliest accepted event time.
EARLIEST = datetime(1990, 1, 1)


class Event(BaseModel):
    """One play, skip or like of a catalogue track."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["play", "skip", "like"] = Field(description="play, skip (a play skipped) or like")
    user_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")] = Field(
        description="the listener (a new id creates the user)"
    )
    track_id: Annotated[int, Field(ge=0, le=2**62)] = Field(
        description="Encore's track id, as the recommendations give it"
    )
    ts: datetime | None = Field(
        default=None, description="when it happened (ISO 8601; default: now; naive = UTC)"
    )
    ms_played: Annotated[int, Field(ge=0, le=86_400_000)] | None = Field(
        default=None, description="milliseconds played (plays and skips)"
    )


class EventBatch(BaseModel):
    """Several events written in one transaction."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, description="the events, in any order")


class EventsWritten(BaseModel):
    """What a batch wrote."""

    accepted: int
    plays: int
    skips: int
    likes: int
    ingest_id: int
    users: list[str]


@dataclass
class _Job:
    events: list[Event]
    future: Future[EventsWritten]
    batch: bool = True


def _utc(ts: datetime | None, now: datetime) -> datetime:
    if ts is None:
        return now
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def field_name(i: int, name: str, *, batch: bool = True) -> str:
    """Event ``i``'s field as a 422 names it: the request's location joined by dots, as
    FastAPI's own validation names it (``body.events.1.track_id``; ``body.track_id`` for a
    body that is one event), so a client reads both kinds of 422 alike."""
    return f"body.events.{i}.{name}" if batch else f"body.{name}"


def check_events(
    store: Store, events: list[Event], *, now: datetime | None = None, batch: bool = True
) -> list[dict]:
    """The batch as journal rows, with each track's references from the catalogue.

    ``batch``: the body was ``{"events": [...]}`` (else one event), for naming fields.

    Raises
    ------
    DataError
        An unknown track id, a time out of range, ``ms_played`` of 24 hours or more or on a
        like; the field is
        named as FastAPI names it (:func:`field_name`: ``body.events.1.track_id``).
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    refs = _track_refs(store, {e.track_id for e in events})
    rows = []
    for i, e in enumerate(events):
        ref = refs.get(e.track_id)
        if ref is None:
            raise DataError(
                f"no track {e.track_id} in the catalogue",
                field=field_name(i, "track_id", batch=batch),
                hint="post events for tracks the store knows (ids as /recommendations gives them)",
            )
        ts = _utc(e.ts, now)
        if ts > now + MAX_FUTURE or ts < EARLIEST:
            raise DataError(
                f"time {ts.isoformat()} is outside {EARLIEST.date()} .. now + 1 day",
                field=field_name(i, "ts", batch=batch),
            )
        if e.ms_played is not None and e.ms_played >= MAX_PLAY_MS:
            raise DataError(
                f"ms_played {e.ms_played:,} is not under 24 hours ({MAX_PLAY_MS:,} ms)",
                field=field_name(i, "ms_played", batch=batch),
            )
        if e.type == "like" and e.ms_played is not None:
            raise DataError(
                "a like has no ms_played", field=field_name(i, "ms_played", batch=batch)
            )
        rows.append(
            {
                "type": e.type,
                "user_id": e.user_id.strip(),
                "ts": ts.isoformat(),
                "ms_played": e.ms_played,
                "track_id": e.track_id,
                "track": ref["title"],
                "artist": _text(ref["artist"]),
                "album": _text(ref["album"]),
                "track_mbid": _text(ref["mbid"]),
                "track_uri": _text(ref["uri"]),
            }
        )
    return rows


def _track_refs(store: Store, ids: set[int]) -> dict[int, dict[str, object]]:
    """Each stored track of ``ids`` with its references (title, artist, album, MBID, URI).

    Three lookups by key instead of one query joining artists and albums: DuckDB finds
    the few rows of a batch through the tables' primary key indexes (~1.5 ms for one
    event on the demo store) where the joins read all 63k artists and albums (~8 ms).
    The ids are integers (the request's types), written into the SQL as such.
    """

    def listed(values: set[int]) -> str:
        return ", ".join(str(int(v)) for v in sorted(values)) or "NULL"

    tracks = store.con.execute(
        "SELECT track_id, title, artist_id, album_id, mbid, uri FROM tracks "
        f"WHERE track_id IN ({listed(ids)})"
    ).fetchall()
    artists = dict(
        store.con.execute(
            "SELECT artist_id, name FROM artists WHERE artist_id IN "
            f"({listed({r[2] for r in tracks if r[2] is not None})})"
        ).fetchall()
    )
    albums = dict(
        store.con.execute(
            "SELECT album_id, title FROM albums WHERE album_id IN "
            f"({listed({r[3] for r in tracks if r[3] is not None})})"
        ).fetchall()
    )
    return {
        int(t): {
            "title": title,
            "artist": artists.get(artist),
            "album": albums.get(album),
            "mbid": mbid,
            "uri": uri,
        }
        for t, title, artist, album, mbid, uri in tracks
    }


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


_REFS = ["track", "artist", "album", "track_mbid", "track_uri"]


class ApiEventsLoader(Loader):
    """Reads a journal file of the service (JSON Lines) into staged events and likes.

    Not in :mod:`encore.data.sources`: it reads only what the service itself wrote.
    """

    name: ClassVar[str] = "api"
    description: ClassVar[str] = "events posted to the HTTP API (journal files)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        """Never detected by ``ingest --all``: the service loads its own files."""
        return False

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Stage the file's plays and skips as events and its likes as track likes."""
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        frame = pd.DataFrame(rows)
        staged = Staged()
        plays = frame[frame["type"] != "like"]
        if not plays.empty:
            staged.add(
                "events",
                pd.DataFrame(
                    {
                        "user_id": plays["user_id"],
                        "ts": pd.to_datetime(plays["ts"], format="ISO8601"),
                        "ms_played": plays["ms_played"].astype("Int64"),
                        "skipped": plays["type"].map({"skip": True}).astype("boolean"),
                        **{c: plays[c] for c in _REFS},
                    }
                ),
            )
        likes = frame[frame["type"] == "like"]
        if not likes.empty:
            staged.add(
                "likes",
                pd.DataFrame(
                    {
                        "user_id": likes["user_id"],
                        "entity_type": "track",
                        "liked_at": pd.to_datetime(likes["ts"], format="ISO8601"),
                        **{c: likes[c] for c in _REFS},
                    }
                ),
            )
        return staged


#: The tables :meth:`Store.refresh_derived` derives genres from.
_DERIVED_FROM = ("tracks", "artists", "artist_tags", "track_tags", "genre_map")


class _WriterStore(Store):
    """The events writer's view of the store (the same connection): derived genres are
    recomputed only when a batch added what they are derived from.

    :meth:`Store.refresh_derived` recomputes every artist's and track's genre (about 60 ms
    on the demo store, a quarter of a one-event write). A batch of the service holds plays,
    skips and likes of catalogue tracks, with the catalogue's own references: it adds no
    track, artist or tag, so the genres cannot change. The rows of those tables are
    counted before and after (a few ms); where a batch did add one (or the store was
    written behind the service's back), the refresh runs as ``encore ingest`` runs it.
    """

    def __init__(self, store: Store) -> None:
        self.__dict__.update(store.__dict__)
        self._derived = self._inputs()

    def _inputs(self) -> tuple[int, ...]:
        counts = ", ".join(f"(SELECT count(*) FROM {t})" for t in _DERIVED_FROM)
        row = self.con.execute(f"SELECT {counts}").fetchone()
        assert row is not None
        return tuple(int(n) for n in row)

    def refresh_derived(self) -> None:
        """Recompute the derived genres when their inputs changed since the last time."""
        if self._inputs() == self._derived:
            return
        super().refresh_derived()
        self._derived = self._inputs()


def journal_dir(db: str | Path) -> Path:
    """Where the service keeps the batches it accepted."""
    p = Path(db)
    return p.with_name(p.name + ".events")


class EventWriter:
    """The one thread that writes to the store; requests queue their batches for it."""

    def __init__(
        self,
        store: Store,
        *,
        max_jobs_per_write: int = 64,
        on_written: Callable[[set[str]], None] | None = None,
        known_ids: bool = True,
    ) -> None:
        """``on_written(users)`` is called after each commit, before the batches' requests
        are answered (the service drops those users' cached answers there).

        ``known_ids``: write batches by the track ids they name
        (:func:`~encore.serving.known_tracks.write_known_tracks`); False sends every batch
        through the general ingest path, which finds each track again from its references.
        """
        self.store: Store = _WriterStore(store)
        self.known_ids = known_ids
        self.max_jobs = max_jobs_per_write
        self.on_written = on_written
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="encore-events", daemon=True)
        self._seq = 0
        self._dir = journal_dir(store.path)
        self._thread.start()

    def submit(self, events: list[Event], *, batch: bool = True) -> Future[EventsWritten]:
        """Queue a batch (``batch``: sent as ``{"events": [...]}``, else one event); the
        future holds what was written or the error."""
        fut: Future[EventsWritten] = Future()
        self._queue.put(_Job(events, fut, batch))
        return fut

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            stop = False
            while len(jobs) < self.max_jobs:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            self._write_jobs(jobs)
            if stop:
                return

    def _write_jobs(self, jobs: list[_Job]) -> None:
        checked: list[tuple[_Job, list[dict]]] = []
        for job in jobs:
            try:
                checked.append((job, check_events(self.store, job.events, batch=job.batch)))
            except Exception as exc:
                job.future.set_exception(exc)
        if not checked:
            return
        answers: list[tuple[_Job, EventsWritten | BaseException]] = []
        try:
            results = self._write([rows for _, rows in checked])
            answers = [(job, r) for (job, _), r in zip(checked, results, strict=True)]
        except Exception as exc:
            if len(checked) == 1:
                answers = [(checked[0][0], exc)]
            else:
                log.warning(
                    "a combined write of %d batches failed (%s): one by one", len(checked), exc
                )
                for job, rows in checked:
                    try:
                        answers.append((job, self._write([rows])[0]))
                    except Exception as one:
                        answers.append((job, one))
        written = {u for _, a in answers if isinstance(a, EventsWritten) for u in a.users}
        if written and self.on_written is not None:
            try:
                self.on_written(written)
            except Exception:  # never leave a request waiting
                log.exception("on_written failed for %d users", len(written))
        for job, answer in answers:
            if isinstance(answer, EventsWritten):
                job.future.set_result(answer)
            else:
                job.future.set_exception(answer)

    def _write(self, batches: list[list[dict]]) -> list[EventsWritten]:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self._dir / f"{stamp}-{self._seq:06d}.jsonl"
        rows = [r for batch in batches for r in batch]
        path.write_text(
            "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8"
        )
        try:
            ingest_id = write_known_tracks(self.store, path, rows) if self.known_ids else None
            if ingest_id is None:  # the general path (it replaces an ingest of the same content)
                ingest_id = ingest(self.store, ApiEventsLoader(), path, label=path.name).ingest_id
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        out = []
        for batch in batches:
            kinds = [r["type"] for r in batch]
            out.append(
                EventsWritten(
                    accepted=len(batch),
                    plays=kinds.count("play"),
                    skips=kinds.count("skip"),
                    likes=kinds.count("like"),
                    ingest_id=ingest_id,
                    users=sorted({r["user_id"] for r in batch}),
                )
            )
        return out

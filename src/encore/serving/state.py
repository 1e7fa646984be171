"""What the running service holds: its settings, the store connections and the saved models.

DuckDB lets one process write a file. The service opens the store once, read-write
(:attr:`ServiceState.store`); that connection belongs to the events writer thread
(:mod:`encore.serving.events`). Every request reads through its own *cursor* of the same
database (one per worker thread, :meth:`ServiceState.reader`): a cursor is a separate
connection with its own transaction, so a reader sees each committed batch of events
whole and never a half-written one.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encore.data.store import _MACROS, Store
from encore.errors import ConfigError
from encore.serving.answers import AnswerCache


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class ServeSettings:
    """Settings of one running service.

    Attributes
    ----------
    db:
        The store file.
    read_key_required:
        Reads need an API key too (``ENCORE_API_READ_KEY_REQUIRED``; default: reads open).
    genre_model_dir:
        Where ``encore genre train`` saved its models (default as the CLI's).
    max_batch:
        Most events one ``POST /events`` may carry.
    threads:
        Worker threads answering requests (each with its own read cursor).
    answer_cache:
        Recommendation answers kept per user until their next events
        (``ENCORE_API_ANSWER_CACHE``; 0 turns the cache off).
    refresh_answers:
        Compute a user's invalidated answers again at once, in the background, after their
        events are written (``--refresh-answers``; off by default: it computes an answer per
        write, not per read after writes, which costs more CPU where writes are frequent).
    compute_threads:
        Recommendations computed at once (cache misses). CPU-bound Python shares one
        interpreter lock with the event loop: more threads than cores do not answer faster
        and slow down every cached answer, so the default is the machine's cores.
    """

    db: Path
    read_key_required: bool = False
    genre_model_dir: Path | None = None
    max_batch: int = 10_000
    threads: int = 40
    answer_cache: int = 4096
    refresh_answers: bool = False
    compute_threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))

    @classmethod
    def from_env(cls, db: Path, **overrides: Any) -> ServeSettings:
        """Settings for store ``db`` from ``ENCORE_API_*`` variables, then ``overrides``."""
        base: dict[str, Any] = {
            "db": Path(db),
            "read_key_required": _flag("ENCORE_API_READ_KEY_REQUIRED", False),
        }
        raw = os.environ.get("ENCORE_API_ANSWER_CACHE", "").strip()
        if raw:
            if not raw.isdigit():
                raise ConfigError(
                    f"ENCORE_API_ANSWER_CACHE must be a whole number of answers, not {raw!r}"
                )
            base["answer_cache"] = int(raw)
        if os.environ.get("ENCORE_GENRE_MODELS"):
            base["genre_model_dir"] = Path(os.environ["ENCORE_GENRE_MODELS"])
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


@dataclass
class ServiceState:
    """The open store, per-thread readers, the caches of loaded models and of answers."""

    settings: ServeSettings
    store: Store
    answers: AnswerCache = field(default_factory=AnswerCache)
    _local: threading.local = field(default_factory=threading.local)
    _models: dict[tuple[Any, ...], tuple[float, Any]] = field(default_factory=dict)
    _model_lock: threading.Lock = field(default_factory=threading.Lock)
    compute: Any = None  # the anyio.CapacityLimiter of cache misses (set at start-up)

    @classmethod
    def open(cls, settings: ServeSettings) -> ServiceState:
        """Open (and migrate) the store of ``settings``."""
        return cls(
            settings,
            Store(settings.db),
            AnswerCache(settings.answer_cache, refresh=settings.refresh_answers),
        )

    def close(self) -> None:
        """Close the store (readers' cursors close with it)."""
        self.store.close()

    def reader(self) -> Store:
        """This thread's read connection: a cursor of the store, with the store's macros."""
        reader: Store | None = getattr(self._local, "store", None)
        if reader is None:
            reader = Store.__new__(Store)  # a Store over a cursor: same API, no migration
            reader.path = self.store.path
            reader.read_only = True
            reader.con = self.store.con.cursor()
            for macro in _MACROS:
                reader.con.execute(macro)
            self._local.store = reader
        return reader

    def cached(self, key: tuple[Any, ...], stamp: float, build: Any) -> Any:
        """The object cached under ``key`` while ``stamp`` is unchanged, else ``build()``.

        Building happens under a lock, so concurrent first requests load or fit once.
        """
        hit = self._models.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        with self._model_lock:
            hit = self._models.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]
            value = build()
            self._models[key] = (stamp, value)
            return value


def mtime(path: Path) -> float:
    """Modification time of ``path``, or -1 when it does not exist."""
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0

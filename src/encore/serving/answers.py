"""A per-user cache of recommendation answers, invalidated by the user's own events.

A recommendation is a function of the saved model and of *that user's* events (for_you,
fold-in CF models and sequence models read them from the store at request time; no other
user's events enter it). So the service keeps each answer, serialised, under its request
``(user, model, model file's stamp, level, n, options)`` and the user's **event version**:
a counter the events writer bumps for every user of a batch it committed
(:meth:`AnswerCache.invalidate`, called before ``POST /events`` answers). A cached answer
is served only while its version is the user's current one, so the next request after a
write is computed afresh and reflects the events.

The version is read *before* the answer is computed: an answer computed while a batch was
being committed is stored under the old version and never served. Concurrent requests for
the same missing answer compute it once (the others await the first). At most ``size``
answers are kept (least recently used first out); ``size = 0`` turns the cache off.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CacheStats:
    """Counters since the service started."""

    size: int
    entries: int
    hits: int
    misses: int
    joined: int
    invalidations: int


class AnswerCache:
    """Serialised answers per ``(user, request)``, valid while the user's events are unchanged."""

    def __init__(self, size: int = 4096) -> None:
        if size < 0:
            raise ValueError("the answer cache size cannot be negative")
        self.size = size
        self._entries: OrderedDict[tuple[str, Hashable], tuple[int, bytes]] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._by_user: dict[str, set[Hashable]] = {}
        self._inflight: dict[tuple[str, Hashable, int], asyncio.Future[bytes]] = {}
        self._lock = threading.Lock()  # the writer thread invalidates; the loop reads
        self.hits = self.misses = self.joined = self.invalidations = 0

    def version(self, user: str) -> int:
        """The user's event version (0 until the service writes an event of theirs)."""
        with self._lock:
            return self._versions.get(user, 0)

    def get(self, user: str, request: Hashable) -> bytes | None:
        """The cached answer, when it was computed at the user's current version."""
        with self._lock:
            hit = self._entries.get((user, request))
            if hit is None or hit[0] != self._versions.get(user, 0):
                return None
            self._entries.move_to_end((user, request))
            return hit[1]

    def put(self, user: str, request: Hashable, version: int, body: bytes) -> None:
        """Keep ``body`` computed at ``version`` (dropped when the user has moved on)."""
        if self.size == 0:
            return
        with self._lock:
            if version != self._versions.get(user, 0):
                return
            self._entries[(user, request)] = (version, body)
            self._entries.move_to_end((user, request))
            self._by_user.setdefault(user, set()).add(request)
            while len(self._entries) > self.size:
                (old_user, old_request), _ = self._entries.popitem(last=False)
                keys = self._by_user.get(old_user)
                if keys is not None:
                    keys.discard(old_request)
                    if not keys:
                        del self._by_user[old_user]

    def invalidate(self, users: Iterable[str]) -> None:
        """The users' events changed: their cached answers are no longer served."""
        with self._lock:
            for user in set(users):
                self._versions[user] = self._versions.get(user, 0) + 1
                for request in self._by_user.pop(user, ()):
                    self._entries.pop((user, request), None)
                self.invalidations += 1

    async def answer(
        self, user: str, request: Hashable, compute: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """The cached answer, else ``await compute()`` once for all who ask meanwhile.

        ``compute``'s errors reach every waiting caller and nothing is cached.
        """
        body = self.get(user, request)
        if body is not None:
            self.hits += 1
            return body
        version = self.version(user)
        key = (user, request, version)
        pending = self._inflight.get(key)
        if pending is not None:
            self.joined += 1
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            body = await compute()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when none waited
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(body)
        self.put(user, request, version, body)
        return body

    def stats(self) -> CacheStats:
        """Counters and the number of answers kept."""
        with self._lock:
            entries = len(self._entries)
        return CacheStats(
            self.size, entries, self.hits, self.misses, self.joined, self.invalidations
        )

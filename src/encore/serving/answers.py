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

**Refresh ahead** (``refresh=True``; off by default). When a user's events invalidate
answers that were cached, each is computed again at once, in the background, at the new
version (at most one computation per answer at a time; a write during one schedules one more
after it). The next request for that user then finds the answer ready, or joins its
computation, instead of starting it. It computes an answer per write rather than per read
after writes: under 10 writes a second on a CPU-starved 2-core machine it computed 2.5x as
many answers and made the p99 worse (docs/benchmarks.md), hence off unless asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Compute = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class CacheStats:
    """Counters since the service started."""

    size: int
    entries: int
    hits: int
    misses: int
    joined: int
    invalidations: int
    refreshed: int


class AnswerCache:
    """Serialised answers per ``(user, request)``, valid while the user's events are unchanged."""

    def __init__(self, size: int = 4096, *, refresh: bool = False) -> None:
        if size < 0:
            raise ValueError("the answer cache size cannot be negative")
        self.size = size
        self.refresh = refresh
        self._entries: OrderedDict[tuple[str, Hashable], tuple[int, bytes, Compute]] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._by_user: dict[str, set[Hashable]] = {}
        self._inflight: dict[tuple[str, Hashable, int], asyncio.Future[bytes]] = {}
        self._lock = threading.Lock()  # the writer thread invalidates; the loop reads
        self._loop: asyncio.AbstractEventLoop | None = None
        # on the loop's thread only: answers being refreshed, and those written to meanwhile
        self._refreshing: dict[tuple[str, Hashable], asyncio.Task[None]] = {}
        self._again: set[tuple[str, Hashable]] = set()
        self._refreshing_users: dict[str, int] = {}  # under the lock: users being refreshed
        self.hits = self.misses = self.joined = self.invalidations = self.refreshed = 0

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

    def put(
        self, user: str, request: Hashable, version: int, body: bytes, compute: Compute
    ) -> None:
        """Keep ``body`` computed at ``version`` (dropped when the user has moved on), and
        ``compute`` to refresh it with."""
        if self.size == 0:
            return
        with self._lock:
            if version != self._versions.get(user, 0):
                return
            self._entries[(user, request)] = (version, body, compute)
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
        """The users' events changed: their cached answers are no longer served (and are
        computed again in the background when ``refresh`` is on). Any thread may call it."""
        stale: list[tuple[tuple[str, Hashable], Compute]] = []
        with self._lock:
            moved = set(users)
            for user in moved:
                self._versions[user] = self._versions.get(user, 0) + 1
                for request in self._by_user.pop(user, ()):
                    entry = self._entries.pop((user, request), None)
                    if entry is not None:
                        stale.append(((user, request), entry[2]))
                self.invalidations += 1
            busy = {u for u in moved if u in self._refreshing_users}
        loop = self._loop
        if self.refresh and (stale or busy) and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (stopping)
                loop.call_soon_threadsafe(self._schedule, stale, busy)

    def _schedule(self, stale: list[tuple[tuple[str, Hashable], Compute]], busy: set[str]) -> None:
        # a refresh running for a user written to again: one more after it, at the newer version
        self._again.update(key for key in self._refreshing if key[0] in busy)
        for key, compute in stale:
            if key in self._refreshing:
                self._again.add(key)
                continue
            with self._lock:
                self._refreshing_users[key[0]] = self._refreshing_users.get(key[0], 0) + 1
            task = asyncio.get_running_loop().create_task(self._refresh(key, compute))
            self._refreshing[key] = task

    async def _refresh(self, key: tuple[str, Hashable], compute: Compute) -> None:
        user, request = key
        try:
            while True:
                self._again.discard(key)
                try:
                    await self.answer(user, request, compute, refresh=True)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the next request computes it and says why
                    log.debug("refreshing %s's answer failed: %s", user, exc)
                    return
                if key not in self._again:
                    return
        finally:
            self._refreshing.pop(key, None)
            self._again.discard(key)
            with self._lock:
                left = self._refreshing_users.get(user, 1) - 1
                if left > 0:
                    self._refreshing_users[user] = left
                else:
                    self._refreshing_users.pop(user, None)

    def stop(self) -> None:
        """Cancel the refreshes in flight (the service is stopping)."""
        for task in list(self._refreshing.values()):
            task.cancel()

    async def answer(
        self, user: str, request: Hashable, compute: Compute, *, refresh: bool = False
    ) -> bytes:
        """The cached answer, else ``await compute()`` once for all who ask meanwhile.

        ``compute``'s errors reach every waiting caller and nothing is cached.
        ``refresh``: a background refresh, counted apart from requests.
        """
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        body = self.get(user, request)
        if body is not None:
            self.hits += not refresh
            return body
        version = self.version(user)
        key = (user, request, version)
        pending = self._inflight.get(key)
        if pending is not None:
            self.joined += not refresh
            return await asyncio.shield(pending)
        if refresh:
            self.refreshed += 1
        else:
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
        self.put(user, request, version, body, compute)
        return body

    def stats(self) -> CacheStats:
        """Counters and the number of answers kept."""
        with self._lock:
            entries = len(self._entries)
        return CacheStats(
            self.size,
            entries,
            self.hits,
            self.misses,
            self.joined,
            self.invalidations,
            self.refreshed,
        )

"""The per-user answer cache: served only at the user's current event version, computed once
for concurrent askers, bounded, errors never kept."""

from __future__ import annotations

import asyncio

import pytest

from encore.serving.answers import AnswerCache


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_a_users_events_invalidate_only_their_answers() -> None:
    cache = AnswerCache(10)
    calls: list[str] = []

    async def scenario() -> None:
        async def compute(user: str, body: bytes):  # type: ignore[no-untyped-def]
            calls.append(user)
            return body

        assert await cache.answer("a", ("m", 10), lambda: compute("a", b"a1")) == b"a1"
        assert await cache.answer("b", ("m", 10), lambda: compute("b", b"b1")) == b"b1"
        assert await cache.answer("a", ("m", 10), lambda: compute("a", b"a2")) == b"a1"
        assert await cache.answer("a", ("m", 5), lambda: compute("a", b"a5")) == b"a5"
        cache.invalidate(["a"])
        assert await cache.answer("a", ("m", 10), lambda: compute("a", b"a3")) == b"a3"
        assert await cache.answer("b", ("m", 10), lambda: compute("b", b"b2")) == b"b1"

    _run(scenario())
    assert calls == ["a", "b", "a", "a"]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.invalidations, stats.entries) == (2, 4, 1, 2)


def test_an_answer_computed_across_a_write_is_not_kept() -> None:
    cache = AnswerCache(10)

    async def scenario() -> None:
        async def compute_while_events_land() -> bytes:
            cache.invalidate(["a"])  # a batch for "a" commits while this answer is computed
            return b"old"

        assert await cache.answer("a", "r", compute_while_events_land) == b"old"
        assert cache.get("a", "r") is None

        async def fresh() -> bytes:
            return b"new"

        assert await cache.answer("a", "r", fresh) == b"new"
        assert cache.get("a", "r") == b"new"

    _run(scenario())


def test_concurrent_askers_share_one_computation_and_errors_are_not_kept() -> None:
    cache = AnswerCache(10)
    calls = 0

    async def scenario() -> None:
        nonlocal calls

        async def slow() -> bytes:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return b"x"

        bodies = await asyncio.gather(*(cache.answer("u", "r", slow) for _ in range(8)))
        assert bodies == [b"x"] * 8

        async def failing() -> bytes:
            await asyncio.sleep(0.01)
            raise LookupError("no such user")

        results = await asyncio.gather(
            *(cache.answer("v", "r", failing) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, LookupError) for r in results)
        assert cache.get("v", "r") is None

    _run(scenario())
    assert calls == 1
    assert cache.stats().joined == 7 + 2


def test_the_cache_is_bounded_and_can_be_off() -> None:
    cache = AnswerCache(3)

    async def never() -> bytes:
        raise AssertionError("not computed")

    for i in range(5):
        cache.put(f"u{i}", "r", 0, b"%d" % i, never)
    assert [cache.get(f"u{i}", "r") for i in range(5)] == [None, None, b"2", b"3", b"4"]
    cache.invalidate(["u0", "u3"])  # an evicted user and a kept one
    assert cache.stats().entries == 2
    off = AnswerCache(0)
    off.put("u", "r", 0, b"x", never)
    assert off.get("u", "r") is None
    with pytest.raises(ValueError):
        AnswerCache(-1)


def test_invalidated_answers_are_computed_again_in_the_background() -> None:
    cache = AnswerCache(10, refresh=True)
    events = {"a": 0}
    calls: list[int] = []

    async def compute() -> bytes:  # reads the user's events "now", as the service does
        calls.append(events["a"])
        await asyncio.sleep(0.02)
        return b"events=%d" % events["a"]

    async def scenario() -> None:
        assert await cache.answer("a", "r", compute) == b"events=0"
        events["a"] = 1
        cache.invalidate(["a"])  # as the writer does after committing
        await asyncio.sleep(0.1)
        assert cache.get("a", "r") == b"events=1"  # ready before anyone asks
        assert await cache.answer("a", "r", compute) == b"events=1"
        # two writes while a refresh runs: one more refresh after it, at the newest events
        events["a"] = 2
        cache.invalidate(["a"])
        await asyncio.sleep(0.005)
        events["a"] = 3
        cache.invalidate(["a"])
        await asyncio.sleep(0.15)
        assert await cache.answer("a", "r", compute) == b"events=3"
        cache.stop()

    _run(scenario())
    assert calls == [0, 1, 2, 3]
    stats = cache.stats()
    assert (stats.misses, stats.refreshed, stats.hits) == (1, 3, 2)

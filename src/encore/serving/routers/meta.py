"""``/health`` and ``/version``."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel

from encore import __version__
from encore.serving.deps import StateDep

router = APIRouter(tags=["meta"])


class AnswerCacheStats(BaseModel):
    """The recommendation answer cache since start-up (``size`` 0: off)."""

    size: int
    entries: int
    hits: int
    misses: int
    joined: int
    invalidations: int
    refreshed: int


class Health(BaseModel):
    """The service answers and its store can be read."""

    status: str
    store: str
    schema_version: int
    events: int
    users: int
    answer_cache: AnswerCacheStats


class Version(BaseModel):
    """Versions of Encore and of the store's schema."""

    encore: str
    schema_version: int


@router.get("/health", response_model=Health)
def health(state: StateDep) -> Health:
    """The store is open and readable: its schema version, how many events and users, and
    the answer cache's counters (hits, misses, answers joined while computed, users whose
    events invalidated their answers, answers computed again in the background)."""
    store = state.reader()
    return Health(
        status="ok",
        store=str(state.settings.db),
        schema_version=store.schema_version(),
        events=int(store.scalar("SELECT count(*) FROM events")),
        users=int(store.scalar("SELECT count(*) FROM users")),
        answer_cache=AnswerCacheStats(**asdict(state.answers.stats())),
    )


@router.get("/version", response_model=Version)
def version(state: StateDep) -> Version:
    """The Encore version serving and the store's schema version."""
    return Version(encore=__version__, schema_version=state.reader().schema_version())

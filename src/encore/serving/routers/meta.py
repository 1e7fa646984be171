"""``/health`` and ``/version``."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from encore import __version__
from encore.serving.deps import StateDep

router = APIRouter(tags=["meta"])


class Health(BaseModel):
    """The service answers and its store can be read."""

    status: str
    store: str
    schema_version: int
    events: int
    users: int


class Version(BaseModel):
    """Versions of Encore and of the store's schema."""

    encore: str
    schema_version: int


@router.get("/health", response_model=Health)
def health(state: StateDep) -> Health:
    """The store is open and readable: its schema version and how many events and users."""
    store = state.reader()
    return Health(
        status="ok",
        store=str(state.settings.db),
        schema_version=store.schema_version(),
        events=int(store.scalar("SELECT count(*) FROM events")),
        users=int(store.scalar("SELECT count(*) FROM users")),
    )


@router.get("/version", response_model=Version)
def version(state: StateDep) -> Version:
    """The Encore version serving and the store's schema version."""
    return Version(encore=__version__, schema_version=state.reader().schema_version())

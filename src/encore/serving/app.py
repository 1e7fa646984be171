"""The app factory: ``create_app(settings)`` builds the FastAPI app ``encore serve`` runs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI

from encore import __version__
from encore.serving import problems
from encore.serving.auth import KeyRing
from encore.serving.deps import require_read
from encore.serving.events import EventWriter
from encore.serving.state import ServeSettings, ServiceState

log = logging.getLogger(__name__)

DESCRIPTION = """Recommendations, similar tracks, listening analytics, genre prediction and
listener segments from an Encore store, and live events (plays, skips, likes) that the next
recommendation reflects. Errors are RFC 9457 problem details. See docs/service.md."""


def create_app(settings: ServeSettings) -> FastAPI:
    """The service over the store of ``settings`` (opened when the app starts).

    Raises
    ------
    SchemaError
        (at start-up) the store cannot be opened.
    """
    from encore.serving.routers import (
        analytics,
        dashboard,
        events,
        genre,
        meta,
        recommend,
        segments,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        state = ServiceState.open(settings)
        app.state.encore = state
        app.state.writer = EventWriter(state.store, on_written=state.answers.invalidate)
        app.state.keys = KeyRing(settings.db)
        state.compute = anyio.CapacityLimiter(settings.compute_threads)
        await anyio.to_thread.run_sync(warm_up, app, state)
        try:
            yield
        finally:
            state.answers.stop()
            app.state.writer.close()
            state.close()

    app = FastAPI(
        title="Encore",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    problems.install(app)
    reads = [Depends(require_read)]
    documented = problems.RESPONSES
    auth: dict[int | str, dict[str, Any]] = {
        401: {"model": problems.Problem, "description": "No API key (problem details)"},
        403: {"model": problems.Problem, "description": "Unknown or revoked key"},
    }
    app.include_router(meta.router)
    for router in (recommend.router, analytics.router, genre.router, segments.router):
        app.include_router(router, dependencies=reads, responses={**documented, **auth})
    app.include_router(events.router, responses={**documented, **auth})
    app.include_router(dashboard.router)
    return app


def warm_up(app: FastAPI, state: ServiceState) -> None:
    """Load at start-up what requests would otherwise load on first use, and say so: the
    default recommendation model, every saved segment model (with its map's neighbour
    index), the API's wording of errors (built from the OpenAPI document) and the store's
    read cursor of this thread. A saved model that fails to load is said and left to the
    request that asks for it (which answers with the error)."""
    import time

    from encore.cli.console import err_console
    from encore.serving.routers import recommend, segments

    started = time.perf_counter()
    recommend.warm_up(state)
    ready = [
        f"{name} ({level} level)"
        for (kind, name, level), _ in [*state._models.items()]
        if kind == "recommender"
    ]
    try:
        names = segments.warm_up(state)
        ready += [f"segment model {n}" for n in names]
    except Exception as exc:  # said, and answered by the request that asks for it
        log.warning("a saved segment model could not be loaded at start-up: %s", exc)
    problems.wording_of(app)
    state.reader()
    err_console.print(
        f"loaded at start-up in {time.perf_counter() - started:.1f} s: "
        + ", ".join([*ready, "the API's error wording"]),
        highlight=False,
    )


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the service (the same for every store)."""
    app = create_app(ServeSettings(db=Path("encore.duckdb")))
    return app.openapi()


def openapi_text() -> str:
    """The OpenAPI document as checked into ``docs/openapi.json``."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

"""``POST /events``: plays, skips and likes, one or a batch, behind an API key."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from encore.errors import ConfigError
from encore.serving.deps import require_write
from encore.serving.events import Event, EventBatch, EventsWritten

router = APIRouter(tags=["events"])


@router.post("/events", response_model=EventsWritten, status_code=201)
async def post_events(
    request: Request,
    body: Annotated[Event | EventBatch, Body(description="one event, or {'events': [...]}")],
    key_id: Annotated[str, Depends(require_write)],
) -> EventsWritten:
    """Write the events in one transaction through the ingest path; the next
    recommendation for their users reflects them."""
    events = body.events if isinstance(body, EventBatch) else [body]
    limit = request.app.state.encore.settings.max_batch
    if len(events) > limit:
        raise ConfigError(f"a batch holds at most {limit:,} events, not {len(events):,}")
    future = request.app.state.writer.submit(events, batch=isinstance(body, EventBatch))
    result: EventsWritten = await asyncio.wrap_future(future)
    return result

"""Dependencies shared by the routers: the service state, reads and writes behind keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from encore.serving.auth import KeyRing
from encore.serving.state import ServiceState


async def get_state(request: Request) -> ServiceState:
    """The running service's state (async: resolved on the event loop, no thread hop)."""
    state: ServiceState = request.app.state.encore
    return state


def _key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def _ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.keys
    return ring


def require_write(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> str:
    """A write: an active API key is required (401 without one, 403 for a wrong one)."""
    key = _key(authorization, x_api_key)
    if key is None:
        raise HTTPException(401, "writes need an API key: Authorization: Bearer <key>")
    key_id = _ring(request).check(key)
    if key_id is None:
        raise HTTPException(403, "this API key is not valid (unknown or revoked)")
    return key_id


async def require_read(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    """A read: open, unless the service was started with reads closed (async: no thread
    hop for the open case; a closed read checks the key ring, one ``stat`` of its file)."""
    state: ServiceState = request.app.state.encore
    if not state.settings.read_key_required:
        return
    require_write(request, authorization, x_api_key)


StateDep = Annotated[ServiceState, Depends(get_state)]

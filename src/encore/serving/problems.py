"""Errors as RFC 9457 problem details (``application/problem+json``).

Every :class:`~encore.errors.EncoreError` maps to a 4xx status here, as the CLI maps it to
an exit code: what a client sends can never produce a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from encore.errors import (
    ConfigError,
    DataError,
    EncoreError,
    MissingDependencyError,
    NotFittedError,
    SchemaError,
    UnknownIdError,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: Status and type slug of each error class (the most specific class first).
STATUS: tuple[tuple[type[EncoreError], int, str], ...] = (
    (UnknownIdError, 404, "unknown-id"),
    (DataError, 422, "bad-data"),
    (ConfigError, 400, "bad-request"),
    (NotFittedError, 409, "not-trained"),
    (MissingDependencyError, 501, "missing-dependency"),
    (SchemaError, 503, "store-unavailable"),
)


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, for people and for programs."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    hint: str | None = None
    errors: list[dict[str, Any]] | None = None


#: Problem responses every router documents (OpenAPI), besides its own success.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Bad option or value (problem details)"},
    404: {"model": Problem, "description": "Unknown user, item, genre or model (problem details)"},
    409: {"model": Problem, "description": "The model asked for is not trained (problem details)"},
    422: {"model": Problem, "description": "Invalid request or data (problem details)"},
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request: Request | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem details response."""
    body = Problem(
        type=f"https://encore.dev/problems/{slug}",
        title=title,
        status=status,
        detail=detail,
        instance=str(request.url.path) if request is not None else None,
        **extra,
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def status_of(exc: EncoreError) -> tuple[int, str]:
    """The HTTP status and type slug of an Encore error."""
    for cls, status, slug in STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 400, "bad-request"


#: Complaints about a body's shape (a field missing or not allowed), not about a value.
_SHAPE = frozenset({"missing", "extra_forbidden"})


def _union_member(loc: tuple[Any, ...]) -> str | None:
    """The union member an error is about (``body.EventBatch.events.0``: ``EventBatch``):
    pydantic puts the member's class name after ``body``; Encore's fields are lower case."""
    if len(loc) > 1 and loc[0] == "body" and isinstance(loc[1], str) and loc[1][:1].isupper():
        return loc[1]
    return None


def _closest_shape(errors: list[Any]) -> list[Any]:
    """For a body of several possible shapes (``Event | EventBatch``), only the errors of
    the shape the client meant: the member with the fewest shape complaints, then the
    fewest errors; its class name is dropped from each location (``body.events.0.track_id``)."""
    groups: dict[str, list[Any]] = {}
    for e in errors:
        member = _union_member(tuple(e.get("loc", ())))
        if member is None:
            return errors
        groups.setdefault(member, []).append(e)
    if len(groups) < 2:
        return errors
    best = min(groups.values(), key=lambda g: (sum(e.get("type") in _SHAPE for e in g), len(g)))
    return [{**e, "loc": (e["loc"][0], *e["loc"][2:])} for e in best]


def _clean(errors: list[Any]) -> list[dict[str, Any]]:
    out = []
    for e in _closest_shape(errors):
        loc = [str(p) for p in e.get("loc", ())]
        out.append(
            {"field": ".".join(loc), "message": str(e.get("msg", "")), "type": e.get("type")}
        )
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""

    @app.exception_handler(EncoreError)
    async def _encore(request: Request, exc: EncoreError) -> JSONResponse:
        status, slug = status_of(exc)
        extra: dict[str, Any] = {"hint": exc.hint} if exc.hint else {}
        if isinstance(exc, DataError):
            extra["errors"] = [
                {"field": exc.field, "line": exc.line, "file": exc.file, "message": exc.reason}
            ]
        return problem(status, slug, type(exc).__name__, exc.message, request, **extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean(list(exc.errors()))
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem(422, "invalid-request", "Invalid request", detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}
        return problem(
            exc.status_code,
            slug.get(exc.status_code, "http-error"),
            str(exc.detail) if exc.status_code >= 500 else _title(exc.status_code),
            str(exc.detail),
            request,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s", request.url.path)
        return problem(
            500, "internal", "Internal error", "an unexpected error; see the server log", request
        )


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"

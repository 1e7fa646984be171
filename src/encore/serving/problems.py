"""Errors as RFC 9457 problem details (``application/problem+json``).

Every :class:`~encore.errors.EncoreError` maps to a 4xx status here, as the CLI maps it to
an exit code: what a client sends can never produce a 500.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import duckdb
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
from encore.serving.wording import Wording, route_of, routes_of_openapi

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

#: The title of each type slug: what the problem is, in words (RFC 9457: the same for
#: every occurrence of the type), not the Python class that raised it.
TITLES: dict[str, str] = {
    "unknown-id": "Unknown id",
    "bad-data": "Invalid data",
    "bad-request": "Bad request",
    "not-trained": "Model not saved",
    "missing-dependency": "Missing dependency",
    "store-unavailable": "Store unavailable",
}


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, for people and for programs."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    hint: str | None = None
    errors: list[dict[str, Any]] | None = None


#: What a client without a (valid) API key can do about it: keys are made on the server.
KEY_HINTS: dict[int, str] = {
    401: "send the key as Authorization: Bearer <key> or X-API-Key: <key>; an operator "
    "makes keys on the server with `encore keys create NAME`",
    403: "the key is unknown or was revoked: ask an operator of the service for a new one "
    "(made on the server with `encore keys create NAME`)",
}

#: Problem responses every router documents (OpenAPI), besides its own success.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Bad option or value (problem details)"},
    404: {"model": Problem, "description": "Unknown user, item, genre or model (problem details)"},
    409: {"model": Problem, "description": "The model asked for is not trained (problem details)"},
    422: {"model": Problem, "description": "Invalid request or data (problem details)"},
    503: {"model": Problem, "description": "The store cannot answer (problem details)"},
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


def pointer(field: str) -> str | None:
    """The JSON Pointer (RFC 6901, in RFC 9457's ``#/...`` form) of a field of the request
    body named as :func:`_clean` names it: ``body.events.1.track_id`` -> ``#/events/1/track_id``;
    None for a field outside the body (``query.n``)."""
    parts = field.split(".")
    if parts[0] != "body":
        return None
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts[1:])
    return "#/" + "/".join(escaped) if len(parts) > 1 else "#"


def _clean(errors: list[Any]) -> list[dict[str, Any]]:
    """Each error with its ``field`` (FastAPI's location joined by dots, e.g.
    ``body.events.0.track_id`` or ``query.n``: the one form of every 422, the catalogue
    check of events included) and, for the body, its ``pointer`` (``#/events/0/track_id``)."""
    out = []
    for e in _closest_shape(errors):
        field = ".".join(str(p) for p in e.get("loc", ()))
        one = {"field": field, "message": str(e.get("msg", "")), "type": e.get("type")}
        if (where := pointer(field)) is not None:
            one["pointer"] = where
        out.append(one)
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""

    @app.exception_handler(EncoreError)
    async def _encore(request: Request, exc: EncoreError) -> JSONResponse:
        # the library writes its messages for the command line: said here in the words of
        # the route the client called (its parameters, the API's routes; encore.serving.wording)
        status, slug = status_of(exc)
        words, route = wording_of(request.app), route_of(request.scope.get("route"))
        say = functools.partial(words.for_client, route=route)
        extra: dict[str, Any] = {"hint": say(exc.hint)} if exc.hint else {}
        if isinstance(exc, DataError):
            where = say(exc.file) if exc.file else None
            one = {"field": exc.field, "line": exc.line, "file": where, "message": say(exc.reason)}
            if exc.field and (at := pointer(exc.field)) is not None:
                one["pointer"] = at
            extra["errors"] = [{k: v for k, v in one.items() if v is not None}]
        detail = say(exc.message) or exc.message
        return problem(status, slug, TITLES.get(slug, "Error"), detail, request, **extra)

    @app.exception_handler(duckdb.CatalogException)
    async def _catalog(request: Request, exc: duckdb.CatalogException) -> JSONResponse:
        found = re.search(r"Table with name (\S+) does not exist", str(exc))
        if found is None:
            return await _unexpected(request, exc)
        # the service opens the store read-write and upgrades it at start-up, so a table
        # missing now was removed behind its back (or the file was replaced while it ran)
        log.error("serving %s: the store has no table %s", request.url.path, found.group(1))
        return problem(
            503,
            "store-unavailable",
            TITLES["store-unavailable"],
            f"the store has no table {found.group(1)}, which this request reads",
            request,
            hint="the store was changed while the service ran or is damaged: an operator "
            "must check it on the server (`encore doctor`, `encore info`) and restart the "
            "service, which upgrades an older store when it opens it",
        )

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
        extra = {"hint": KEY_HINTS[exc.status_code]} if exc.status_code in KEY_HINTS else {}
        return problem(
            exc.status_code,
            slug.get(exc.status_code, "http-error"),
            str(exc.detail) if exc.status_code >= 500 else _title(exc.status_code),
            str(exc.detail),
            request,
            **extra,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s", request.url.path)
        return problem(
            500, "internal", "Internal error", "an unexpected error; see the server log", request
        )


def wording_of(app: FastAPI) -> Wording:
    """The app's :class:`~encore.serving.wording.Wording` (built on first use, when every
    router is included): its GET routes, the server folders a client is not shown and the
    model names ``model`` takes."""
    words: Wording | None = getattr(app.state, "wording", None)
    if words is None:
        from pathlib import Path

        from encore.config import Settings

        # the app's routes as its OpenAPI document lists them (FastAPI keeps included
        # routers' routes behind wrappers; the document is the public list)
        routes = routes_of_openapi(app.openapi())
        state = getattr(app.state, "encore", None)
        folders: list[Path] = [Path.home(), Settings.from_env().cache_dir]
        if state is not None:
            folders.append(Path(state.settings.db).resolve().parent)
            folders.append(Path(state.settings.db).parent)
            if state.settings.genre_model_dir is not None:
                folders.append(Path(state.settings.genre_model_dir))
        roots = tuple(dict.fromkeys(str(f) for f in folders if str(f) not in ("", ".", "/")))
        words = Wording(routes, roots, _model_names)
        app.state.wording = words
    return words


def for_client(request: Request, notes: list[str]) -> list[str]:
    """An answer's notes in the words of the route the client called."""
    words, route = wording_of(request.app), route_of(request.scope.get("route"))
    return [words.for_client(n, route) or n for n in notes]


def _model_names(param: str) -> tuple[str, ...]:
    """The values a free-text parameter is known to take (``model``: the registry)."""
    if param != "model":
        return ()
    from encore.recommenders.registry import available_models

    return ("for_you", *available_models())


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"

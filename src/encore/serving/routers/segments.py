"""Listener segments: a user's segment, the segments' profiles and the map."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from encore.errors import NotFittedError
from encore.segments.model import MODEL_FILE, SegmentModel, model_dir
from encore.serving.deps import StateDep
from encore.serving.routers import records
from encore.serving.state import ServiceState, mtime

router = APIRouter(tags=["segments"])

Name = Annotated[
    str, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="segment model")
]


class UserSegment(BaseModel):
    """The segment a user's current data places them in (no refit)."""

    user_id: str
    segment: int
    segment_name: str
    top_genres: str | None = None
    x: float | None = None
    y: float | None = None


class Segments(BaseModel):
    """The fitted segments' profiles."""

    model: str
    method: str
    users: int
    profiles: list[dict[str, Any]]


class MapPoint(BaseModel):
    """One listener on the 2-D map."""

    user_id: str
    x: float
    y: float
    segment: int
    segment_name: str


class SegmentMap(BaseModel):
    """Every listener of the fit on the map the fit saved."""

    model: str
    method: str | None
    points: list[MapPoint]


def segment_model(state: ServiceState, name: str) -> SegmentModel:
    """The segment model ``name`` saved by ``encore segments fit`` (re-read when it changes)."""
    directory = model_dir(state.settings.db, name)
    if not (directory / MODEL_FILE).is_file() and not (directory / "model.pkl").is_file():
        # said here rather than by SegmentModel.load, whose message names the folder on
        # the server and the command line's --name
        fit = "encore segments fit" + ("" if name == "default" else f" --name {name}")
        raise NotFittedError(
            f"no segment model {name!r} is saved for this store",
            hint=f"the service answers from saved models only: an operator must run `{fit}` "
            "on the server (the service then loads it without a restart)",
        )
    return state.cached(("segments", name), mtime(directory / MODEL_FILE), lambda: _load(directory))


def _load(directory: FilePath) -> SegmentModel:
    """A saved segment model with its map ready to place users into (the neighbour index
    of the map's listeners is built here once, not at every placement)."""
    model = SegmentModel.load(directory)
    model.map_embedding()
    return model


def warm_up(state: ServiceState) -> list[str]:
    """Load every saved segment model of the store (at start-up: the first
    ``/users/{id}/segment`` then costs no import, load or index build); their names."""
    root = model_dir(state.settings.db, "default").parent
    names = sorted(p.parent.name for p in root.glob(f"*/{MODEL_FILE}")) if root.is_dir() else []
    for name in names:
        segment_model(state, name)
    return names


@router.get("/users/{user_id}/segment", response_model=UserSegment)
async def user_segment(
    state: StateDep,
    user_id: Annotated[str, Path(description="the user")],
    name: Name = "default",
) -> Response:
    """The user's segment from their current data, placed on the map when it has one."""
    # like a recommendation, the answer is a function of the saved model and of the user's
    # own events: kept in the answer cache until the user's next events
    # (encore.serving.answers); a miss is computed on a worker thread
    directory = model_dir(state.settings.db, name)
    request = ("segment", name, mtime(directory / MODEL_FILE))

    async def compute() -> bytes:
        answer = await anyio.to_thread.run_sync(
            lambda: segment_of(state, user_id, name), limiter=state.compute
        )
        return answer.model_dump_json().encode()

    body = await state.answers.answer(user_id, request, compute)
    return Response(body, media_type="application/json")


def segment_of(state: ServiceState, user_id: str, name: str) -> UserSegment:
    """The segment of one user through :meth:`SegmentModel.assign` (the CLI's path)."""
    from encore.data.users import resolve_user

    model = segment_model(state, name)
    store = state.reader()
    frame = model.assign(store, [resolve_user(store, user_id)])
    return UserSegment(**records(frame)[0])


@router.get("/segments", response_model=Segments)
def segments(state: StateDep, name: Name = "default") -> Segments:
    """Size, genres, artists, countries and tenure of each segment."""
    model = segment_model(state, name)
    return Segments(
        model=model.name,
        method=model.segmenter.method,
        users=len(model.user_ids),
        profiles=records(model.profiles),
    )


@router.get("/segments/map", response_model=SegmentMap)
def segment_map(state: StateDep, name: Name = "default") -> SegmentMap:
    """The saved 2-D map of the listeners, coloured by segment on the dashboard."""
    model = segment_model(state, name)
    names = model.names
    points = []
    if model.xy is not None:
        for u, (x, y), s in zip(model.user_ids, model.xy, model.labels, strict=True):
            points.append(
                MapPoint(
                    user_id=u,
                    x=float(x),
                    y=float(y),
                    segment=int(s),
                    segment_name=names.get(int(s), ""),
                )
            )
    return SegmentMap(model=model.name, method=model.map_method, points=points)

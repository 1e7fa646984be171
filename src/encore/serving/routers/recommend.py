"""Recommendations for a user and similar items, through :mod:`encore.recommenders.recommend`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from encore.errors import ConfigError, NotFittedError
from encore.recommenders.recommend import (
    default_model,
    get_model_for,
    model_file,
    recommend_for_user,
    resolve_user,
)
from encore.serving import problems
from encore.serving.deps import StateDep
from encore.serving.routers import records
from encore.serving.state import ServiceState, mtime

router = APIRouter(tags=["recommendations"])

Level = Literal["track", "artist", "album"]


class RecommendedItem(BaseModel):
    """One recommended item, named, with the reason it was picked."""

    rank: int
    item_id: int
    name: str | None = None
    artist: str | None = None
    genre: str | None = None
    score: float | None = None
    raw_score: float | None = Field(
        default=None,
        description="the model's own score, which orders its list (score holds the same "
        "number); not a match probability, and not comparable between models",
    )
    because: str | None = None


class RecommendationList(BaseModel):
    """A user's list and what a person should know about it."""

    user_id: str
    model: str
    level: str
    model_source: str
    items: list[RecommendedItem]
    notes: list[str]


class SimilarItem(BaseModel):
    """An item similar to the one asked about."""

    rank: int
    item_id: int
    name: str | None = None
    artist: str | None = None
    genre: str | None = None
    score: float


class SimilarList(BaseModel):
    """Items most similar to one item, by one model."""

    item_id: int
    model: str
    level: str
    items: list[SimilarItem]


def loaded_model(state: ServiceState, name: str, level: str) -> Any:
    """The model ``name`` at ``level`` saved by ``encore train`` (re-read when its file
    changes), through :func:`~encore.recommenders.recommend.get_model_for`.

    The service answers from saved models only: a fit can take minutes, and a request must
    not be able to start one.

    Raises
    ------
    NotFittedError
        No saved model of that name and level; the hint gives the command that saves one.
    """
    path = model_file(state.settings.db, name, level)
    if not path.is_file():
        flag = "" if level == "track" else f" --level {level}"
        raise NotFittedError(
            f"no saved {name} model at {level} level for this store",
            hint="the service answers from saved models only: an operator must save one on "
            f"the server with `encore train --model {name}{flag}`, which the service then "
            "loads without a restart",
        )
    return state.cached(
        ("recommender", name, level),
        mtime(path),
        lambda: get_model_for(state.reader(), state.settings.db, name, level=level),
    )


@router.get("/users/{user_id}/recommendations", response_model=RecommendationList)
async def recommendations(
    http: Request,
    state: StateDep,
    user_id: Annotated[str, Path(description="the user, e.g. lh:user_05")],
    n: Annotated[int, Query(ge=1, le=500, description="how many items")] = 10,
    model: Annotated[
        str | None, Query(max_length=64, description="model name (default: for_you at track level)")
    ] = None,
    level: Annotated[Level, Query(description="item level")] = "track",
    new_artists_only: Annotated[bool, Query(description="only artists new to the user")] = False,
    discovery: Annotated[
        float | None, Query(ge=0, le=1, description="share of the list for new artists")
    ] = None,
    explain: Annotated[bool, Query(description="say why each item was picked")] = True,
) -> Response:
    """``n`` named items new to the user, with reasons; the user's latest events count.

    Answers are cached per user until that user's next events (:mod:`encore.serving.answers`);
    a miss is computed on a worker thread (at most ``compute_threads`` at once), never on
    the event loop.
    """
    name = model or default_model(level)
    _check_model(name, level)
    stamp = mtime(model_file(state.settings.db, name, level))
    request = (name, level, stamp, n, new_artists_only, discovery, explain)

    async def compute() -> bytes:
        answer = await anyio.to_thread.run_sync(
            lambda: answer_for(
                state, user_id, n, name, level, new_artists_only, discovery, explain
            ),
            limiter=state.compute,
        )
        answer.notes = problems.for_client(http, answer.notes)
        return answer.model_dump_json().encode()

    body = await state.answers.answer(user_id, request, compute)
    return Response(body, media_type="application/json")


def answer_for(
    state: ServiceState,
    user_id: str,
    n: int,
    name: str,
    level: str,
    new_artists_only: bool,
    discovery: float | None,
    explain: bool,
) -> RecommendationList:
    """One user's list from the saved model, through
    :func:`~encore.recommenders.recommend.recommend_for_user` (the CLI's path)."""
    store = state.reader()
    user = resolve_user(store, user_id)
    loaded = loaded_model(state, name, level)
    recs = recommend_for_user(
        store,
        loaded.model,
        user,
        n,
        explain=explain,
        level=level,
        new_artists_only=new_artists_only,
        discovery_share=discovery,
    )
    return RecommendationList(
        user_id=recs.user_id,
        model=recs.model,
        level=recs.level,
        model_source=loaded.how,
        items=[RecommendedItem(**r) for r in records(recs.table)],
        notes=[*loaded.notes, *recs.notes],
    )


@router.get("/items/{item_id}/similar", response_model=SimilarList)
def similar(
    state: StateDep,
    item_id: Annotated[int, Path(ge=0, le=2**62, description="an item id at the level")],
    n: Annotated[int, Query(ge=1, le=500)] = 10,
    model: Annotated[str, Query(max_length=64, description="a CF model with item similarity")] = (
        "item_knn"
    ),
    level: Annotated[Level, Query()] = "track",
) -> SimilarList:
    """The ``n`` items most like ``item_id`` by ``model``, named."""
    from encore.data.catalogue import item_info

    _check_model(model)
    if model == "for_you":
        raise ConfigError(
            "for_you has no item similarity",
            hint="ask a CF model that has one, e.g. model=item_knn or model=ease",
        )
    loaded = loaded_model(state, model, level)
    frame = loaded.model.similar_items([item_id], k=n)
    info = item_info(state.reader(), level, frame["similar_item_id"].tolist())
    table = frame.join(info, on="similar_item_id")
    items = [
        SimilarItem(
            rank=int(r["rank"]),
            item_id=int(r["similar_item_id"]),
            name=r.get("name"),
            artist=r.get("artist"),
            genre=r.get("genre"),
            score=float(r["score"]),
        )
        for r in records(table)
    ]
    return SimilarList(item_id=item_id, model=model, level=level, items=items)


def _check_model(name: str, level: str = "track") -> None:
    from encore.recommenders.registry import available_models

    known = {"for_you", *available_models()}
    if name not in known:
        raise ConfigError(
            f"unknown model {name!r}", hint="model is one of " + ", ".join(sorted(known))
        )
    if name == "for_you" and level != "track":
        # before looking for a saved file: no for_you is ever saved at another level
        raise ConfigError(
            f"for_you recommends tracks, not {level}s",
            hint=f"ask with level=track, or for {level}s with another model, "
            f"e.g. model={default_model(level)}&level={level}",
        )


def warm_up(state: ServiceState) -> None:
    """Load what every request needs once, at start-up: the model registry and the default
    model when it is saved (so the first request does not pay for it)."""
    from encore.recommenders.registry import available_models

    available_models()
    if model_file(state.settings.db, default_model("track"), "track").is_file():
        loaded_model(state, default_model("track"), "track")

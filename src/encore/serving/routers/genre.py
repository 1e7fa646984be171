"""Genre prediction for a track or artist of the store, or one described by name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from encore.errors import ConfigError
from encore.genre.predict import predict_new, predict_store_items, predict_store_named
from encore.genre.saved import DEFAULT_DATASET, DEFAULT_MODEL, find, load_found
from encore.serving.deps import StateDep
from encore.serving.routers import records
from encore.serving.state import mtime

router = APIRouter(prefix="/genre", tags=["genre"])


class GenreGuess(BaseModel):
    """One ranked genre of an item."""

    item_id: int | None = None
    name: str | None = None
    known_genre: str | None = None
    rank: int
    genre: str
    probability: float


class GenrePrediction(BaseModel):
    """The ranked genres of one item by one saved model."""

    model: str
    dataset: str
    predictions: list[GenreGuess]


@router.get("/predict", response_model=GenrePrediction)
def predict(
    state: StateDep,
    item_id: Annotated[
        int | None, Query(ge=0, le=2**62, description="a track id (an artist id for artist models)")
    ] = None,
    artist: Annotated[str | None, Query(max_length=300)] = None,
    album: Annotated[str | None, Query(max_length=300)] = None,
    title: Annotated[str | None, Query(max_length=300)] = None,
    year: Annotated[int | None, Query(ge=0, le=3000)] = None,
    duration: Annotated[float | None, Query(ge=0, le=86_400, description="seconds")] = None,
    model: Annotated[str, Query(max_length=32)] = DEFAULT_MODEL,
    dataset: Annotated[str, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = DEFAULT_DATASET,
    k: Annotated[int, Query(ge=1, le=30)] = 3,
    new: Annotated[
        bool,
        Query(
            description="treat artist/title as an item the store does not have, even when it has one"
        ),
    ] = False,
) -> GenrePrediction:
    """Top-``k`` genres with probabilities, from the model ``encore genre train`` saved beside
    the service's store (``make demo`` saves the default one).

    Names of an artist (or an artist and a title, for track models) the store has are
    predicted from its listeners, as its ``item_id`` would be (the answer names its id);
    ``new=true`` uses the names alone."""
    if model not in ("majority", "artist_prior", "logreg", "lightgbm", "vae"):
        raise ConfigError(
            f"unknown genre model {model!r}",
            hint="model is one of majority, artist_prior, logreg, lightgbm or vae",
        )
    named = any(v for v in (artist, album, title))
    if (item_id is not None) == named:
        # before the model is looked for: the request is wrong whether or not one is saved
        raise ConfigError(
            "give exactly one of: item_id, or artist/album/title",
            hint="e.g. /genre/predict?item_id=123 or /genre/predict?artist=Radiohead&title=Reckoner",
        )
    db = state.settings.db
    # the store's folder (else the shared one of earlier versions), or ENCORE_GENRE_MODELS;
    # looked up per request, so a model trained beside the store while the service runs
    # takes over from a shared one
    found = find(db, model, dataset, state.settings.genre_model_dir, hint_db=False)
    m = state.cached(
        ("genre", str(found.path)),
        mtime(found.path),
        lambda: load_found(found, db, say=_note),
    )
    frame = None
    if item_id is not None:
        frame = predict_store_items(state.reader(), m, [item_id], k=k)
    elif not new:
        frame = predict_store_named(
            state.reader(), m, artist=artist, album=album, title=title, k=k
        )[1]
    if frame is None:
        frame = predict_new(
            m,
            artist=artist,
            album=album,
            title=title,
            release_year=year,
            duration_ms=None if duration is None else duration * 1000,
            k=k,
        )
    return GenrePrediction(
        model=model, dataset=dataset, predictions=[GenreGuess(**r) for r in records(frame)]
    )


def _note(text: str) -> None:
    """Said on the server's stderr, once per load of the model (not to the client: the
    folders are the operator's business)."""
    from rich.markup import escape

    from encore.cli.console import err_console

    err_console.print(f"[yellow]note:[/] {escape(text)}", highlight=False, soft_wrap=True)

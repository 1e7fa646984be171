"""Predicting genres with a fitted model, and writing them back to the store."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from encore.data.store import Store
from encore.errors import ConfigError, DataError, UnknownIdError
from encore.genre.base import GenreModel
from encore.genre.features import Level, load_genre_data, new_item

log = logging.getLogger(__name__)


def predict_store_items(
    store: Store, model: GenreModel, item_ids: Sequence[int], k: int = 3
) -> pd.DataFrame:
    """Top-``k`` genres for items of the store (tracks or artists, as the model's level).

    Returns columns ``item_id, name, known_genre, rank, genre, probability``. The known
    genre is shown, never used as input.

    Raises
    ------
    UnknownIdError
        An id is not an item of the model's level in the store.
    """
    level: Level = "artist" if model.level_ == "artist" else "track"
    try:
        data = (
            load_genre_data(store, None, level=level, item_ids=list(item_ids), users=model.users_)
            if len(item_ids)
            else None
        )
    except DataError:  # none of the ids is an item of this level
        data = None
    found = set() if data is None else set(data.items["item_id"].astype(int))
    missing = [i for i in item_ids if int(i) not in found]
    if missing or data is None:
        raise UnknownIdError(
            f"{level} id",
            missing or list(item_ids),
            hint=f"the model {model.name!r} predicts {level}s; see `encore genre predict --help`",
        )
    frame = model.predict_frame(data, k=k)
    names = data.items.set_index("item_id")
    label = names["title"] if level == "track" else names["artist"]
    frame.insert(1, "name", frame["item_id"].map(label))
    frame.insert(2, "known_genre", frame["item_id"].map(names["genre"]))
    return frame


def store_item_named(store: Store, level: str, *, artist: str, title: str | None) -> int | None:
    """The store's one item of ``level`` with these names (normalised), if there is one."""
    if level == "artist":
        rows = store.execute(
            "SELECT artist_id FROM artists WHERE name_norm = enc_norm_artist($a)",
            {"a": artist},
        ).fetchall()
    else:
        rows = store.execute(
            "SELECT t.track_id FROM tracks t JOIN artists a USING (artist_id) "
            "WHERE a.name_norm = enc_norm_artist($a) AND t.title_norm = enc_norm($t)",
            {"a": artist, "t": title},
        ).fetchall()
    return int(rows[0][0]) if len(rows) == 1 else None


def predict_store_named(
    store: Store,
    model: GenreModel,
    *,
    artist: str | None,
    album: str | None = None,
    title: str | None = None,
    k: int = 3,
) -> tuple[int | None, pd.DataFrame | None]:
    """Names of one item the store has, predicted from its listeners as its id would be.

    Names identify a store item when they are an artist's (artist-level models) or an
    artist's and a title (track-level); an album narrows nothing the store keys on. Returns
    the item's id and :func:`predict_store_items`'s frame, or ``(id or None, None)`` when
    the names identify no item of the store, several, or one outside the model's data (the
    caller then predicts from the names alone, :func:`predict_new`).
    """
    if artist is None or album is not None or (model.level_ == "artist") != (title is None):
        return None, None
    named = store_item_named(store, model.level_, artist=artist, title=title)
    if named is None:
        return None, None
    try:
        return named, predict_store_items(store, model, [named], k=k)
    except UnknownIdError:  # in the store, but outside the model's data
        return named, None


def predict_new(
    model: GenreModel,
    *,
    artist: str | None = None,
    album: str | None = None,
    title: str | None = None,
    release_year: float | None = None,
    duration_ms: float | None = None,
    k: int = 3,
) -> pd.DataFrame:
    """Top-``k`` genres for an item not in the store, from what is given (no listeners).

    Raises
    ------
    ConfigError
        Nothing was given.
    """
    if not any(v for v in (artist, album, title)) and release_year is None and duration_ms is None:
        raise ConfigError("give a track id, or at least one of --artist, --album, --title")
    level: Level = "artist" if model.level_ == "artist" else "track"
    data = new_item(
        level,
        model.users_,
        model.numeric_columns_,
        artist=artist,
        album=album,
        title=title,
        release_year=release_year,
        duration_ms=duration_ms,
    )
    frame = model.predict_frame(data, k=k)
    frame["item_id"] = None
    return frame


def write_predictions(store: Store, model: GenreModel, frame: pd.DataFrame) -> dict[str, int]:
    """Store the top-1 prediction of each item in ``predicted_genres`` (model name + confidence).

    Items whose genre is already known are skipped: a prediction never stands in for, or
    overwrites, a known genre (``artists.genre``/``tracks.genre`` are not touched at all).
    Returns ``{"written": n, "skipped_known": m}``.
    """
    top = frame[(frame["rank"] == 1) & frame["item_id"].notna()]
    if top.empty:
        return {"written": 0, "skipped_known": 0}
    level = "artist" if model.level_ == "artist" else "track"
    table, key = ("artists", "artist_id") if level == "artist" else ("tracks", "track_id")
    ids = top["item_id"].astype(np.int64).tolist()
    known = {
        int(r[0])
        for r in store.execute(
            f"SELECT {key} FROM {table} WHERE {key} IN (SELECT unnest(?::BIGINT[])) AND genre IS NOT NULL",
            [ids],
        ).fetchall()
    }
    rows = top[~top["item_id"].astype(np.int64).isin(known)]
    now = datetime.now(UTC).replace(tzinfo=None)
    groups: tuple[str, ...] = tuple(getattr(model, "groups", ()))
    label = model.name if not groups or len(groups) == 3 else f"{model.name}[{'+'.join(groups)}]"
    payload = pd.DataFrame(
        {
            "entity_type": level,
            "entity_id": rows["item_id"].astype(np.int64).to_numpy(),
            "model": f"{label}:{model.dataset_}",
            "genre": rows["genre"].to_numpy(),
            "confidence": rows["probability"].astype(float).to_numpy(),
            "predicted_at": now,
        }
    )
    if not payload.empty:
        with store.transaction() as con:
            con.execute("SELECT 1").fetchall()  # complete any pending result before register
            con.register("_g_pred", payload)
            con.execute("INSERT OR REPLACE INTO predicted_genres SELECT * FROM _g_pred")
            con.unregister("_g_pred")
    log.info("wrote %d predictions, skipped %d items with a known genre", len(payload), len(known))
    return {"written": len(payload), "skipped_known": len(known)}


def unlabelled_ids(store: Store, dataset: str) -> list[int]:
    """Ids of the dataset's items whose genre is unknown."""
    data = load_genre_data(store, dataset)
    return data.items.loc[data.items["genre"].isna(), "item_id"].astype(int).tolist()

"""Names of catalogue items: what a person sees instead of an id.

One place answers "what is item N at this level" for every caller (the recommend path,
evaluation reports, the demos and later callers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from encore.data.store import Store

_SQL = {
    "artist": "SELECT artist_id AS item_id, name, name AS artist, genre FROM artists",
    "album": """SELECT al.album_id AS item_id, al.title AS name, a.name AS artist, a.genre
                FROM albums al LEFT JOIN artists a USING (artist_id)""",
    "track": """SELECT t.track_id AS item_id, t.title AS name, a.name AS artist, t.genre
                FROM tracks t LEFT JOIN artists a USING (artist_id)""",
}


def item_info(
    store: Store, level: str, item_ids: Sequence[Any] | np.ndarray | None = None
) -> pd.DataFrame:
    """Name, artist and coarse genre of items (index ``item_id``) at ``level``."""
    sql = _SQL.get(level, _SQL["track"])
    if item_ids is not None:
        ids = [int(i) for i in pd.unique(np.asarray(item_ids))]
        frame = store.con.execute(
            f"SELECT * FROM ({sql}) WHERE item_id = ANY($ids)", {"ids": ids}
        ).df()
    else:
        frame = store.con.execute(sql).df()
    return frame.set_index("item_id")


def label(info: pd.DataFrame, item: Any) -> str:
    """``Title - Artist`` (or the name alone for artists) of ``item`` in an :func:`item_info` frame."""
    if item in info.index:
        row = info.loc[item]
        name = str(row["name"])
        artist = row["artist"]
        if artist is None or (isinstance(artist, float) and np.isnan(artist)) or artist == name:
            return name
        return f"{name} - {artist}"
    return str(item)

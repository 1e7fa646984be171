"""Recommendations with their reasons, for ``encore recommend USER --explain``.

:func:`recommend_with_explanations` joins a model's top-``k`` with, for each item, the
user's items that contributed most to its score (``Recommender.explain``) and their share
of the score, in one frame the CLI and the API can print as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from encore.recommenders.base import Recommender

EXPLAINED_COLUMNS: tuple[str, ...] = (
    "user_id",
    "item_id",
    "score",
    "rank",
    "contributor_item_id",
    "contribution",
    "share",
)


def recommend_with_explanations(
    model: Recommender,
    user_id: Any,
    k: int = 10,
    *,
    n: int = 3,
    exclude_seen: bool = True,
    items: Any = None,
) -> pd.DataFrame:
    """Top-``k`` items of one fitted user, each with its ``n`` main contributors.

    Parameters
    ----------
    model:
        A fitted model whose ``supports_explain`` is True.
    user_id:
        A user known at fit time.
    k, exclude_seen, items:
        As in :meth:`Recommender.recommend`.
    n:
        Contributors per recommended item.

    Returns
    -------
    pandas.DataFrame
        One row per (recommendation, contributor): ``user_id, item_id, score, rank,
        contributor_item_id, contribution, share`` (``share`` = contribution / score),
        ordered by rank then contribution.

    Raises
    ------
    ConfigError
        The model cannot explain its recommendations (the hint names the models that can).
    UnknownIdError
        Unknown user.
    """
    model.require("explain")  # before the work of recommending
    recs = model.recommend([user_id], k=k, exclude_seen=exclude_seen, items=items)
    if recs.empty:
        return pd.DataFrame({c: [] for c in EXPLAINED_COLUMNS})
    why = model.explain(user_id, recs["item_id"], n=n)
    out = recs.merge(why.drop(columns="user_id"), on="item_id", how="left")
    score = out["score"].to_numpy(dtype=np.float64)
    contrib = out["contribution"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(np.abs(score) > 1e-12, contrib / score, np.nan)
    out["share"] = share
    out = out.sort_values(["rank", "contribution"], ascending=[True, False], kind="stable")
    return out[list(EXPLAINED_COLUMNS)].reset_index(drop=True)


def explanation_text(frame: pd.DataFrame, names: dict[Any, str] | None = None) -> pd.DataFrame:
    """One row per recommendation with a ``because`` column naming the contributors.

    Parameters
    ----------
    frame:
        The output of :func:`recommend_with_explanations`.
    names:
        Optional item id -> display name (e.g. "Artist - Title").

    Returns
    -------
    pandas.DataFrame
        ``user_id, item_id, score, rank, because``.
    """
    names = names or {}

    def label(item: Any) -> str:
        return names.get(item, str(item))

    rows = []
    for (user, item, score, rank), g in frame.groupby(
        ["user_id", "item_id", "score", "rank"], sort=False
    ):
        parts = [
            f"{label(c)} ({s:.0%})" if np.isfinite(s) else label(c)
            for c, s in zip(g["contributor_item_id"], g["share"], strict=True)
            if pd.notna(c)
        ]
        rows.append(
            {
                "user_id": user,
                "item_id": item,
                "score": score,
                "rank": rank,
                "because": ", ".join(parts),
            }
        )
    out = pd.DataFrame(rows, columns=["user_id", "item_id", "score", "rank", "because"])
    return out.sort_values("rank").reset_index(drop=True)

"""Full-ranking top-k metrics with per-user values.

Definitions (binary relevance; ``rel_u`` is user u's relevant set, ``hit_r`` is 1 when
the item at rank r is relevant, only ranks ``r <= k`` count):

* ``precision@k = hits / k``
* ``recall@k = hits / |rel_u|``
* ``ndcg@k = sum_r hit_r / log2(r + 1)`` divided by the best achievable value,
  ``sum_{i=1}^{min(|rel_u|, k)} 1 / log2(i + 1)``
* ``map@k``: average precision, ``sum_r hit_r * precision@r / min(|rel_u|, k)``
* ``mrr@k = 1 / rank of the first hit`` (0 without a hit)
* ``hit_rate@k = 1`` if any hit
* ``novelty@k``: mean self-information ``-log2 p(i)`` of the recommended items, where
  ``p(i)`` is the share of train users who have item i (unknown items count as one user)
* ``diversity@k``: intra-list genre diversity, the share of pairs of recommended items
  (with a known genre) whose genres differ; undefined (NaN) with fewer than two
* ``coverage@k`` (aggregate only): distinct recommended items / catalogue size

The relevant set is the user's test items **minus the items the user had in train**
(new items only, ``exclude_seen=True``). Users whose relevant set is then empty are
excluded from every mean and counted in :attr:`MetricResult.n_users_no_relevant`.
Users with relevant items but no recommendations score 0 on accuracy.

Written by hand rather than taken from a library so that both Encore and peer libraries
(RecTools, implicit) are scored by one piece of code on their recommendation frames.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

USER, ITEM, SCORE, RANK = "user_id", "item_id", "score", "rank"

ACCURACY_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")
BEYOND_METRICS: tuple[str, ...] = ("novelty", "diversity")
DEFAULT_KS: tuple[int, ...] = (10,)


@dataclass
class MetricResult:
    """Metrics of one recommendation frame against one test set.

    Attributes
    ----------
    per_user:
        One row per evaluated user (index ``user_id``), one column per metric and k
        (``ndcg@10``, ``novelty@10``, ...).
    summary:
        Mean of each per-user column (NaN-skipping for diversity) plus ``coverage@k``.
    n_users:
        Users evaluated (with at least one relevant item).
    n_users_no_relevant:
        Test users excluded because every test item was already seen in train.
    n_users_no_recs:
        Evaluated users for whom the frame has no recommendation (they score 0).
    ks:
        The cut-offs computed.
    """

    per_user: pd.DataFrame
    summary: dict[str, float]
    n_users: int
    n_users_no_relevant: int
    n_users_no_recs: int
    ks: tuple[int, ...] = field(default=DEFAULT_KS)

    def to_row(self) -> dict[str, float]:
        """The summary plus user counts, for a comparison table."""
        row = dict(self.summary)
        row["n_users"] = float(self.n_users)
        row["n_users_no_relevant"] = float(self.n_users_no_relevant)
        return row


def _check_ks(ks: int | Iterable[int]) -> tuple[int, ...]:
    out = (ks,) if isinstance(ks, int) else tuple(sorted({int(k) for k in ks}))
    if not out or any(k < 1 for k in out):
        raise ConfigError(f"k must be positive integers, got {ks!r}")
    return out


def relevant_set(
    test: pd.DataFrame, train: pd.DataFrame | None = None, *, exclude_seen: bool = True
) -> pd.DataFrame:
    """Unique (user, item) test pairs, without those already in train when ``exclude_seen``.

    Raises
    ------
    DataError
        When ``test`` lacks ``user_id`` or ``item_id``.
    """
    for col in (USER, ITEM):
        if col not in test.columns:
            raise DataError(f"test frame lacks column {col!r}", field=col)
    rel = test[[USER, ITEM]].drop_duplicates()
    if exclude_seen and train is not None and len(train):
        seen = train[[USER, ITEM]].drop_duplicates()
        merged = rel.merge(seen, on=[USER, ITEM], how="left", indicator=True)
        rel = merged.loc[merged["_merge"] == "left_only", [USER, ITEM]]
    return rel.reset_index(drop=True)


def normalise_recommendations(recs: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Sort a recommendation frame and give each user ranks 1..n.

    Uses ``rank`` when present, else ``score`` (descending). Duplicate (user, item)
    rows keep their best rank. Cut to ``k`` per user when given.

    Raises
    ------
    DataError
        When the frame lacks ``user_id``/``item_id`` or both ``rank`` and ``score``.
    """
    for col in (USER, ITEM):
        if col not in recs.columns:
            raise DataError(f"recommendation frame lacks column {col!r}", field=col)
    if RANK in recs.columns:
        ordered = recs.sort_values([USER, RANK], kind="stable")
    elif SCORE in recs.columns:
        ordered = recs.sort_values([USER, SCORE], ascending=[True, False], kind="stable")
    else:
        raise DataError("recommendation frame needs a 'rank' or a 'score' column", field=RANK)
    ordered = ordered.drop_duplicates([USER, ITEM], keep="first")
    cols = [USER, ITEM] + ([SCORE] if SCORE in ordered.columns else [])
    out = ordered[cols].copy()
    out[RANK] = out.groupby(USER, sort=False).cumcount().to_numpy() + 1
    if k is not None:
        out = out[out[RANK] <= k]
    return out.reset_index(drop=True)


def item_popularity(train: pd.DataFrame) -> pd.Series:
    """Share of train users who interacted with each item (index ``item_id``)."""
    n_users = max(1, int(train[USER].nunique()))
    return train[[USER, ITEM]].drop_duplicates().groupby(ITEM).size() / n_users


def _ild(genres: pd.Series) -> float:
    known = genres.dropna()
    m = len(known)
    if m < 2:
        return float("nan")
    counts = known.value_counts().to_numpy(dtype=float)
    same = float((counts * (counts - 1)).sum())
    return 1.0 - same / (m * (m - 1))


def evaluate_recommendations(
    recs: pd.DataFrame,
    test: pd.DataFrame,
    *,
    train: pd.DataFrame | None = None,
    ks: int | Sequence[int] = DEFAULT_KS,
    exclude_seen: bool = True,
    catalogue_size: int | None = None,
    popularity: pd.Series | None = None,
    item_genres: pd.Series | Mapping[object, str] | None = None,
) -> MetricResult:
    """Score a recommendation frame against a test set.

    Parameters
    ----------
    recs:
        ``user_id``, ``item_id`` and ``rank`` (or ``score``); ids of the same type as ``test``.
    test:
        ``user_id``, ``item_id`` of the held-out interactions.
    train:
        The training interactions: their items are removed from each user's relevant
        set (when ``exclude_seen``), and they give popularity and catalogue size.
    ks:
        Cut-offs (10 by default; 20, 50, 100 on request).
    exclude_seen:
        Remove train items from the relevant set ("new items only").
    catalogue_size:
        Denominator of coverage; default: distinct items in train and recommendations
        (else in recommendations and test).
    popularity:
        Item -> share of users, for novelty; default computed from train.
    item_genres:
        Item -> genre, for intra-list diversity; diversity is omitted when absent.

    Returns
    -------
    MetricResult

    Raises
    ------
    ConfigError
        For a non-positive k.
    DataError
        For frames without the needed columns.
    """
    ks_t = _check_ks(ks)
    kmax = max(ks_t)
    rel = relevant_set(test, train, exclude_seen=exclude_seen)
    test_users = pd.Index(test[USER].unique())
    eval_users = pd.Index(rel[USER].unique())
    n_no_rel = len(test_users) - len(eval_users)
    n_rel = rel.groupby(USER).size().reindex(eval_users)

    top = normalise_recommendations(recs, kmax)
    top = top[top[USER].isin(eval_users)]
    n_no_recs = len(eval_users) - int(top[USER].nunique())
    hits = top.merge(rel.assign(_hit=1.0), on=[USER, ITEM], how="left")
    hits["_hit"] = hits["_hit"].fillna(0.0)
    hits = hits.sort_values([USER, RANK], kind="stable").reset_index(drop=True)
    hits["_cum"] = hits.groupby(USER, sort=False)["_hit"].cumsum()
    rank = hits[RANK].to_numpy(dtype=float)
    hit = hits["_hit"].to_numpy()
    hits["_disc"] = hit / np.log2(rank + 1.0)
    hits["_prec_r"] = hit * hits["_cum"].to_numpy() / rank
    hits["_rr"] = np.where(hit > 0, 1.0 / rank, 0.0)

    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, kmax + 2)))])
    n_rel_arr = n_rel.to_numpy(dtype=float)
    cols: dict[str, np.ndarray] = {}
    for k in ks_t:
        sub = hits[hits[RANK] <= k]
        g = sub.groupby(USER, sort=False)
        nh = g["_hit"].sum().reindex(eval_users, fill_value=0.0).to_numpy()
        dcg = g["_disc"].sum().reindex(eval_users, fill_value=0.0).to_numpy()
        ap = g["_prec_r"].sum().reindex(eval_users, fill_value=0.0).to_numpy()
        rr = g["_rr"].max().reindex(eval_users, fill_value=0.0).to_numpy()
        ideal_n = np.minimum(n_rel_arr, k).astype(int)
        cols[f"precision@{k}"] = nh / k
        cols[f"recall@{k}"] = nh / n_rel_arr
        cols[f"ndcg@{k}"] = dcg / discounts[ideal_n]
        cols[f"map@{k}"] = ap / ideal_n
        cols[f"mrr@{k}"] = rr
        cols[f"hit_rate@{k}"] = (nh > 0).astype(float)

    # beyond accuracy
    if popularity is None and train is not None and len(train):
        popularity = item_popularity(train)
    n_train_users = int(train[USER].nunique()) if train is not None and len(train) else 0
    floor = 1.0 / max(1, n_train_users) if n_train_users else None
    genres: pd.Series | None = None
    if item_genres is not None:
        genres = item_genres if isinstance(item_genres, pd.Series) else pd.Series(dict(item_genres))
    summary_extra: dict[str, float] = {}
    if catalogue_size is None:
        if train is not None and len(train):
            catalogue_size = int(pd.concat([train[ITEM], top[ITEM]]).nunique())
        else:
            catalogue_size = int(pd.concat([recs[ITEM], test[ITEM]]).nunique())
    for k in ks_t:
        sub = hits[hits[RANK] <= k]
        summary_extra[f"coverage@{k}"] = float(sub[ITEM].nunique()) / max(1, catalogue_size)
        if popularity is not None:
            p = sub[ITEM].map(popularity).astype(float)
            p = p.fillna(floor if floor is not None else float(popularity[popularity > 0].min()))
            info = pd.Series(-np.log2(p.clip(lower=1e-12).to_numpy()), index=p.index)
            cols[f"novelty@{k}"] = (
                info.groupby(sub[USER].to_numpy()).mean().reindex(eval_users).to_numpy()
            )
        if genres is not None:
            g_of = sub[ITEM].map(genres)
            ild = g_of.groupby(sub[USER].to_numpy()).apply(_ild)
            cols[f"diversity@{k}"] = ild.reindex(eval_users).to_numpy(dtype=float)

    per_user = pd.DataFrame(cols, index=eval_users)
    per_user.index.name = USER
    ordered = [f"{m}@{k}" for m in (*ACCURACY_METRICS, *BEYOND_METRICS) for k in ks_t]
    per_user = per_user[[c for c in ordered if c in per_user.columns]]
    summary = {
        c: float(per_user[c].mean()) if len(per_user) else float("nan") for c in per_user.columns
    }
    summary.update(summary_extra)
    if n_no_rel:
        logger.info("%d test users had only already-seen items and were excluded", n_no_rel)
    return MetricResult(
        per_user=per_user,
        summary=summary,
        n_users=len(eval_users),
        n_users_no_relevant=n_no_rel,
        n_users_no_recs=n_no_recs,
        ks=ks_t,
    )

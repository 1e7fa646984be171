"""Next-new-track protocols that keep the order of what came after the cut-off.

Encore's default task (``new``) counts every new item of a user's whole test period as
relevant: on a global temporal split that is weeks of discovery, a *horizon* task. A
next-item model is trained for something narrower: the very next item. Two protocols ask
that narrower question, on the same split (the test side's events in time order,
:attr:`~encore.evaluation.splits.Split.test_events`):

* **first new** (:func:`first_new_split`; ``encore evaluate --task first-new``): for each
  test user the only relevant item is the *first* item they play after the cut-off that
  they had not had in train. Every model answers from its state at the cut-off, as in the
  default task; the items the user had in train are neither ranked nor relevant.
* **every next new, state updated** (:func:`next_new_targets`, :func:`score_next_new`;
  ``encore evaluate --task next-new``): each
  test event that is the user's first wanted event of an item new to them (not in train,
  not earlier in test) is a target, and the model answers from everything the user did
  before it, the test events in between included (the true next-item task, as served:
  :func:`~encore.recommenders.recommend.recommend_for_user` reads the latest events at
  request time). Sequence models read the latest events; models that fold in
  (``supports_fold_in``) score the user's row with the test events so far added
  (``log(1 + plays)``, the default weighting); other models answer from their fitted row.
  Items the user had by then are excluded; a user's value is the mean over their targets,
  so the paired bootstrap stays over users.

Both score with a full ranking (one relevant item per target, so NDCG@k is
``1 / log2(rank + 1)`` within the top k and hit rate the share of targets ranked in the
top k; ties with the target are broken by item order).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from encore.errors import DataError
from encore.evaluation.splits import Split

if TYPE_CHECKING:
    from encore.data.dataset import InteractionDataset
    from encore.evaluation.metrics import MetricResult
    from encore.recommenders.base import Recommender
    from encore.recommenders.sequence import Encoded

log = logging.getLogger(__name__)

#: Event kinds that say the listener wanted the item (a skip is neither a target nor "had").
WANTED_KINDS: tuple[str, ...] = ("play", "partial", "like")
TARGET_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "ts", "position")


def _test_events(split: Split) -> pd.DataFrame:
    """The split's test events in time order, or a given split's dated test rows as plays.

    Raises
    ------
    DataError
        The split carries no order of its test side.
    """
    if split.test_events is not None:
        return split.test_events
    if "ts" in split.test and len(split.test) and split.test["ts"].notna().all():
        frame = split.test[["user_id", "item_id", "ts"]].assign(kind="play")
        return frame.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
    raise DataError(
        f"the {split.method} split carries no order of its test side",
        hint="use a time split of the store (--split global-time or user-time) or a --test "
        "file with a time on every row",
    )


def next_new_targets(split: Split) -> pd.DataFrame:
    """Every test event that is a user's first wanted event of an item new to them.

    New means: not in the user's train rows and not wanted earlier in their test events;
    items unknown to train are left out (no model can rank them). ``position`` is the
    event's index among the user's test events (what came before it is its context).

    Returns
    -------
    pandas.DataFrame
        ``user_id, item_id, ts, position`` in user and time order.

    Raises
    ------
    DataError
        The split has no test order (see :func:`_test_events`).
    """
    ev = _test_events(split).reset_index(drop=True)
    ev = ev.assign(position=ev.groupby("user_id", sort=False).cumcount().to_numpy())
    wanted = ev[ev["kind"].isin(WANTED_KINDS)] if "kind" in ev else ev
    wanted = wanted[wanted["item_id"].isin(set(split.train["item_id"]))]
    first = wanted.drop_duplicates(["user_id", "item_id"], keep="first")
    had = split.train[["user_id", "item_id"]].drop_duplicates()
    merged = first.merge(had, on=["user_id", "item_id"], how="left", indicator=True)
    out = merged.loc[merged["_merge"] == "left_only", list(TARGET_COLUMNS)]
    return out.reset_index(drop=True)


def first_new_split(split: Split) -> Split:
    """``split`` with its test side cut to each user's first new item after the cut-off.

    The test frame keeps one row per user who plays a new item in test (weight 1, its
    time); ``stats`` count the users left (``test_users_first_new``) and those whose test
    events hold no new item. Train and its events are unchanged.

    Raises
    ------
    DataError
        No order of the test side, or no test user plays a new item.
    """
    targets = next_new_targets(split)
    first = targets.drop_duplicates("user_id", keep="first")
    if first.empty:
        raise DataError("no test user plays an item new to them after the cut-off")
    test = first[["user_id", "item_id", "ts"]].assign(weight=1.0)[
        ["user_id", "item_id", "weight", "ts"]
    ]
    stats = dict(split.stats)
    stats["test_users_first_new"] = len(test)
    stats["test_users_no_new"] = int(split.test["user_id"].nunique() - len(test))
    stats["test_rows"] = len(test)
    return dataclasses.replace(
        split,
        test=test.reset_index(drop=True),
        description=split.description
        + "; task first-new: each user's first new item after the cut-off is the only relevant one",
        stats=stats,
    )


@dataclasses.dataclass
class NextNewResult:
    """Scores of one model on :func:`next_new_targets`.

    Attributes
    ----------
    targets:
        One row per target: ``user_id, item_id, ts, position, rank`` (1 is best, over the
        items not yet had), ``ndcg@k`` and ``hit@k``.
    per_user:
        Mean ``ndcg@k`` and ``hit_rate@k`` per user (index ``user_id``) and ``n_targets``.
    summary:
        Means over users, and ``n_users`` / ``n_targets``.
    """

    targets: pd.DataFrame
    per_user: pd.DataFrame
    summary: dict[str, float]


def _rank_of(scores: np.ndarray, target: np.ndarray, excluded: sp.csr_matrix) -> np.ndarray:
    """1-based rank of each row's target among the items not excluded (ties: item order)."""
    s = np.asarray(scores, dtype=np.float64).copy()
    rows, cols = excluded.nonzero()
    s[rows, cols] = -np.inf
    t = s[np.arange(len(s)), target][:, None]
    before = np.arange(s.shape[1])[None, :] < target[:, None]
    return 1 + ((s > t) | ((s == t) & before)).sum(axis=1)


def _user_sequences(enc: Encoded) -> dict[str, tuple[int, int]]:
    """Each user's (start, end) in an encoded event array."""
    return {str(u): (int(enc.starts[i]), int(enc.starts[i + 1])) for i, u in enumerate(enc.users)}


def score_next_new(
    model: Recommender,
    dataset: InteractionDataset,
    split: Split,
    *,
    k: int = 10,
    targets: pd.DataFrame | None = None,
    chunk: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> NextNewResult:
    """Score a fitted model on every next new item with its state updated (module docstring).

    Parameters
    ----------
    model:
        Fitted on ``dataset`` (built from ``split.train``, with its events for sequence models).
    targets:
        From :func:`next_new_targets` (computed when not given; pass a subset to score
        fewer, e.g. each user's first: the state then includes the test events before it).
    chunk:
        Targets scored at once.
    progress:
        Called with (done, total) after each chunk.

    Raises
    ------
    DataError
        No targets for users the model knows, or no test order.
    """
    from encore.recommenders.sequence import (
        KIND_CODE,
        SequenceRecommender,
        check_events,
        encode,
        events_of,
        gap_buckets,
    )

    assert model.item_map_ is not None and model.user_map_ is not None
    assert model.user_items_ is not None
    targets = next_new_targets(split) if targets is None else targets
    known_users = set(model.user_map_.external_ids.astype(str))
    targets = targets[targets["user_id"].astype(str).isin(known_users)].reset_index(drop=True)
    if targets.empty:
        raise DataError("no next-new-item targets for users the model knows")
    item_index = pd.Index(model.item_map_.external_ids)
    target_idx = np.asarray(item_index.get_indexer(pd.Index(targets["item_id"].to_numpy())))
    if (target_idx < 0).any():
        raise DataError("a target item is unknown to the model (fit it on split.train)")
    users = targets["user_id"].astype(str).to_numpy()
    positions = targets["position"].to_numpy()
    n_items = model.n_items
    wanted_codes = [KIND_CODE[k_] for k_ in WANTED_KINDS]

    # each user's test events (known items), with their position among all test events
    test_ev = check_events(_test_events(split))
    test_ev = test_ev[test_ev["user_id"].isin(set(users))].reset_index(drop=True)
    all_pos = test_ev.groupby("user_id", sort=False).cumcount().to_numpy()
    known = np.asarray(item_index.get_indexer(pd.Index(test_ev["item_id"].to_numpy()))) >= 0
    tenc = encode(test_ev, item_index)
    tpos = all_pos[known]
    t_of = _user_sequences(tenc)

    uidx = model.user_map_.to_internal(list(users))
    train_rows = sp.csr_matrix(model.user_items_[uidx])
    is_seq = isinstance(model, SequenceRecommender)
    folds = bool(getattr(model, "supports_fold_in", False)) and not is_seq
    if is_seq:
        ev = events_of(dataset)
        senc = encode(ev[ev["user_id"].isin(set(users))], item_index)
        s_of = _user_sequences(senc)
    train_count: dict[tuple[str, int], int] = {}
    if folds and dataset.events is not None:
        ev = dataset.events[dataset.events["user_id"].isin(set(users))]
        if "kind" in ev:
            ev = ev[ev["kind"].isin(WANTED_KINDS)]
        cols = np.asarray(item_index.get_indexer(pd.Index(ev["item_id"].to_numpy())))
        pairs = pd.DataFrame({"u": ev["user_id"].astype(str).to_numpy(), "i": cols})
        vc = pairs[pairs["i"] >= 0].groupby(["u", "i"]).size()
        for (u, i), c in zip(vc.index.tolist(), vc.to_numpy().tolist(), strict=True):
            train_count[(str(u), int(i))] = int(c)

    ranks = np.empty(len(targets), dtype=np.int64)
    for lo in range(0, len(targets), chunk):
        hi = min(lo + chunk, len(targets))
        n = hi - lo
        excl_r: list[int] = []
        excl_c: list[int] = []
        prefixes: list[tuple[int, int]] = []  # (start, end) of the test prefix in tenc
        for r in range(lo, hi):
            u = users[r]
            a, b = t_of.get(u, (0, 0))
            end = a + int((tpos[a:b] < positions[r]).sum())
            prefixes.append((a, end))
            wanted = np.isin(tenc.kinds[a:end], wanted_codes)
            had = np.union1d(train_rows[r].indices, tenc.items[a:end][wanted] - 1)
            excl_r.extend([r - lo] * len(had))
            excl_c.extend(int(c) for c in had)
        excluded = sp.csr_matrix((np.ones(len(excl_r)), (excl_r, excl_c)), shape=(n, n_items))
        if is_seq:
            length = model.history_length  # type: ignore[attr-defined]
            it = np.zeros((n, length), dtype=np.int64)
            kd = np.zeros_like(it)
            gp = np.zeros_like(it)
            for r in range(lo, hi):
                u = users[r]
                sa, sb = s_of.get(u, (0, 0))
                ta, tb = prefixes[r - lo]
                g_test = tenc.gaps[ta:tb].copy()
                if tb > ta and sb > sa:  # the gap from the last train event to the first test one
                    g_test[0] = gap_buckets(np.array([tenc.secs[ta] - senc.secs[sb - 1]]))[0]
                seq = [
                    np.concatenate([senc.items[sa:sb], tenc.items[ta:tb]])[-length:],
                    np.concatenate([senc.kinds[sa:sb], tenc.kinds[ta:tb]])[-length:],
                    np.concatenate([senc.gaps[sa:sb], g_test])[-length:],
                ]
                m = len(seq[0])
                if m:
                    it[r - lo, -m:], kd[r - lo, -m:], gp[r - lo, -m:] = seq
            scores = model._score_sequences(it, kd, gp)  # type: ignore[attr-defined]
        elif folds:
            rows = sp.lil_matrix(train_rows[lo:hi])
            for r in range(lo, hi):
                ta, tb = prefixes[r - lo]
                wanted = np.isin(tenc.kinds[ta:tb], wanted_codes)
                items_w, n_w = np.unique(tenc.items[ta:tb][wanted] - 1, return_counts=True)
                for j, c in zip(items_w, n_w, strict=True):
                    before = train_count.get((users[r], int(j)), 0)
                    rows[r - lo, int(j)] = float(np.log1p(before + c))
            scores = model._score_rows(sp.csr_matrix(rows))
        else:
            scores = model._score(uidx[lo:hi], train_rows[lo:hi])
        dense = scores.toarray() if sp.issparse(scores) else np.asarray(scores)
        ranks[lo:hi] = _rank_of(dense, target_idx[lo:hi], excluded)
        if progress is not None:
            progress(hi, len(targets))
    gain = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
    out = targets.assign(rank=ranks, **{f"ndcg@{k}": gain, f"hit@{k}": (ranks <= k) * 1.0})
    per_user = out.groupby("user_id").agg(
        **{
            f"ndcg@{k}": (f"ndcg@{k}", "mean"),
            f"hit_rate@{k}": (f"hit@{k}", "mean"),
            "n_targets": ("item_id", "size"),
        }
    )
    summary = {
        f"ndcg@{k}": float(per_user[f"ndcg@{k}"].mean()),
        f"hit_rate@{k}": float(per_user[f"hit_rate@{k}"].mean()),
        "n_users": float(len(per_user)),
        "n_targets": float(len(out)),
    }
    return NextNewResult(targets=out, per_user=per_user, summary=summary)


def next_new_metric_result(result: NextNewResult, ks: Sequence[int]) -> MetricResult:
    """The scores of :func:`score_next_new` as a :class:`~encore.evaluation.metrics.MetricResult`
    (what ``encore evaluate --task next-new`` tabulates), at each of ``ks``.

    With one relevant item per target: ``ndcg@k`` is ``1 / log2(rank + 1)`` within the top k,
    ``hit_rate@k`` and ``recall@k`` whether it is there, ``precision@k`` that over k,
    ``mrr@k`` and ``map@k`` ``1 / rank`` within the top k; each a mean over the user's
    targets, then over users. Coverage, novelty and diversity need whole lists and are
    not computed (NaN).

    The ranks are full ranks, so any k works, whatever k they were scored with.

    Raises
    ------
    ConfigError
        A k that is not a positive integer.
    """
    from encore.evaluation.metrics import MetricResult, _check_ks

    ks_ = _check_ks(list(ks))
    ranks = result.targets["rank"].to_numpy(dtype=np.float64)
    users = result.targets["user_id"].to_numpy()
    cols: dict[str, np.ndarray] = {}
    for k in ks_:
        inside = ranks <= k
        cols[f"precision@{k}"] = inside / k
        cols[f"recall@{k}"] = inside * 1.0
        cols[f"ndcg@{k}"] = np.where(inside, 1.0 / np.log2(ranks + 1.0), 0.0)
        cols[f"map@{k}"] = np.where(inside, 1.0 / ranks, 0.0)
        cols[f"mrr@{k}"] = cols[f"map@{k}"]
        cols[f"hit_rate@{k}"] = inside * 1.0
    per_user = pd.DataFrame(cols).groupby(pd.Index(users, name="user_id")).mean()
    summary = {c: float(per_user[c].mean()) for c in per_user.columns}
    for k in ks_:
        summary[f"coverage@{k}"] = float("nan")
    return MetricResult(
        per_user=per_user,
        summary=summary,
        n_users=len(per_user),
        n_users_no_relevant=0,
        n_users_no_recs=0,
        ks=ks_,
    )

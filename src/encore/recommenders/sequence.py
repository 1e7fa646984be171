"""Per-event input for sequence recommenders, and their common base class.

The CF models see one weighted row per (user, item). A sequence model sees what a
listener did, in order: each event is an item, a *kind* and a time.

Kinds (:data:`KINDS`): ``play`` (a play neither skipped nor cut short), ``partial`` (a
play whose observed minutes are under :data:`PARTIAL_SHARE` of the track's length),
``skip`` (the source's skip flag, or Encore's derived one; see ``docs/data-model.md``)
and ``like`` (a dated like, at the level's item through
:func:`~encore.data.rules.liked_items_sql`). Undated likes and play counts cannot be placed
in a sequence and are left out.

:func:`load_events` reads them from the store (filters as in
:func:`~encore.data.dataset.build_interactions`); :func:`attach_events` puts them on an
:class:`~encore.data.dataset.InteractionDataset`, which is how a sequence model receives
them in ``fit``. :class:`SequenceRecommender` keeps each fitted user's latest events and
answers for any user from their events at request time
(:meth:`SequenceRecommender.recommend_for_events`), which is how ``encore recommend``
serves new events without a refit.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from encore.data.rules import liked_items_sql
from encore.errors import ConfigError, DataError
from encore.recommenders.base import Recommender, _check_k

if TYPE_CHECKING:
    from encore.data.dataset import InteractionDataset
    from encore.data.store import Store

log = logging.getLogger(__name__)

#: Event kinds; the code of a kind is its position + 1 (0 pads a sequence).
KINDS: tuple[str, ...] = ("play", "partial", "skip", "like")
KIND_CODE: dict[str, int] = {k: i + 1 for i, k in enumerate(KINDS)}
#: A play with observed minutes under this share of the track's length is ``partial``.
PARTIAL_SHARE = 0.5
#: Kinds that say the listener wanted the item (targets and "seen" items).
POSITIVE_KINDS: tuple[str, ...] = ("play", "partial", "like")
EVENT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "ts", "kind")
#: Time-gap buckets: 0 for the first event (or an unknown gap), then log2 of minutes.
N_GAP_BUCKETS = 16
#: What every sequence model saves (subclasses add their own to ``state_attrs``).
SEQUENCE_ATTRS: tuple[str, ...] = ("seq_items_", "seq_kinds_", "seq_gaps_")


def load_events(
    store: Store,
    *,
    level: str = "track",
    source: str | Sequence[str] | None = None,
    users: Iterable[str] | None = None,
    date_from: Any = None,
    date_to: Any = None,
    likes: bool = True,
    last: int | None = None,
) -> pd.DataFrame:
    """Every dated event of the store as ``user_id, item_id, ts, kind``, in time order.

    Parameters
    ----------
    level:
        ``track``, ``artist`` or ``album`` (the item of each event).
    source, users:
        Only these sources (names, or comma-separated) / users.
    date_from, date_to:
        Only events with ``date_from <= ts < date_to``.
    likes:
        Add dated likes as ``like`` events.
    last:
        Only each user's latest ``last`` events (what serving reads; None: all).

    Raises
    ------
    ConfigError
        Unknown level.
    """
    if level not in ("track", "artist", "album"):
        raise ConfigError(f"unknown item level {level!r}; choose track, artist or album")
    params: dict[str, Any] = {"share": PARTIAL_SHARE}
    conds: list[str] = []
    if source is not None:
        params["sources"] = (
            [s.strip() for s in source.split(",") if s.strip()]
            if isinstance(source, str)
            else list(source)
        )
        conds.append("src = ANY($sources)")
    if users is not None:
        params["users"] = [str(u) for u in users]
        conds.append("user_id = ANY($users)")
    if date_from is not None:
        params["date_from"] = pd.Timestamp(date_from).to_pydatetime()
        conds.append("ts >= $date_from")
    if date_to is not None:
        params["date_to"] = pd.Timestamp(date_to).to_pydatetime()
        conds.append("ts < $date_to")
    where = "".join(" AND " + c for c in conds)
    item_expr = {
        "track": "e.track_id",
        "artist": "COALESCE(e.artist_id, t.artist_id)",
        "album": "t.album_id",
    }[level]
    parts = [
        f"""SELECT * FROM (
            SELECT e.user_id, {item_expr} AS item_id, e.ts, e.source AS src,
                   CASE WHEN COALESCE(e.skipped, FALSE) THEN 'skip'
                        WHEN e.ms_played IS NOT NULL AND t.duration_ms > 0
                             AND e.ms_played < $share * t.duration_ms THEN 'partial'
                        ELSE 'play' END AS kind, 0 AS ord
            FROM events e LEFT JOIN tracks t ON t.track_id = e.track_id
        ) WHERE item_id IS NOT NULL AND ts IS NOT NULL {where}"""
    ]
    if likes:
        parts.append(
            f"""SELECT * FROM (
                SELECT l.user_id, l.{level}_id AS item_id, l.liked_at AS ts, l.source AS src,
                       'like' AS kind, 1 AS ord
                FROM ({liked_items_sql()}) l
            ) WHERE item_id IS NOT NULL AND ts IS NOT NULL {where}"""
        )
    latest = ""
    if last is not None:
        params["last"] = int(last)
        latest = (
            " QUALIFY row_number() OVER "
            "(PARTITION BY user_id ORDER BY ts DESC, ord DESC, item_id DESC) <= $last"
        )
    sql = (
        "SELECT user_id, CAST(item_id AS BIGINT) AS item_id, ts, kind FROM ("
        + " UNION ALL ".join(parts)
        + f"){latest} ORDER BY user_id, ts, ord, item_id"
    )
    frame = store.con.execute(sql, params).df()
    return frame.assign(
        user_id=frame["user_id"].astype(str),
        item_id=frame["item_id"].astype("int64"),
        ts=pd.to_datetime(frame["ts"]),
    )[list(EVENT_COLUMNS)]


def check_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate an event frame and sort it by user and time (stable).

    ``kind`` defaults to ``play`` and ``user_id`` to ``"new"``; ``ts`` may be missing (the
    given order is kept, gaps unknown).

    Raises
    ------
    DataError
        No ``item_id`` column, or an unknown kind (named with its row).
    """
    if "item_id" not in frame:
        raise DataError("events need an item_id column", field="item_id")
    f = frame.copy()
    if "user_id" not in f:
        f["user_id"] = "new"
    if "kind" not in f:
        f["kind"] = "play"
    if "ts" not in f:
        f["ts"] = pd.NaT
    f["user_id"] = f["user_id"].astype(str)
    f["ts"] = pd.to_datetime(f["ts"])
    bad = ~f["kind"].isin(KINDS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"unknown event kind {f['kind'].iloc[row]!r} (row {row + 1})",
            field="kind",
            hint=f"kinds are {', '.join(KINDS)}",
        )
    f["_order"] = np.arange(len(f))
    f = f.sort_values(["user_id", "ts", "_order"], kind="stable", na_position="first")
    return f.drop(columns="_order").reset_index(drop=True)[list(EVENT_COLUMNS)]


def attach_events(dataset: InteractionDataset, events: pd.DataFrame) -> InteractionDataset:
    """The dataset with ``events`` (users and items it does not know are dropped)."""
    keep = events["user_id"].isin(dataset.user_map.external_ids) & events["item_id"].isin(
        dataset.item_map.external_ids
    )
    return dataclasses.replace(dataset, events=events[keep].reset_index(drop=True))


def events_of(dataset: InteractionDataset) -> pd.DataFrame:
    """The dataset's events; without any, one ``play`` per (user, item) at its last time
    (the order of a bag of pairs: a sequence model then learns from far less)."""
    events = getattr(dataset, "events", None)
    if events is not None and len(events):
        return check_events(events)
    log.warning("no per-event input: each (user, item) pair counts as one play at its last time")
    frame = dataset.interactions
    frame = frame[frame["weight"] > 0]
    return check_events(frame[["user_id", "item_id", "ts"]].assign(kind="play"))


def gap_buckets(seconds: np.ndarray) -> np.ndarray:
    """Bucket of each gap in seconds (NaN: bucket 0): ``1 + floor(log2(1 + minutes))``."""
    out = np.zeros(len(seconds), dtype=np.int64)
    ok = np.isfinite(seconds)
    minutes = np.clip(seconds[ok], 0, None) / 60.0
    out[ok] = 1 + np.minimum(np.floor(np.log2(1.0 + minutes)), N_GAP_BUCKETS - 2).astype(np.int64)
    return out


@dataclasses.dataclass
class Encoded:
    """Events as integer arrays in user and time order (internal item ids, 1-based)."""

    users: np.ndarray  # external user ids, one per group
    starts: np.ndarray  # group start offsets (len(users) + 1)
    items: np.ndarray  # item index + 1 (0: unknown item)
    kinds: np.ndarray  # KIND_CODE
    gaps: np.ndarray  # gap bucket
    secs: np.ndarray  # Unix seconds (NaN unknown)


def encode(events: pd.DataFrame, item_index: pd.Index) -> Encoded:
    """Encode checked events against the model's items (unknown items are dropped)."""
    idx = np.asarray(item_index.get_indexer(pd.Index(events["item_id"].to_numpy())))
    ev = events[idx >= 0]
    idx = idx[idx >= 0]
    users = ev["user_id"].to_numpy()
    change = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.zeros(0)
    starts = np.r_[change, len(users)].astype(np.int64)
    ts = ev["ts"]
    secs = np.where(
        ts.notna().to_numpy(), ts.astype("datetime64[ns]").to_numpy().astype("int64") / 1e9, np.nan
    )
    gap = np.r_[np.nan, np.diff(secs)] if len(secs) else np.zeros(0)
    if len(change):
        gap[change] = np.nan
    return Encoded(
        users=users[change] if len(users) else np.zeros(0, dtype=object),
        starts=starts,
        items=(idx + 1).astype(np.int64),
        kinds=ev["kind"].map(KIND_CODE).to_numpy(dtype=np.int64),
        gaps=gap_buckets(gap),
        secs=secs,
    )


def last_windows(enc: Encoded, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user's latest ``length`` events, left-padded with 0: items, kinds, gaps."""
    n = len(enc.users)
    items = np.zeros((n, length), dtype=np.int64)
    kinds = np.zeros((n, length), dtype=np.int64)
    gaps = np.zeros((n, length), dtype=np.int64)
    for u in range(n):
        lo, hi = enc.starts[u], enc.starts[u + 1]
        lo = max(lo, hi - length)
        m = hi - lo
        if m:
            items[u, -m:] = enc.items[lo:hi]
            kinds[u, -m:] = enc.kinds[lo:hi]
            gaps[u, -m:] = enc.gaps[lo:hi]
    return items, kinds, gaps


class SequenceRecommender(Recommender):
    """Base of models that score from a user's latest events, in order.

    ``fit`` reads the dataset's events (:func:`events_of`) and keeps each user's latest
    :attr:`history_length` of them (``seq_items_``, ``seq_kinds_``, ``seq_gaps_``), which is
    what :meth:`recommend` uses for users known at fit time. Users unseen at fit time, or
    known users with newer events, are answered by :meth:`recommend_for_events`.
    Subclasses implement ``_fit_events(encoded)`` and ``_score_sequences(items, kinds,
    gaps)`` (padded ``[n, L]`` arrays, item codes 1-based).
    """

    supports_fold_in: ClassVar[bool] = True
    supports_similar_items: ClassVar[bool] = False
    needs_timestamps: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = SEQUENCE_ATTRS

    @property
    def history_length(self) -> int:
        """How many latest events a user's score reads."""
        return int(getattr(self.config, "max_len", 50))

    def _fit(self, dataset: InteractionDataset) -> None:
        events = events_of(dataset)
        enc = encode(events, pd.Index(dataset.item_map.external_ids))
        if len(enc.items) == 0:
            raise DataError(f"{self.name}: no events with known items to learn from")
        self._fit_events(enc, dataset)
        items, kinds, gaps = last_windows(enc, self.history_length)
        # rows in the dataset's user order (a user without events gets an empty sequence)
        pos = pd.Index(enc.users.astype(str)).get_indexer(dataset.user_map.external_ids.astype(str))
        n = dataset.n_users
        self.seq_items_ = np.zeros((n, self.history_length), dtype=np.int32)
        self.seq_kinds_ = np.zeros((n, self.history_length), dtype=np.int8)
        self.seq_gaps_ = np.zeros((n, self.history_length), dtype=np.int8)
        has = pos >= 0
        self.seq_items_[has] = items[pos[has]]
        self.seq_kinds_[has] = kinds[pos[has]]
        self.seq_gaps_[has] = gaps[pos[has]]

    @abstractmethod
    def _fit_events(self, enc: Encoded, dataset: InteractionDataset) -> None:
        """Learn from the encoded events (the subclass's model)."""

    @abstractmethod
    def _score_sequences(
        self, items: np.ndarray, kinds: np.ndarray, gaps: np.ndarray
    ) -> np.ndarray:
        """Scores ``[n, n_items]`` of padded latest-event windows (item codes 1-based)."""

    def _score(self, user_idx: np.ndarray, user_rows: sp.csr_matrix) -> np.ndarray:
        return self._score_sequences(
            self.seq_items_[user_idx].astype(np.int64),
            self.seq_kinds_[user_idx].astype(np.int64),
            self.seq_gaps_[user_idx].astype(np.int64),
        )

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Fold-in from a bag of items (no order known): each item once, as a play,
        strongest weight last. :meth:`recommend_for_events` is the faithful path."""
        length = self.history_length
        items = np.zeros((rows.shape[0], length), dtype=np.int64)
        kinds = np.zeros_like(items)
        rows = sp.csr_matrix(rows)
        for r in range(rows.shape[0]):
            lo, hi = rows.indptr[r], rows.indptr[r + 1]
            pos = rows.data[lo:hi] > 0
            cols, w = rows.indices[lo:hi][pos], rows.data[lo:hi][pos]
            order = cols[np.lexsort((cols, w))][-length:]
            if len(order):
                items[r, -len(order) :] = order + 1
                kinds[r, -len(order) :] = KIND_CODE["play"]
        return self._score_sequences(items, kinds, np.zeros_like(items))

    def recommend_for_events(
        self,
        events: pd.DataFrame,
        k: int = 10,
        exclude_seen: bool = True,
        items: Iterable[Any] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` items per user from their events, read now (no refit).

        Parameters
        ----------
        events:
            ``item_id`` and optional ``user_id``, ``ts`` and ``kind`` (see
            :func:`check_events`); items the model does not know are dropped.
        exclude_seen:
            Leave out the items of the user's ``play``, ``partial`` and ``like`` events
            (skipped items are not "seen": they just score low).

        Raises
        ------
        DataError
            Bad events.
        ConfigError
            Bad ``k``.
        """
        self._check_fitted()
        assert self.item_map_ is not None
        k = _check_k(k)
        checked = check_events(events)
        enc = encode(checked, pd.Index(self.item_map_.external_ids))
        seq = last_windows(enc, self.history_length)
        users = enc.users
        positive = np.isin(enc.kinds, [KIND_CODE[k_] for k_ in POSITIVE_KINDS])
        row_of = np.repeat(np.arange(len(users)), np.diff(enc.starts))
        seen = sp.csr_matrix(
            (
                np.ones(int(positive.sum()), dtype=np.float32),
                (row_of[positive], enc.items[positive] - 1),
            ),
            shape=(len(users), self.n_items),
        )
        seen.sum_duplicates()
        candidates = self._candidate_mask(items)

        def score(lo: int, hi: int) -> tuple[np.ndarray, sp.csr_matrix]:
            return self._score_sequences(seq[0][lo:hi], seq[1][lo:hi], seq[2][lo:hi]), seen[lo:hi]

        return self._rank(users, score, k, exclude_seen, candidates)

"""The frozen interaction dataset every recommender is fitted on.

Two steps, kept apart so that evaluation can split between them:

1. :func:`build_interactions` reads the store (``events``, ``playcounts``, ``likes``) and
   returns one row per (user, item) with a weight and the last interaction time;
2. :meth:`InteractionDataset.from_interactions` turns such a frame into contiguous integer
   ids (:class:`IdMap`) and a sparse ``users x items`` matrix.

Weighting schemes (``weighting=``), applied to the per-pair *effective play count*
``c = plays - skip_weight * skips`` (or effective minutes for ``minutes``):

``binary``
    1 for every pair with ``c > 0``.
``plays``
    ``c``.
``log1p``
    ``log(1 + c)`` (the default; damps heavy rotation).
``minutes``
    minutes listened with skipped plays scaled like counts: each play's
    :func:`~encore.data.rules.estimated_minutes` (its observed minutes, else its track's
    duration, else :data:`~encore.data.rules.NOMINAL_PLAY_MINUTES`); a play count's
    plays are estimated the same way.
``bm25``
    Okapi BM25 over users as documents and items as terms, as in ``implicit``'s
    ``bm25_weight``: ``c (K1 + 1) / (K1 * norm_u + c) * idf_i`` with
    ``norm_u = 1 - B + B * len_u / mean(len)``, ``idf_i = log(n_users) - log(1 + df_i)``
    (``K1 = 100``, ``B = 0.8``); weights are floored at a small positive value so that no
    pair disappears.
``tfidf``
    ``log(1 + c) * log(n_users / df_i)`` (sublinear term frequency), floored likewise.

Likes add ``like_weight`` to the weighted value of a liked pair (a like without any play
still makes a pair; what a like stands for at each level is
:func:`~encore.data.rules.liked_items_sql`); skips subtract through ``skip_weight`` (1.0: a skipped play counts
as no play; more than 1 makes skips count against the item). Pairs whose final weight is
not positive are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from encore.data.rules import estimated_minutes, liked_items_sql
from encore.errors import ConfigError, DataError, UnknownIdError

if TYPE_CHECKING:
    from encore.data.store import Store

log = logging.getLogger(__name__)

ItemLevel = Literal["track", "artist", "album"]
ITEM_LEVELS: tuple[str, ...] = ("track", "artist", "album")
WEIGHTINGS: tuple[str, ...] = ("binary", "plays", "log1p", "minutes", "bm25", "tfidf")
#: BM25 parameters (``implicit``'s defaults).
BM25_K1 = 100.0
BM25_B = 0.8
_MIN_WEIGHT = 1e-6
INTERACTION_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "weight", "ts")


# --------------------------------------------------------------------------- id maps
class IdMap:
    """A bijection between external ids and contiguous integers ``0 .. n-1``.

    Parameters
    ----------
    external_ids:
        The distinct external ids; position ``i`` is internal id ``i``.
    kind:
        What the ids are ("user", "item", ...), used in error messages.

    Raises
    ------
    ConfigError
        ``external_ids`` holds duplicates.
    """

    def __init__(self, external_ids: Sequence[Any] | np.ndarray, *, kind: str = "id") -> None:
        ids = np.asarray(external_ids)
        if ids.dtype == object:
            ids = ids.astype(str)
        self._index = pd.Index(ids)
        if not self._index.is_unique:
            dups = self._index[self._index.duplicated()].unique().tolist()
            raise ConfigError(f"duplicate {kind} ids in id map: {dups[:10]}")
        self.external_ids: np.ndarray = ids
        self.kind = kind

    @classmethod
    def from_values(
        cls, values: Iterable[Any] | np.ndarray | pd.Series, *, kind: str = "id"
    ) -> IdMap:
        """Build a map from (possibly repeated) values; internal order is the sorted order."""
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray | pd.Series) else values)
        if arr.dtype == object:
            arr = arr.astype(str)
        return cls(np.unique(arr), kind=kind)

    def to_internal(
        self, ids: Iterable[Any] | np.ndarray | Any, *, strict: bool = True
    ) -> np.ndarray:
        """Internal ids (int64) of external ``ids``.

        Parameters
        ----------
        ids:
            One external id or many.
        strict:
            Raise on unknown ids (default); otherwise return -1 for them.

        Raises
        ------
        UnknownIdError
            Some ids are unknown (all of them are listed).
        """
        arr = _as_id_array(ids, self.external_ids.dtype)
        if len(arr) == 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.asarray(self._index.get_indexer(arr), dtype=np.int64)
        if strict and (idx < 0).any():
            unknown = pd.unique(arr[idx < 0]).tolist()
            raise UnknownIdError(
                self.kind, unknown, hint=f"this map knows {len(self)} {self.kind} ids"
            )
        return idx

    def to_external(self, idx: Iterable[int] | np.ndarray) -> np.ndarray:
        """External ids of internal ``idx``.

        Raises
        ------
        UnknownIdError
            An index is outside ``0 .. n-1``.
        """
        arr = np.asarray(idx, dtype=np.int64).ravel()
        bad = (arr < 0) | (arr >= len(self))
        if bad.any():
            raise UnknownIdError(f"internal {self.kind} index", arr[bad].tolist())
        return self.external_ids[arr]

    def __len__(self) -> int:
        return len(self.external_ids)

    def __contains__(self, value: object) -> bool:
        try:
            return bool(
                self._index.get_indexer(_as_id_array(value, self.external_ids.dtype))[0] >= 0
            )
        except (TypeError, ValueError):
            return False

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IdMap)
            and len(self) == len(other)
            and bool(np.array_equal(self.external_ids, other.external_ids))
        )

    def __hash__(self) -> int:  # pragma: no cover - maps are not used as keys
        return hash((self.kind, len(self)))

    def __repr__(self) -> str:
        return f"IdMap(kind={self.kind!r}, n={len(self)})"

    def __getstate__(self) -> dict[str, Any]:
        return {"external_ids": self.external_ids, "kind": self.kind}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["external_ids"], kind=state["kind"])  # type: ignore[misc]


def _as_id_array(ids: Any, dtype: np.dtype[Any]) -> np.ndarray:
    """Coerce one id or many to a 1-d array comparable with an id map of ``dtype``."""
    if isinstance(ids, str | bytes) or np.isscalar(ids):
        arr = np.asarray([ids])
    else:
        arr = np.asarray(
            list(ids) if not isinstance(ids, np.ndarray | pd.Series | pd.Index) else ids
        )
    arr = arr.ravel()
    if dtype.kind in "iu" and arr.dtype.kind not in "iu" and len(arr):
        # "51" from a CLI must match artist 51; anything non-numeric stays as given (unknown)
        num = pd.to_numeric(pd.Series(arr), errors="coerce")
        if num.notna().all() and (num == num.round()).all():
            return num.to_numpy().astype(np.int64)
        return arr.astype(object)
    if dtype.kind == "U" and arr.dtype.kind != "U":
        return arr.astype(str)
    return arr


# --------------------------------------------------------------------------- weighting
def apply_weighting(
    counts: pd.DataFrame,
    weighting: str,
    *,
    value: str = "count",
    likes: str | None = None,
    like_weight: float = 1.0,
) -> pd.Series:
    """Weight per-pair counts with one of :data:`WEIGHTINGS` (see the module docstring).

    Parameters
    ----------
    counts:
        One row per (user, item) with ``user_id``, ``item_id`` and the ``value`` column
        (effective plays, or minutes for ``minutes``).
    weighting:
        The scheme name.
    value:
        The column holding the count to weight.
    likes:
        Optional column holding 1 for liked pairs (adds ``like_weight``).
    like_weight:
        Weight a like adds to the weighted value.

    Returns
    -------
    pandas.Series
        The weight per row (aligned to ``counts``); non-positive means "drop".

    Raises
    ------
    ConfigError
        Unknown weighting.
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    liked = None
    if likes is not None and likes in counts:
        liked = counts[likes].fillna(0).to_numpy() > 0
    w = weight_values(
        counts[value].astype("float64").fillna(0.0).to_numpy(),
        weighting,
        users=counts["user_id"].to_numpy(),
        items=counts["item_id"].to_numpy(),
        liked=liked,
        like_weight=like_weight,
    )
    return pd.Series(w, index=counts.index, name="weight")


def weight_values(
    counts: np.ndarray,
    weighting: str,
    *,
    users: np.ndarray,
    items: np.ndarray,
    liked: np.ndarray | None = None,
    like_weight: float = 1.0,
) -> np.ndarray:
    """:func:`apply_weighting` on arrays: the weight (float64) of each pair.

    ``counts`` are the pairs' values (NaN counts as 0), ``users`` and ``items`` any ids
    or integer codes of theirs (bm25 and tfidf count per user and per item), ``liked``
    a boolean per pair or None.
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    c = np.asarray(counts, dtype="float64")
    c = np.where(np.isnan(c), 0.0, np.maximum(c, 0.0))
    played = c > 0
    if weighting == "binary":
        w = played.astype("float64")
    elif weighting in ("plays", "minutes"):
        w = c.copy()
    elif weighting == "log1p":
        w = np.log1p(c)
    else:
        n_users = max(len(pd.unique(users[played])), 1)
        df_i = pd.Series(played.astype("int64")).groupby(items).transform("sum").to_numpy()
        if weighting == "bm25":
            idf = np.log(n_users) - np.log1p(df_i)
            length = pd.Series(c).groupby(users).transform("sum").to_numpy()
            avg = float(length[played].mean()) if played.any() else 1.0
            norm = (1.0 - BM25_B) + BM25_B * length / max(avg, 1e-12)
            w = c * (BM25_K1 + 1.0) / (BM25_K1 * norm + c) * idf
        else:  # tfidf
            idf = np.log(n_users / np.maximum(df_i, 1))
            w = np.log1p(c) * idf
        # an item every user played has idf <= 0: keep the pair with a tiny weight
        w = np.where(played, np.maximum(w, _MIN_WEIGHT), 0.0)
    if liked is not None:
        w = np.where(liked, (1.0 if weighting == "binary" else w + like_weight), w)
        if weighting == "binary":
            w = np.where(liked | played, 1.0, 0.0)
    return np.asarray(w, dtype="float64")


# --------------------------------------------------------------------------- from the store
_LEVEL_COLUMN = {"track": "track_id", "artist": "artist_id", "album": "album_id"}


def _source_list(source: str | Sequence[str] | None) -> list[str] | None:
    if source is None:
        return None
    return [source] if isinstance(source, str) else list(source)


def interactions_sql(
    level: str,
    *,
    source: str | Sequence[str] | None = None,
    users: Sequence[str] | None = None,
    date_from: str | pd.Timestamp | None = None,
    date_to: str | pd.Timestamp | None = None,
    user_keys: str | None = None,
    value: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The SQL of :func:`build_interactions`: one row per (user, item) of the store's plays,
    play counts and likes, unweighted, with its parameters.

    Columns: ``user_id``, ``item_id`` (BIGINT), ``plays``, ``skips``, ``minutes``,
    ``skip_minutes`` (DOUBLE), ``liked`` (0/1) and ``ts`` (the last interaction).

    ``user_keys`` groups by an INTEGER user key instead of the VARCHAR id (the CF matrix
    at scale, :mod:`encore.data.matrix`): ``"events"`` reads ``events.user_key`` (every
    event has one) and ``"joined"`` looks each event's key up by its id; either way play
    counts and likes look theirs up, in a relation ``_uk(user_id, user_key)`` the caller
    defines before this SQL's ``WITH`` clauses (the query starts ``, ev AS``). ``user_id``
    then holds the key.

    ``value`` (``count`` or ``minutes``, with ``user_keys`` only) asks for the lean form:
    the parts' rows grouped once (not per part, then again), and instead of the four
    sums only the value to weight, ``plays - $skip_weight * skips`` or ``minutes -
    $skip_weight * skip_minutes`` (a ``skip_weight`` parameter the caller adds), besides
    ``liked`` and ``ts``. The tracks are joined only where the level or the minutes need
    them.
    """
    sources = _source_list(source)
    dated = date_from is not None or date_to is not None
    params: dict[str, Any] = {}
    where_ev: list[str] = []
    where_pc: list[str] = []
    where_lk: list[str] = []
    if sources is not None:
        params["sources"] = sources
        for w in (where_ev, where_pc, where_lk):
            w.append("src = ANY($sources)")
    if users is not None:
        params["users"] = [str(u) for u in users]
        for w in (where_ev, where_pc, where_lk):
            w.append("user_id = ANY($users)")
    if date_from is not None:
        params["date_from"] = pd.Timestamp(date_from).to_pydatetime()
        where_ev.append("ts >= $date_from")
        where_lk.append("ts >= $date_from")
    if date_to is not None:
        params["date_to"] = pd.Timestamp(date_to).to_pydatetime()
        where_ev.append("ts < $date_to")
        where_lk.append("ts < $date_to")
    if dated:
        where_pc.append("FALSE")
        where_lk.append("ts IS NOT NULL")
    if user_keys not in (None, "events", "joined"):
        raise ValueError(f"unknown user_keys {user_keys!r}")
    if value not in (None, "count", "minutes") or (value and user_keys is None):
        raise ValueError(f"value {value!r} needs user_keys and is count or minutes")
    lean = value is not None
    need_minutes = not lean or value == "minutes"
    # the lean form joins the tracks only where the level or the minutes need them
    ev_tracks = " LEFT JOIN tracks t ON t.track_id = e.track_id"
    pc_tracks = " LEFT JOIN tracks t ON t.track_id = p.track_id"
    if lean and level == "track" and not need_minutes:
        ev_tracks = pc_tracks = ""
    ev_minutes = (
        f",\n                   {estimated_minutes('e.ms_played', 't.duration_ms')} AS minutes"
        if need_minutes
        else ""
    )
    pc_minutes = (
        f",\n                   p.plays * {estimated_minutes(None, 't.duration_ms')} AS minutes"
        if need_minutes
        else ""
    )
    # who: the grouping column of each part (the id, or the integer key)
    ev_who, ev_join, pc_who, pc_join, lk_who, lk_join = (
        "e.user_id",
        "",
        "p.user_id",
        "",
        "l.user_id",
        "",
    )
    if user_keys is not None:
        ev_who = "e.user_key" if user_keys == "events" else "k.user_key"
        if user_keys == "joined":
            ev_join = " JOIN _uk k ON k.user_id = e.user_id"
        pc_who, pc_join = "k.user_key", " JOIN _uk k ON k.user_id = p.user_id"
        lk_who, lk_join = "k.user_key", " JOIN _uk k ON k.user_id = l.user_id"

    item_expr = {
        "track": "e.track_id",
        "artist": "COALESCE(e.artist_id, t.artist_id)",
        "album": "t.album_id",
    }[level]
    events_sql = f"""
        SELECT * FROM (
            SELECT e.user_id, {ev_who} AS who, {item_expr} AS item_id, e.ts,
                   COALESCE(e.skipped, FALSE) AS skipped, e.source AS src{ev_minutes}
            FROM events e{ev_tracks}{ev_join}
        ) WHERE item_id IS NOT NULL {"".join(" AND " + w for w in where_ev)}
    """
    pc_item = {
        "track": "p.track_id",
        "artist": "COALESCE(p.artist_id, t.artist_id)",
        "album": "t.album_id",
    }[level]
    pc_sql = f"""
        SELECT * FROM (
            SELECT p.user_id, {pc_who} AS who, {pc_item} AS item_id, p.plays,
                   p.source AS src{pc_minutes}
            FROM playcounts p{pc_tracks}{pc_join}
        ) WHERE item_id IS NOT NULL {"".join(" AND " + w for w in where_pc)}
    """
    likes_sql = f"""
        SELECT * FROM (
            SELECT l.user_id, {lk_who} AS who, l.{level}_id AS item_id, l.liked_at AS ts,
                   l.source AS src
            FROM ({liked_items_sql()}) l{lk_join}
        ) WHERE item_id IS NOT NULL {"".join(" AND " + w for w in where_lk)}
    """
    body = f"""
        ev AS ({events_sql}), pc AS ({pc_sql}), lk AS ({likes_sql}),
        parts AS (
            SELECT who, item_id,
                   count(*) AS plays, count(*) FILTER (WHERE skipped) AS skips,
                   sum(minutes) AS minutes,
                   sum(minutes) FILTER (WHERE skipped) AS skip_minutes,
                   0 AS liked, max(ts) AS ts
            FROM ev GROUP BY who, item_id
            UNION ALL
            SELECT who, item_id, sum(plays), 0, sum(minutes), 0, 0, NULL
            FROM pc GROUP BY who, item_id
            UNION ALL
            SELECT who, item_id, 0, 0, 0, 0, 1, max(ts)
            FROM lk GROUP BY who, item_id
        )
        SELECT who AS user_id, CAST(item_id AS BIGINT) AS item_id,
               sum(plays)::DOUBLE AS plays, sum(skips)::DOUBLE AS skips,
               sum(minutes)::DOUBLE AS minutes,
               COALESCE(sum(skip_minutes), 0)::DOUBLE AS skip_minutes,
               max(liked) AS liked, max(ts) AS ts
        FROM parts GROUP BY who, item_id
    """
    if lean:
        m, sm, zero_m = (
            (", minutes AS m", ", CASE WHEN skipped THEN minutes END AS sm", ", 0, NULL")
            if value == "minutes"
            else ("", "", "")
        )
        pc_m = ", minutes, NULL" if value == "minutes" else ""
        total = (
            "sum(m)::DOUBLE - $skip_weight * COALESCE(sum(sm), 0)::DOUBLE"
            if value == "minutes"
            else "sum(n)::DOUBLE - $skip_weight * sum(s)::DOUBLE"
        )
        body = f"""
            ev AS ({events_sql}), pc AS ({pc_sql}), lk AS ({likes_sql}),
            parts AS (
                SELECT who, item_id, 1 AS n, CASE WHEN skipped THEN 1 ELSE 0 END AS s{m}{sm},
                       0 AS liked, ts
                FROM ev
                UNION ALL
                SELECT who, item_id, plays, 0{pc_m}, 0, NULL FROM pc
                UNION ALL
                SELECT who, item_id, 0, 0{zero_m}, 1, ts FROM lk
            )
            SELECT who AS user_id, CAST(item_id AS BIGINT) AS item_id, {total} AS value,
                   max(liked) AS liked, max(ts) AS ts
            FROM parts GROUP BY who, item_id
        """
    sql = (", " if user_keys is not None else "WITH ") + body
    return sql, params


def build_interactions(
    store: Store,
    *,
    level: str = "track",
    weighting: str = "log1p",
    source: str | Sequence[str] | None = None,
    date_from: str | pd.Timestamp | None = None,
    date_to: str | pd.Timestamp | None = None,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    like_weight: float = 1.0,
    skip_weight: float = 1.0,
    users: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read the store's plays, play counts and likes into one weighted row per (user, item).

    Parameters
    ----------
    store:
        An open store.
    level:
        ``track``, ``artist`` or ``album``; the item id is the store's ``track_id``,
        ``artist_id`` or ``album_id``. Plays reach the artist and album through the track.
    weighting:
        One of :data:`WEIGHTINGS` (see the module docstring).
    source:
        Keep only rows whose ``source`` (loader name) is this one or in this list.
    date_from, date_to:
        Keep interactions with ``date_from <= ts < date_to``. Rows without a time
        (play counts, likes without a date) are dropped when either bound is given.
    min_user_interactions, min_item_interactions:
        Minimum distinct items per user and users per item; applied repeatedly until both
        hold (a k-core).
    like_weight:
        Weight a like adds (0 ignores likes).
    skip_weight:
        How much a skipped play is subtracted from the play count (0 ignores skips).
    users:
        Optional list of user ids to keep.

    Returns
    -------
    pandas.DataFrame
        Columns ``user_id`` (str), ``item_id`` (int64), ``weight`` (float64), ``ts``
        (last interaction, NaT where unknown), sorted by user and item.

    Raises
    ------
    ConfigError
        Bad level, weighting or thresholds.
    DataError
        Nothing is left after filtering.
    """
    if level not in ITEM_LEVELS:
        raise ConfigError(f"unknown item level {level!r}; choose one of {', '.join(ITEM_LEVELS)}")
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    if min_user_interactions < 1 or min_item_interactions < 1:
        raise ConfigError("minimum interactions must be at least 1")
    sql, params = interactions_sql(
        level, source=source, users=users, date_from=date_from, date_to=date_to
    )
    raw = store.con.execute(sql, params).df()
    if raw.empty:
        raise DataError(
            "no interactions match the filters",
            hint="check --source, the date range and that the store holds plays or likes",
        )
    raw["count"] = raw["plays"] - skip_weight * raw["skips"]
    raw["minutes_eff"] = raw["minutes"] - skip_weight * raw["skip_minutes"]
    raw["weight"] = apply_weighting(
        raw,
        weighting,
        value="minutes_eff" if weighting == "minutes" else "count",
        likes="liked" if like_weight != 0 else None,
        like_weight=like_weight,
    )
    out = raw.loc[raw["weight"] > 0, ["user_id", "item_id", "weight", "ts"]]
    out = k_core(out, min_user_interactions, min_item_interactions)
    if out.empty:
        raise DataError(
            "no interactions are left after the minimum-interaction filters",
            hint="lower --min-user / --min-item",
        )
    out = out.assign(
        user_id=out["user_id"].astype(str),
        item_id=out["item_id"].astype("int64"),
        weight=out["weight"].astype("float64"),
        ts=pd.to_datetime(out["ts"]),
    )
    log.info(
        "built %d interactions (%d users, %d %ss, weighting %s)",
        len(out),
        out["user_id"].nunique(),
        out["item_id"].nunique(),
        level,
        weighting,
    )
    return out.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def k_core(
    frame: pd.DataFrame, min_user: int = 1, min_item: int = 1, *, max_rounds: int = 50
) -> pd.DataFrame:
    """Drop users with fewer than ``min_user`` items and items with fewer than ``min_item``
    users, repeatedly, until both hold (or ``max_rounds`` passes).
    """
    out = frame
    for _ in range(max_rounds):
        if min_user <= 1 and min_item <= 1:
            break
        n = len(out)
        if min_item > 1:
            ic = out.groupby("item_id")["user_id"].transform("size")
            out = out[ic >= min_item]
        if min_user > 1:
            uc = out.groupby("user_id")["item_id"].transform("size")
            out = out[uc >= min_user]
        if len(out) == n:
            break
    return out


# --------------------------------------------------------------------------- the dataset
@dataclass(frozen=True, eq=False)
class InteractionDataset:
    """A frozen ``users x items`` interaction matrix with its id maps.

    Attributes
    ----------
    user_map, item_map:
        External <-> internal ids of the rows and columns.
    matrix:
        ``csr_matrix`` of float32 weights, users x items.
    item_level:
        ``track``, ``artist`` or ``album``.
    timestamps:
        ``csr_matrix`` (same pattern as ``matrix``) of the last interaction time in Unix
        seconds (float64, NaN where unknown), or None when no time is known.
    interactions:
        The frame the dataset was built from (``user_id, item_id, weight, ts``).
    events:
        Optional per-event input of sequence models (``user_id, item_id, ts, kind``,
        :mod:`encore.recommenders.sequence`), before aggregation; None for the CF models.
    """

    user_map: IdMap
    item_map: IdMap
    matrix: sp.csr_matrix
    item_level: str
    interactions: pd.DataFrame
    timestamps: sp.csr_matrix | None = None
    events: pd.DataFrame | None = None

    @classmethod
    def from_interactions(
        cls,
        df: pd.DataFrame,
        *,
        item_level: str = "track",
        weighting: str | None = None,
        items: Iterable[Any] | None = None,
        users: Iterable[Any] | None = None,
    ) -> InteractionDataset:
        """Build a dataset from a frame with ``user_id``, ``item_id`` and ``weight``.

        Parameters
        ----------
        df:
            Interactions; ``weight`` defaults to 1 and ``ts`` to unknown. Repeated
            (user, item) pairs are summed (ts: the latest).
        item_level:
            What the items are.
        weighting:
            None: ``weight`` is already weighted. Otherwise a scheme of
            :data:`WEIGHTINGS` applied to ``weight`` read as a play count.
        items, users:
            Optional full universes, so that items (users) without interactions still get
            a column (row); ids in ``df`` outside them raise.

        Raises
        ------
        DataError
            Missing columns, empty frame, or non-finite weights.
        UnknownIdError
            ``df`` has ids outside ``items`` / ``users``.
        """
        missing = {"user_id", "item_id"} - set(df.columns)
        if missing:
            raise DataError(
                f"interaction frame lacks columns {sorted(missing)}", field=sorted(missing)[0]
            )
        frame = df.copy()
        if "weight" not in frame:
            frame["weight"] = 1.0
        if "ts" not in frame:
            frame["ts"] = pd.NaT
        frame["ts"] = pd.to_datetime(frame["ts"])
        if frame["user_id"].dtype == object or pd.api.types.is_string_dtype(frame["user_id"]):
            frame["user_id"] = frame["user_id"].astype(str)
        w = pd.to_numeric(frame["weight"], errors="coerce")
        if not np.isfinite(w.to_numpy(dtype="float64")).all():
            raise DataError("interaction weights must be finite numbers", field="weight")
        frame["weight"] = w.astype("float64")
        frame = frame.groupby(["user_id", "item_id"], as_index=False, sort=True).agg(
            weight=("weight", "sum"), ts=("ts", "max")
        )
        if weighting is not None:
            frame["weight"] = apply_weighting(frame.assign(count=frame["weight"]), weighting)
        # a zero weight is no interaction (negative weights are kept: dislikes)
        frame = frame[frame["weight"] != 0].reset_index(drop=True)
        if frame.empty and (items is None or users is None):
            raise DataError(
                "no interactions with a non-zero weight",
                hint="pass users= and items= to build an empty dataset on purpose",
            )
        user_map = (
            IdMap.from_values(list(users), kind="user")
            if users is not None
            else IdMap.from_values(frame["user_id"].to_numpy(), kind="user")
        )
        item_map = (
            IdMap.from_values(list(items), kind="item")
            if items is not None
            else IdMap.from_values(frame["item_id"].to_numpy(), kind="item")
        )
        rows = user_map.to_internal(frame["user_id"].to_numpy())
        cols = item_map.to_internal(frame["item_id"].to_numpy())
        shape = (len(user_map), len(item_map))
        matrix = sp.csr_matrix(
            (frame["weight"].to_numpy(dtype=np.float32), (rows, cols)),
            shape=shape,
            dtype=np.float32,
        )
        matrix.sort_indices()
        timestamps = None
        if frame["ts"].notna().any():
            secs = frame["ts"].astype("datetime64[ns]").to_numpy().astype("int64") / 1e9
            secs = np.where(frame["ts"].notna().to_numpy(), secs, np.nan)
            timestamps = sp.csr_matrix((secs, (rows, cols)), shape=shape, dtype=np.float64)
            timestamps.sort_indices()
        return cls(
            user_map=user_map,
            item_map=item_map,
            matrix=matrix,
            item_level=item_level,
            interactions=frame[list(INTERACTION_COLUMNS)],
            timestamps=timestamps,
        )

    @classmethod
    def from_store(cls, store: Store, *, level: str = "track", **kwargs: Any) -> InteractionDataset:
        """The store's interactions as a dataset: what :func:`build_interactions` then
        :meth:`from_interactions` give, built at scale by
        :func:`encore.data.matrix.build_dataset` (grouped by integer user keys; its
        ``interactions`` frame has ``user_id`` categorical). ``kwargs`` are
        ``build_dataset``'s."""
        from encore.data.matrix import build_dataset

        return build_dataset(store, level=level, **kwargs)

    # ------------------------------------------------------------------ access
    @property
    def n_users(self) -> int:
        """Number of users (rows)."""
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        """Number of items (columns)."""
        return int(self.matrix.shape[1])

    @property
    def nnz(self) -> int:
        """Number of stored (user, item) pairs."""
        return int(self.matrix.nnz)

    def user_items(self, user_ids: Iterable[Any] | Any) -> sp.csr_matrix:
        """The matrix rows of external ``user_ids``.

        Raises
        ------
        UnknownIdError
            Some users are not in the dataset.
        """
        return self.matrix[self.user_map.to_internal(user_ids)]

    def fold_in_rows(self, frame: pd.DataFrame) -> tuple[np.ndarray, sp.csr_matrix]:
        """Matrix rows, aligned to this dataset's items, for users given by their interactions.

        See :func:`rows_from_interactions`.
        """
        return rows_from_interactions(self.item_map, frame)

    def item_popularity(self) -> np.ndarray:
        """Number of users per item (int64, aligned to ``item_map``)."""
        return np.asarray(np.diff(self.matrix.tocsc().indptr), dtype=np.int64)

    def __repr__(self) -> str:
        return (
            f"InteractionDataset(users={self.n_users}, items={self.n_items}, "
            f"nnz={self.nnz}, level={self.item_level!r})"
        )


def rows_from_interactions(
    item_map: IdMap, frame: pd.DataFrame
) -> tuple[np.ndarray, sp.csr_matrix]:
    """Sparse rows aligned to ``item_map`` for users given by their interactions (fold-in).

    Parameters
    ----------
    item_map:
        The items of a fitted model or dataset.
    frame:
        ``item_id`` and optional ``user_id`` (default: one user ``"new"``) and ``weight``
        (default 1, on the same scale as the dataset's weights). Items unknown to
        ``item_map`` are dropped (logged); repeated pairs are summed.

    Returns
    -------
    (numpy.ndarray, scipy.sparse.csr_matrix)
        The distinct user ids (sorted, str) and one float32 row per user.

    Raises
    ------
    DataError
        ``frame`` lacks ``item_id`` or has non-finite weights.
    """
    if "item_id" not in frame:
        raise DataError("fold-in interactions need an item_id column", field="item_id")
    f = frame
    if "user_id" not in f:
        f = f.assign(user_id="new")
    if "weight" not in f:
        f = f.assign(weight=1.0)
    weights = pd.to_numeric(f["weight"], errors="coerce").to_numpy(dtype="float64")
    if not np.isfinite(weights).all():
        raise DataError("fold-in weights must be finite numbers", field="weight")
    user_str = f["user_id"].astype(str).to_numpy()
    ids = np.unique(user_str)
    cols = item_map.to_internal(f["item_id"].to_numpy(), strict=False)
    known = cols >= 0
    if (~known).any():
        log.info("fold-in: dropped %d interactions with unknown items", int((~known).sum()))
    rows = np.searchsorted(ids, user_str)
    mat = sp.csr_matrix(
        (weights.astype(np.float32)[known], (rows[known], cols[known])),
        shape=(len(ids), len(item_map)),
        dtype=np.float32,
    )
    mat.sum_duplicates()
    mat.sort_indices()
    return ids, mat

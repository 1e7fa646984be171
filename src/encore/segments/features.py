"""Per-user features for listener segmentation, computed from the store.

Every feature group is optional: a source that lacks what a group needs (HetRec has no
timestamps, LFM-1b has no plays) simply leaves those columns empty, and columns that too
few of the fitted users have are dropped before clustering (see ``min_coverage``).

Groups (column prefixes in brackets):

``tenure``
    Years from the account's registration to the window's end (``tenure_years``): ``until``,
    else the users' last event, else the latest registration, tag or like date among them
    (for LFM-1b, a user table without events: years before the newest account).
``age``, ``gender``, ``region``
    Age where plausible (10-90), one-hot gender (``gender_m``, ``gender_f``) and world region
    (``region_<name>``) where known.
``genre_plays``, ``genre_minutes``, ``genre_likes``, ``genre_tags``
    The share of the user's plays, minutes, likes and own tag assignments (HetRec) per coarse
    genre (``gp_<genre>``, ``gm_<genre>``, ``gl_<genre>``, ``gt_<genre>``), over items whose
    genre is known. Plays are timestamped events in the window plus artist-level play counts
    (which have no timestamp and are always included).
``skip``
    Share of the window's events flagged skipped (``skip_rate``).
``activity``
    ``log_plays`` (log10 of 1 + all plays: events, play counts, else the declared total),
    ``plays_per_day`` (events per active day) and ``active_days``.
``diversity``
    Shannon entropy (bits) of the user's plays over genres and over artists.
``mainstream``
    Share of the user's plays that go to the global top-N artists (by number of listeners
    among the fitted users; N = ``top_artists``).
``time_of_day``
    Share of events at night (0-6 h), morning, afternoon and evening (UTC: sources give UTC
    timestamps and no time zone).
``cf``
    User factors of a truncated SVD of the log-scaled, row-normalised user x artist play
    matrix (``cf_0`` ...); a new user is folded in by projecting their row on the fitted
    components, so no refit is needed.

The reference state a new user's features depend on (window, global top artists, the SVD
and its artist index) is learnt by :meth:`FeatureBuilder.fit` and saved with the model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from encore.data.genres import GENRES
from encore.data.rules import liked_items_sql
from encore.data.store import Store
from encore.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Every feature group, in the order columns are produced.
GROUPS: tuple[str, ...] = (
    "tenure",
    "age",
    "gender",
    "region",
    "genre_plays",
    "genre_minutes",
    "genre_likes",
    "genre_tags",
    "skip",
    "activity",
    "diversity",
    "mainstream",
    "time_of_day",
    "cf",
)

#: Groups describing who the listener is (the "demographic part").
DEMOGRAPHIC_GROUPS: tuple[str, ...] = ("tenure", "age", "gender", "region")

_GENRE_PREFIX = {
    "genre_plays": "gp_",
    "genre_minutes": "gm_",
    "genre_likes": "gl_",
    "genre_tags": "gt_",
}
_DAYPARTS = (("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))
_GENRE_LIST = list(GENRES)


def _slug(name: str) -> str:
    return name.replace(" ", "_").replace("&", "n").lower()


def group_of(column: str) -> str:
    """The feature group a column belongs to."""
    for group, prefix in _GENRE_PREFIX.items():
        if column.startswith(prefix):
            return group
    fixed = {
        "tenure_years": "tenure",
        "age": "age",
        "skip_rate": "skip",
        "log_plays": "activity",
        "plays_per_day": "activity",
        "active_days": "activity",
        "genre_entropy": "diversity",
        "artist_entropy": "diversity",
        "mainstream": "mainstream",
    }
    if column in fixed:
        return fixed[column]
    for prefix, group in (
        ("gender_", "gender"),
        ("region_", "region"),
        ("tod_", "time_of_day"),
        ("cf_", "cf"),
    ):
        if column.startswith(prefix):
            return group
    raise KeyError(column)


def genre_columns(prefix: str = "gp_") -> dict[str, str]:
    """Column name -> genre for one genre-distribution group (default: plays)."""
    return {f"{prefix}{_slug(g)}": g for g in _GENRE_LIST}


def _entropy(weights: pd.Series, by: pd.Series) -> pd.Series:
    """Shannon entropy (bits) of ``weights`` grouped by ``by`` (one value per group)."""
    frame = pd.DataFrame({"by": by.to_numpy(), "w": weights.to_numpy(dtype=float)})
    frame = frame[frame["w"] > 0]
    total = frame.groupby("by")["w"].transform("sum")
    p = frame["w"] / total
    frame["h"] = -p * np.log2(p)
    return frame.groupby("by")["h"].sum()


@dataclass
class FeatureBuilder:
    """Computes the per-user feature table; ``fit`` learns the reference state.

    Parameters
    ----------
    groups:
        Feature groups to compute (default: all of :data:`GROUPS`).
    since, until:
        The window of events (and dated likes and tags) that preferences come from;
        ``None`` is open. Artist-level play counts have no timestamp and always count.
    top_artists:
        Size of the global top used for mainstreaminess.
    cf_factors:
        Number of CF user factors.
    """

    groups: tuple[str, ...] = GROUPS
    since: datetime | None = None
    until: datetime | None = None
    top_artists: int = 100
    cf_factors: int = 16
    seed: int = 0
    # learnt by fit
    window_end: datetime | None = None
    top_artist_ids: np.ndarray | None = None
    cf_artists: np.ndarray | None = None
    cf_svd: Any = None
    regions: list[str] = field(default_factory=list)
    fitted: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.groups) - set(GROUPS))
        if unknown:
            raise ConfigError(
                f"unknown feature group(s): {', '.join(unknown)}",
                hint="known groups: " + ", ".join(GROUPS),
            )
        if self.since and self.until and self.since >= self.until:
            raise ConfigError(f"empty window: since {self.since} is not before until {self.until}")

    # ------------------------------------------------------------------ raw reads
    def _window(self, column: str) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if self.since is not None:
            clauses.append(f"({column} IS NULL OR {column} >= ?)")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"({column} IS NULL OR {column} < ?)")
            params.append(self.until)
        return (" AND " + " AND ".join(clauses) if clauses else ""), params

    def _read(self, store: Store, users: Sequence[str]) -> dict[str, pd.DataFrame]:
        con = store.con
        con.register("_seg_sel", pd.DataFrame({"user_id": pd.Series(list(users), dtype="string")}))
        try:
            out: dict[str, pd.DataFrame] = {}
            out["users"] = store.df(
                "SELECT u.user_id, u.registered_at, u.country, u.region, u.age, u.gender, u.declared_plays "
                "FROM users u JOIN _seg_sel s USING (user_id)"
            )
            wsql, wp = self._window("p.ts")
            wsql = wsql.replace("p.ts IS NULL OR ", "")
            out["events"] = store.df(
                f"""
                SELECT p.user_id, p.artist_id, p.genre, count(*) AS plays,
                       sum(p.minutes) AS minutes
                FROM plays p JOIN _seg_sel s USING (user_id)
                WHERE TRUE {wsql}
                GROUP BY ALL
                """,
                wp,
            )
            hour_cols = ", ".join(
                f"count(*) FILTER (WHERE hour(p.ts) >= {lo} AND hour(p.ts) < {hi}) AS tod_{name}"
                for name, lo, hi in _DAYPARTS
            )
            out["event_stats"] = store.df(
                f"""
                SELECT p.user_id, count(*) AS n_events,
                       avg(CASE WHEN p.skipped THEN 1.0 WHEN NOT p.skipped THEN 0.0 END) AS skip_rate,
                       count(DISTINCT CAST(p.ts AS DATE)) AS active_days,
                       max(p.ts) AS last_ts, {hour_cols}
                FROM plays p JOIN _seg_sel s USING (user_id)
                WHERE TRUE {wsql}
                GROUP BY p.user_id
                """,
                wp,
            )
            out["playcounts"] = store.df(
                """
                SELECT pc.user_id, COALESCE(pc.artist_id, t.artist_id) AS artist_id,
                       COALESCE(t.genre, a.genre) AS genre, sum(pc.plays) AS plays
                FROM playcounts pc JOIN _seg_sel s USING (user_id)
                LEFT JOIN tracks t ON t.track_id = pc.track_id
                LEFT JOIN artists a ON a.artist_id = COALESCE(pc.artist_id, t.artist_id)
                GROUP BY ALL
                """
            )
            # a like's genre: the liked track's, else the artist the like stands for
            lsql, lp = self._window("l.liked_at")
            out["likes"] = store.df(
                f"""
                SELECT l.user_id, COALESCE(t.genre, a.genre) AS genre, count(*) AS n
                FROM ({liked_items_sql()}) l JOIN _seg_sel s USING (user_id)
                LEFT JOIN tracks t ON t.track_id = l.track_id
                LEFT JOIN artists a ON a.artist_id = l.artist_id
                WHERE TRUE {lsql}
                GROUP BY ALL
                """,
                lp,
            )
            tsql, tp = self._window("tg.tagged_at")
            out["tags"] = store.df(
                f"""
                SELECT tg.user_id, gm.genre, count(*) AS n
                FROM artist_tags tg JOIN _seg_sel s USING (user_id)
                JOIN genre_map gm ON gm.tag = tg.tag
                WHERE gm.genre IS NOT NULL {tsql}
                GROUP BY ALL
                """,
                tp,
            )
            # the latest date these users' data carries (window end when there are no events)
            out["extent"] = store.df(
                """
                SELECT max(x) AS latest FROM (
                    SELECT max(registered_at) AS x FROM users JOIN _seg_sel USING (user_id)
                    UNION ALL SELECT max(tagged_at) FROM artist_tags JOIN _seg_sel USING (user_id)
                    UNION ALL SELECT max(liked_at) FROM likes JOIN _seg_sel USING (user_id)
                )
                """
            )
            return out
        finally:
            con.unregister("_seg_sel")

    # ------------------------------------------------------------------ fit / transform
    def fit(self, store: Store, users: Sequence[str]) -> FeatureBuilder:
        """Learn the reference state (window end, global top artists, CF factors, regions).

        Raises
        ------
        DataError
            None of ``users`` has any data in the store.
        """
        if not users:
            raise DataError("no users to build features for", hint="ingest data or widen --users")
        raw = self._read(store, users)
        self.window_end = self._window_end(raw)
        plays = self._artist_plays(raw)
        if not plays.empty:
            # ranked by listeners, then plays, then id (a deterministic tie-break)
            ranked = (
                plays.dropna(subset=["artist_id"])
                .groupby("artist_id")
                .agg(listeners=("user_id", "nunique"), plays=("plays", "sum"))
                .reset_index()
            )
            ranked = ranked.sort_values(
                ["listeners", "plays", "artist_id"], ascending=[False, False, True]
            )
            self.top_artist_ids = (
                ranked["artist_id"].head(self.top_artists).to_numpy(dtype=np.int64)
            )
        else:
            self.top_artist_ids = np.array([], dtype=np.int64)
        self.regions = sorted(raw["users"]["region"].dropna().astype(str).unique().tolist())
        self.cf_svd, self.cf_artists = None, None
        if "cf" in self.groups and not plays.empty:
            self._fit_cf(plays, list(users))
        self.fitted = True
        return self

    def _window_end(self, raw: dict[str, pd.DataFrame]) -> datetime:
        if self.until is not None:
            return self.until
        last = raw["event_stats"]["last_ts"].max() if not raw["event_stats"].empty else None
        if last is not None and not pd.isna(last):
            return pd.Timestamp(last).to_pydatetime()
        # no timestamps: the latest date the users' registrations, tags or likes carry
        latest = raw["extent"]["latest"].iloc[0] if not raw["extent"].empty else None
        if latest is None or pd.isna(latest):
            return datetime(2000, 1, 1)
        return pd.Timestamp(latest).to_pydatetime()

    @staticmethod
    def _artist_plays(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
        frames = [
            raw["events"][["user_id", "artist_id", "genre", "plays"]],
            raw["playcounts"][["user_id", "artist_id", "genre", "plays"]],
        ]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame({"user_id": [], "artist_id": [], "genre": [], "plays": []})
        both = pd.concat(frames, ignore_index=True)
        both["plays"] = both["plays"].astype(float)
        return both

    def _cf_matrix(self, plays: pd.DataFrame, users: list[str]) -> Any:
        from scipy import sparse

        assert self.cf_artists is not None
        known = plays.dropna(subset=["artist_id"])
        col = pd.Index(self.cf_artists).get_indexer(pd.Index(known["artist_id"].astype(np.int64)))
        row = pd.Index(users).get_indexer(pd.Index(known["user_id"]))
        keep = (col >= 0) & (row >= 0)
        m = sparse.csr_matrix(
            (np.log1p(known["plays"].to_numpy()[keep]), (row[keep], col[keep])),
            shape=(len(users), len(self.cf_artists)),
        )
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.diags(1.0 / norms) @ m

    def _fit_cf(self, plays: pd.DataFrame, users: list[str]) -> None:
        from sklearn.decomposition import TruncatedSVD

        artists = plays.dropna(subset=["artist_id"])
        # artists with at least two listeners carry taste shared between users
        counts = artists.groupby("artist_id")["user_id"].nunique()
        self.cf_artists = np.sort(counts.index[counts >= 2].to_numpy(dtype=np.int64))
        k = min(self.cf_factors, len(self.cf_artists) - 1, len(users) - 1)
        if k < 2:
            self.cf_artists = None
            return
        svd = TruncatedSVD(n_components=k, random_state=self.seed, algorithm="randomized", n_iter=7)
        svd.fit(self._cf_matrix(plays, users))
        self.cf_svd = svd

    def transform(self, store: Store, users: Sequence[str]) -> pd.DataFrame:
        """The raw feature table (NaN where unknown), one row per user, indexed by ``user_id``.

        Raises
        ------
        ValueError
            Called before :meth:`fit`.
        """
        if not self.fitted or self.window_end is None:
            raise ValueError("FeatureBuilder.transform called before fit")
        users = list(dict.fromkeys(users))
        raw = self._read(store, users)
        idx = pd.Index(users, name="user_id")
        cols: dict[str, pd.Series] = {}
        u = raw["users"].set_index("user_id").reindex(idx)
        g = set(self.groups)
        if "tenure" in g:
            reg = pd.to_datetime(u["registered_at"])
            cols["tenure_years"] = ((pd.Timestamp(self.window_end) - reg).dt.days / 365.25).clip(
                lower=0
            )
        if "age" in g:
            age = pd.to_numeric(u["age"], errors="coerce").astype(float)
            cols["age"] = age.where((age >= 10) & (age <= 90))
        if "gender" in g:
            gender = u["gender"].astype("object")
            known = gender.isin(["m", "f", "n"])
            for code in ("m", "f"):
                cols[f"gender_{code}"] = (gender == code).astype(float).where(known)
        if "region" in g:
            region = u["region"].astype("object")
            known = region.notna()
            for name in self.regions:
                cols[f"region_{_slug(name)}"] = (region == name).astype(float).where(known)

        plays = self._artist_plays(raw)
        genre_frames = {
            "genre_plays": plays.rename(columns={"plays": "w"})[["user_id", "genre", "w"]],
            "genre_minutes": raw["events"].rename(columns={"minutes": "w"})[
                ["user_id", "genre", "w"]
            ],
            "genre_likes": raw["likes"].rename(columns={"n": "w"})[["user_id", "genre", "w"]],
            "genre_tags": raw["tags"].rename(columns={"n": "w"})[["user_id", "genre", "w"]],
        }
        for group, frame in genre_frames.items():
            if group not in g:
                continue
            frame = frame.dropna(subset=["genre", "w"]).astype({"w": float})
            table = frame.pivot_table(
                index="user_id", columns="genre", values="w", aggfunc="sum", fill_value=0.0
            )
            table = table.reindex(columns=_GENRE_LIST, fill_value=0.0)
            totals = table.sum(axis=1)
            shares = table.div(totals.where(totals > 0), axis=0).reindex(idx)
            for genre in _GENRE_LIST:
                cols[f"{_GENRE_PREFIX[group]}{_slug(genre)}"] = shares[genre]

        stats = raw["event_stats"].set_index("user_id").reindex(idx)
        if "skip" in g:
            cols["skip_rate"] = stats["skip_rate"].astype(float)
        if "activity" in g:
            total = plays.groupby("user_id")["plays"].sum().reindex(idx)
            declared = pd.to_numeric(u["declared_plays"], errors="coerce").astype(float)
            total = total.where(total.notna() & (total > 0), declared)
            cols["log_plays"] = pd.Series(
                np.log10(1.0 + total.to_numpy(dtype=float)), index=total.index
            )
            days = stats["active_days"].astype(float)
            cols["plays_per_day"] = stats["n_events"].astype(float) / days.where(days > 0)
            cols["active_days"] = days
        if "diversity" in g:
            with_genre = plays.dropna(subset=["genre"])
            gsum = with_genre.groupby(["user_id", "genre"], as_index=False)["plays"].sum()
            cols["genre_entropy"] = _entropy(gsum["plays"], gsum["user_id"]).reindex(idx)
            asum = (
                plays.dropna(subset=["artist_id"])
                .groupby(["user_id", "artist_id"], as_index=False)["plays"]
                .sum()
            )
            cols["artist_entropy"] = _entropy(asum["plays"], asum["user_id"]).reindex(idx)
        if "mainstream" in g and self.top_artist_ids is not None and len(self.top_artist_ids):
            top = plays["artist_id"].isin(self.top_artist_ids)
            on_top = plays["plays"].where(top, 0.0).groupby(plays["user_id"]).sum()
            total_p = plays.groupby("user_id")["plays"].sum()
            cols["mainstream"] = (on_top / total_p.where(total_p > 0)).reindex(idx)
        if "time_of_day" in g:
            n = stats["n_events"].astype(float)
            for name, _, _ in _DAYPARTS:
                cols[f"tod_{name}"] = stats[f"tod_{name}"].astype(float) / n.where(n > 0)
        if "cf" in g and self.cf_svd is not None:
            m = self._cf_matrix(plays, users)
            factors = self.cf_svd.transform(m)
            has = np.asarray(m.sum(axis=1)).ravel() > 0
            for j in range(factors.shape[1]):
                cols[f"cf_{j}"] = pd.Series(np.where(has, factors[:, j], np.nan), index=idx)

        out = pd.DataFrame(
            {k: pd.Series(v, index=idx).astype(float) for k, v in cols.items()}, index=idx
        )
        return out

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """The builder (options and learnt reference state) as plain values and arrays."""
        from encore.persistence import TRUNCATED_SVD_FITTED, estimator_state

        return {
            "groups": self.groups,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "top_artists": self.top_artists,
            "cf_factors": self.cf_factors,
            "seed": self.seed,
            "window_end": _iso(self.window_end),
            "top_artist_ids": self.top_artist_ids,
            "cf_artists": self.cf_artists,
            "cf_svd": None
            if self.cf_svd is None
            else estimator_state(self.cf_svd, TRUNCATED_SVD_FITTED),
            "regions": self.regions,
            "fitted": self.fitted,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureBuilder:
        """The builder that :meth:`state` described (no refit)."""
        from sklearn.decomposition import TruncatedSVD

        from encore.persistence import estimator_from_state

        return cls(
            groups=tuple(state["groups"]),
            since=_from_iso(state["since"]),
            until=_from_iso(state["until"]),
            top_artists=int(state["top_artists"]),
            cf_factors=int(state["cf_factors"]),
            seed=int(state["seed"]),
            window_end=_from_iso(state["window_end"]),
            top_artist_ids=state["top_artist_ids"],
            cf_artists=state["cf_artists"],
            cf_svd=None
            if state["cf_svd"] is None
            else estimator_from_state(TruncatedSVD, state["cf_svd"]),
            regions=list(state["regions"]),
            fitted=bool(state["fitted"]),
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def top_genres(features: pd.DataFrame, n: int = 3) -> pd.Series:
    """Each user's top ``n`` genres as ``"a, b, c"``: by plays, else own tags, else likes."""
    out = pd.Series("", index=features.index, dtype=object)
    for prefix in ("gl_", "gt_", "gp_"):  # later sources override earlier ones
        cmap = {c: gname for c, gname in genre_columns(prefix).items() if c in features.columns}
        if not cmap:
            continue
        values = features[list(cmap)].to_numpy(dtype=float)
        names = np.array(list(cmap.values()), dtype=object)
        filled = np.nan_to_num(values, nan=0.0)
        order = np.argsort(-filled, axis=1, kind="stable")[:, :n]
        for i in np.flatnonzero(filled.max(axis=1) > 0):
            picked = [names[j] for j in order[i] if filled[i, j] > 0]
            out.iat[int(i)] = ", ".join(picked)
    return out


def candidate_users(
    store: Store, namespace: str | None = None, *, only: Sequence[str] | None = None
) -> list[str]:
    """Every user id the store knows (profiles, plays, likes, tags), optionally one namespace.

    ``namespace`` ``"hetrec"`` keeps ids starting with ``"hetrec:"``; ``only`` keeps those
    of the given ids (a lookup of a few users, not a scan of every id).
    """
    clauses: list[str] = []
    params: list[Any] = []
    if namespace:
        clauses.append("user_id LIKE ?")
        params.append(namespace.rstrip(":") + ":%")
    if only is not None:
        clauses.append("user_id = ANY(?)")
        params.append([str(u) for u in only])
    where = "WHERE " + " AND ".join(clauses) if clauses else ""
    rows = store.execute(
        f"""
        SELECT DISTINCT user_id FROM (
            SELECT user_id FROM users UNION ALL SELECT user_id FROM events
            UNION ALL SELECT user_id FROM playcounts UNION ALL SELECT user_id FROM likes
            UNION ALL SELECT user_id FROM artist_tags WHERE user_id IS NOT NULL
        ) {where} ORDER BY user_id
        """,
        params,
    ).fetchall()
    return [r[0] for r in rows]

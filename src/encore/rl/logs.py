"""The store's listening events as logged decisions, and the features every RL part shares.

A **round** is one event of a listener's history: the item that was played (the logged
action), when (hour of day), where in its session (sessions break after
:data:`SESSION_GAP_MINUTES` of silence), and the **reward**: 1 for a full listen, 0 for a
skip or a play cut short (under half the track; the source's skip flag first, see
``docs/data-model.md``). Dated likes are not decisions and are left out.

Only listeners whose data says when they skipped can give rewards (Spotify exports with
``ms_played`` or a skip flag); the action space is the tracks played at least
``min_item_plays`` times by them (rounds of other tracks are dropped and counted).
The logs are split per listener by time: each listener's last ``test_share`` of rounds
is the test side (as ``encore evaluate --split user-time``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError

if TYPE_CHECKING:
    from encore.data.store import Store

log = logging.getLogger(__name__)

#: Silence that starts a new session.
SESSION_GAP_MINUTES = 30.0
#: Rounds before a decision that its recent-skip rate reads.
RECENT = 20
#: Prior of the recent-skip rate for a listener's first rounds (pseudo-count 1 at 0.3).
SKIP_PRIOR = 0.3
#: Share of its length under which a play counts as cut short (as the sequence models).
PARTIAL_SHARE = 0.5
ROUND_COLUMNS: tuple[str, ...] = (
    "user_id",
    "item",
    "ts",
    "reward",
    "minutes",
    "session",
    "position",
    "hour",
    "recent_skip",
    "familiarity",
    "test",
)


@dataclass
class RLData:
    """Logged rounds, split by time per listener, with the item catalogue.

    Attributes
    ----------
    rounds:
        :data:`ROUND_COLUMNS`, in user and time order; ``item`` is the index into
        ``item_ids``; ``familiarity`` the listener's earlier rounds of the item.
    item_ids:
        External item ids (track ids) of the action space.
    item_genre:
        Genre code of each item (index into ``genres``; the last is ``unknown``).
    genres:
        Genre names.
    item_minutes:
        Length of each item in minutes (median of its full listens, else the median
        length).
    stats:
        Counts: rounds kept and dropped, users, sessions.
    """

    rounds: pd.DataFrame
    item_ids: np.ndarray
    item_genre: np.ndarray
    genres: list[str]
    item_minutes: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        """Size of the action space."""
        return len(self.item_ids)

    @property
    def train(self) -> pd.DataFrame:
        """Rounds before each listener's time cut."""
        return self.rounds[~self.rounds["test"]]

    @property
    def test(self) -> pd.DataFrame:
        """Rounds from each listener's time cut on."""
        return self.rounds[self.rounds["test"]]

    def interactions(self, part: str = "train") -> pd.DataFrame:
        """``user_id, item_id, weight, ts`` (full listens counted, log1p) for the CF models."""
        rounds = self.train if part == "train" else self.test
        full = rounds[rounds["reward"] > 0]
        agg = (
            full.groupby(["user_id", "item"], sort=True)
            .agg(n=("reward", "size"), ts=("ts", "max"))
            .reset_index()
        )
        return pd.DataFrame(
            {
                "user_id": agg["user_id"].astype(str),
                "item_id": self.item_ids[agg["item"].to_numpy()],
                "weight": np.log1p(agg["n"].to_numpy(dtype=np.float64)).astype(np.float32),
                "ts": agg["ts"],
            }
        )

    def events(self, part: str = "train") -> pd.DataFrame:
        """``user_id, item_id, ts, kind`` (play or skip) for the sequence models."""
        rounds = self.train if part == "train" else self.test
        return pd.DataFrame(
            {
                "user_id": rounds["user_id"].astype(str).to_numpy(),
                "item_id": self.item_ids[rounds["item"].to_numpy()],
                "ts": rounds["ts"].to_numpy(),
                "kind": np.where(rounds["reward"].to_numpy() > 0, "play", "skip"),
            }
        )


def load_rounds(
    store: Store,
    *,
    users: list[str] | None = None,
    max_users: int | None = None,
    min_item_plays: int = 10,
    min_user_rounds: int = 200,
    test_share: float = 0.2,
    max_rounds_per_user: int | None = None,
) -> RLData:
    """Read the store's rewarded rounds (see the module docstring).

    Parameters
    ----------
    users:
        Only these listeners (default: every listener with skip information).
    max_users:
        Keep the first this many listeners by id (small settings).
    min_item_plays:
        Tracks played fewer times (by the kept listeners) leave the action space.
    min_user_rounds:
        Listeners with fewer rounds (after the item filter) are dropped.
    test_share:
        Each listener's last share of rounds by time is the test side.
    max_rounds_per_user:
        Keep only each listener's latest this many rounds (small settings).

    Raises
    ------
    ConfigError
        A bad share or threshold.
    DataError
        No listener with skip information, or nothing left after the filters.
    """
    if not 0.0 < test_share < 1.0:
        raise ConfigError(f"test_share must be in (0, 1), got {test_share}")
    if min_item_plays < 1 or min_user_rounds < 2:
        raise ConfigError("min_item_plays must be >= 1 and min_user_rounds >= 2")
    params: dict[str, Any] = {"share": PARTIAL_SHARE}
    cond = ""
    if users is not None:
        params["users"] = [str(u) for u in users]
        cond = " AND e.user_id = ANY($users)"
    frame = store.con.execute(
        f"""
        WITH skippers AS (
            SELECT user_id FROM events
            GROUP BY user_id
            HAVING count(ms_played) > 0 OR bool_or(COALESCE(skipped, FALSE))
        )
        SELECT e.user_id, e.track_id AS item_id, e.ts, e.ms_played,
               t.duration_ms, COALESCE(p.genre, 'unknown') AS genre,
               CASE WHEN COALESCE(e.skipped, FALSE) THEN 0
                    WHEN e.ms_played IS NOT NULL AND t.duration_ms > 0
                         AND e.ms_played < $share * t.duration_ms THEN 0
                    ELSE 1 END AS reward
        FROM events e
        JOIN skippers s ON s.user_id = e.user_id
        LEFT JOIN tracks t ON t.track_id = e.track_id
        LEFT JOIN (SELECT DISTINCT ON (track_id) track_id, genre FROM plays
                   WHERE track_id IS NOT NULL ORDER BY track_id, genre NULLS LAST) p
               ON p.track_id = e.track_id
        WHERE e.track_id IS NOT NULL AND e.ts IS NOT NULL {cond}
        ORDER BY e.user_id, e.ts, e.track_id, e.ms_played NULLS FIRST, reward, genre
        """,
        params,
    ).df()
    if frame.empty:
        raise DataError(
            "no listener in the store has skip information (ms played or a skip flag)",
            hint="ingest Spotify exports, e.g. encore ingest --all ../shared/data/listening-histories",
        )
    frame["user_id"] = frame["user_id"].astype(str)
    kept_users = sorted(frame["user_id"].unique())
    if max_users is not None:
        kept_users = kept_users[:max_users]
        frame = frame[frame["user_id"].isin(kept_users)]
    if max_rounds_per_user is not None:
        frame = frame.groupby("user_id", sort=False).tail(max_rounds_per_user)
    total = len(frame)
    counts = frame["item_id"].value_counts()
    keep_items = counts.index[counts >= min_item_plays]
    frame = frame[frame["item_id"].isin(keep_items)]
    sizes = frame["user_id"].value_counts()
    frame = frame[frame["user_id"].isin(sizes.index[sizes >= min_user_rounds])]
    if frame.empty:
        raise DataError(
            f"no listener keeps {min_user_rounds} rounds of tracks played at least "
            f"{min_item_plays} times",
            hint="lower --min-item-plays",
        )
    frame = frame.sort_values(["user_id", "ts", "item_id"], kind="stable").reset_index(drop=True)
    item_ids = np.sort(frame["item_id"].unique()).astype(np.int64)
    item = np.searchsorted(item_ids, frame["item_id"].to_numpy())
    genre_of = frame.groupby("item_id")["genre"].first().reindex(item_ids).fillna("unknown")
    genres = [*sorted(g for g in genre_of.unique() if g != "unknown"), "unknown"]
    item_genre = np.array([genres.index(g) for g in genre_of], dtype=np.int64)
    minutes = np.where(
        frame["ms_played"].notna(),
        frame["ms_played"].to_numpy(dtype=np.float64, na_value=np.nan) / 60_000.0,
        frame["duration_ms"].to_numpy(dtype=np.float64, na_value=np.nan) / 60_000.0,
    )
    full_len = (
        pd.Series(minutes[frame["reward"].to_numpy() > 0])
        .groupby(item[frame["reward"].to_numpy() > 0])
        .median()
    )
    item_minutes = np.full(len(item_ids), np.nan)
    item_minutes[full_len.index.to_numpy()] = full_len.to_numpy()
    median_len = float(np.nanmedian(item_minutes)) if np.isfinite(item_minutes).any() else 3.5
    item_minutes = np.where(np.isfinite(item_minutes), item_minutes, median_len)
    minutes = np.where(np.isfinite(minutes), minutes, item_minutes[item])
    rounds = pd.DataFrame(
        {
            "user_id": frame["user_id"].to_numpy(),
            "item": item.astype(np.int64),
            "ts": pd.to_datetime(frame["ts"]).to_numpy(),
            "reward": frame["reward"].to_numpy(dtype=np.float64),
            "minutes": minutes,
        }
    )
    rounds = add_context(rounds)
    # per-user time split: each listener's last test_share of rounds
    pos = rounds.groupby("user_id", sort=False).cumcount().to_numpy()
    size = rounds.groupby("user_id", sort=False)["item"].transform("size").to_numpy()
    rounds["test"] = pos >= np.ceil(size * (1.0 - test_share))
    stats = {
        "users": int(rounds["user_id"].nunique()),
        "items": len(item_ids),
        "rounds": len(rounds),
        "rounds_dropped_rare_items_or_users": int(total - len(rounds)),
        "sessions": int(rounds["session"].nunique()),
        "train_rounds": int((~rounds["test"]).sum()),
        "test_rounds": int(rounds["test"].sum()),
        "full_listen_rate": float(rounds["reward"].mean()),
    }
    log.info("RL rounds: %s", stats)
    return RLData(
        rounds=rounds[list(ROUND_COLUMNS)],
        item_ids=item_ids,
        item_genre=item_genre,
        genres=genres,
        item_minutes=item_minutes,
        stats=stats,
    )


def add_context(rounds: pd.DataFrame) -> pd.DataFrame:
    """Session, position, hour, recent-skip rate and familiarity of each round (read from the
    rounds before it only); ``rounds`` in user and time order."""
    out = rounds.copy()
    users = out["user_id"].to_numpy()
    ts = pd.to_datetime(out["ts"])
    secs = ts.astype("datetime64[ns]").to_numpy().astype("int64") / 1e9
    new_user = np.r_[True, users[1:] != users[:-1]]
    gap = np.r_[np.inf, np.diff(secs)]
    new_session = new_user | (gap > SESSION_GAP_MINUTES * 60.0)
    session = np.cumsum(new_session) - 1
    out["session"] = session
    out["position"] = out.groupby(session).cumcount().to_numpy()
    out["hour"] = ts.dt.hour.to_numpy() + ts.dt.minute.to_numpy() / 60.0
    skip = 1.0 - out["reward"].to_numpy(dtype=np.float64)
    grp = out.groupby("user_id", sort=False)
    prev_sum = grp["reward"].transform(
        lambda r: (1.0 - r).shift(1, fill_value=0.0).rolling(RECENT, min_periods=1).sum()
    )
    prev_n = grp.cumcount().clip(upper=RECENT).to_numpy()
    out["recent_skip"] = (prev_sum.to_numpy() + SKIP_PRIOR) / (prev_n + 1.0)
    out["familiarity"] = out.groupby(["user_id", "item"], sort=False).cumcount().to_numpy()
    del skip
    return out


def hour_features(hour: np.ndarray) -> np.ndarray:
    """``[n, 2]`` sine and cosine of the hour of day."""
    angle = 2.0 * np.pi * np.asarray(hour, dtype=np.float64) / 24.0
    return np.column_stack([np.sin(angle), np.cos(angle)])

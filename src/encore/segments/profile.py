"""What each segment is: profiles, generated names, and checks against known attributes.

Names are generated from the data, never typed in: the segment's most characteristic
genres (share x lift over everyone, ``s**2 / overall``, among genres with at least 10 % of
the segment's listening; a second genre when it scores at least half the first), then its most distinctive trait
among tenure, activity, skipping, mainstreaminess, diversity, age, gender, region and
time of day (largest standardised difference from all users), e.g.
"indie + folk, long-time listeners".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from encore.data.store import Store
from encore.segments.features import genre_columns

log = logging.getLogger(__name__)

#: column -> (label when low, label when high); used for names.
TRAITS: dict[str, tuple[str | None, str | None]] = {
    "tenure_years": ("new listeners", "long-time listeners"),
    "log_plays": ("light listeners", "heavy listeners"),
    "plays_per_day": ("few plays a day", "many plays a day"),
    "skip_rate": ("few skips", "frequent skippers"),
    "mainstream": ("niche taste", "mainstream taste"),
    "genre_entropy": ("genre-focused", "eclectic"),
    "artist_entropy": ("few artists", "many artists"),
    "age": ("younger", "older"),
    "gender_f": ("mostly men", "mostly women"),
    "tod_night": (None, "night owls"),
    "tod_morning": (None, "morning listeners"),
}
_MIN_TRAIT_Z = 0.25
_MIN_NAME_SHARE = 0.10


def genre_prefix(features: pd.DataFrame) -> str | None:
    """The genre-distribution group used to describe taste: plays, else tags, else likes."""
    for prefix in ("gp_", "gt_", "gl_"):
        cols = [c for c in genre_columns(prefix) if c in features.columns]
        if cols and features[cols].notna().any(axis=1).mean() > 0:
            return prefix
    return None


def _genre_means(features: pd.DataFrame, prefix: str) -> pd.DataFrame:
    cmap = {c: g for c, g in genre_columns(prefix).items() if c in features.columns}
    return features[list(cmap)].rename(columns=cmap)


def _name(
    seg: int,
    members: pd.Index,
    features: pd.DataFrame,
    prefix: str | None,
    region: pd.Series | None,
    used: set[str],
) -> str:
    parts: list[str] = []
    if prefix is not None:
        shares = _genre_means(features, prefix)
        seg_mean = shares.loc[members].mean()
        overall = shares.mean()
        score = (
            (seg_mean**2 / overall.where(overall > 0))
            .dropna()
            .sort_values(ascending=False, kind="stable")
        )
        # a genre must be a real part of the segment's listening to name it
        score = score[seg_mean.reindex(score.index) >= _MIN_NAME_SHARE]
        if len(score):
            picked = [str(score.index[0])]
            if len(score) > 1 and score.iloc[1] >= 0.5 * score.iloc[0]:
                picked.append(str(score.index[1]))
            parts.append(" + ".join(picked))
    traits: list[tuple[float, str]] = []
    for col, (low, high) in TRAITS.items():
        if col not in features.columns:
            continue
        values = features[col]
        sd = values.std(ddof=0)
        if not np.isfinite(sd) or sd <= 0 or values.loc[members].notna().sum() == 0:
            continue
        z = (values.loc[members].mean() - values.mean()) / sd
        label = high if z > 0 else low
        if label is not None and abs(z) >= _MIN_TRAIT_Z:
            traits.append((abs(float(z)), label))
    if region is not None:
        known = region.loc[members].dropna()
        if len(known):
            top = known.value_counts(normalize=True)
            overall_share = region.dropna().value_counts(normalize=True).get(top.index[0], 0.0)
            if top.iloc[0] >= 0.5 and top.iloc[0] - overall_share >= 0.15:
                traits.append((2 * (top.iloc[0] - overall_share), f"mostly {top.index[0]}"))
    traits.sort(key=lambda t: -t[0])
    labels = [t[1] for t in traits]
    want = 1 if parts else 2
    name_parts = parts + labels[:want]
    extra = labels[want:]
    name = ", ".join(name_parts) if name_parts else "average listeners"

    def taken(parts: list[str]) -> bool:  # the same words in another order count as taken
        return frozenset(parts) in {frozenset(n.split(", ")) for n in used}

    while taken(name_parts) and extra:
        name_parts.append(extra.pop(0))
    name = ", ".join(name_parts) if name_parts else "average listeners"
    if taken(name_parts) or name in used:
        name = f"{name} #{seg}"
    used.add(name)
    return name


def _top(series: pd.Series, n: int = 3) -> str | None:
    known = series.dropna()
    if known.empty:
        return None
    shares = known.value_counts(normalize=True).head(n)
    return ", ".join(f"{k} {v:.0%}" for k, v in shares.items())


def profiles(
    store: Store,
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    n_top: int = 3,
) -> pd.DataFrame:
    """One row per segment: size, name, top genres, artists, countries, medians, rates.

    Parameters
    ----------
    store:
        The store the features came from (for artists and countries).
    features:
        Raw feature table indexed by ``user_id`` (NaN where unknown).
    labels:
        Segment per ``user_id`` (-1: HDBSCAN noise).
    """
    con = store.con
    frame = pd.DataFrame(
        {"user_id": labels.index.astype(str), "segment": labels.to_numpy(dtype=np.int64)}
    )
    con.register("_seg_lab", frame)
    try:
        demo = (
            store.df(
                "SELECT l.user_id, u.country, u.region FROM _seg_lab l LEFT JOIN users u USING (user_id)"
            )
            .set_index("user_id")
            .reindex(labels.index)
        )
        artists = store.df(
            """
            WITH p AS (
                SELECT user_id, artist_id, count(*) AS plays FROM plays
                WHERE user_id IN (SELECT user_id FROM _seg_lab) GROUP BY ALL
                UNION ALL
                SELECT pc.user_id, COALESCE(pc.artist_id, t.artist_id), sum(pc.plays)
                FROM playcounts pc LEFT JOIN tracks t USING (track_id)
                WHERE pc.user_id IN (SELECT user_id FROM _seg_lab) GROUP BY ALL
            )
            SELECT l.segment, a.name, sum(p.plays) AS plays, count(DISTINCT p.user_id) AS listeners
            FROM p JOIN _seg_lab l USING (user_id) JOIN artists a ON a.artist_id = p.artist_id
            GROUP BY ALL
            """
        )
    finally:
        con.unregister("_seg_lab")
    prefix = genre_prefix(features)
    region = demo["region"] if demo["region"].notna().any() else None
    used: set[str] = set()
    rows: list[dict[str, Any]] = []
    n_all = len(labels)
    for seg in sorted(set(labels.tolist()), key=lambda s: (s < 0, s)):
        members = labels.index[labels.to_numpy() == seg]
        row: dict[str, Any] = {"segment": int(seg)}
        row["name"] = (
            "unassigned (noise)"
            if seg < 0
            else _name(int(seg), members, features, prefix, region, used)
        )
        row["users"] = len(members)
        row["share"] = len(members) / n_all if n_all else 0.0
        if prefix is not None:
            g = (
                _genre_means(features, prefix)
                .loc[members]
                .mean()
                .sort_values(ascending=False, kind="stable")
            )
            row["top_genres"] = ", ".join(f"{k} {v:.0%}" for k, v in g.head(n_top).items() if v > 0)
        else:
            row["top_genres"] = ""
        seg_art = artists[artists["segment"] == seg]
        # artists ranked by listeners in the segment, then plays: one heavy fan does not define it
        seg_art = seg_art.sort_values(
            ["listeners", "plays", "name"], ascending=[False, False, True]
        )
        row["top_artists"] = ", ".join(seg_art["name"].head(n_top).astype(str))
        row["top_countries"] = _top(demo.loc[members, "country"], n_top)
        for col, out in (
            ("tenure_years", "median_tenure_years"),
            ("age", "median_age"),
            ("log_plays", "median_log_plays"),
        ):
            row[out] = float(features.loc[members, col].median()) if col in features else np.nan
        for col, out in (
            ("skip_rate", "skip_rate"),
            ("mainstream", "mainstream"),
            ("genre_entropy", "genre_entropy"),
            ("gender_f", "share_female"),
        ):
            row[out] = float(features.loc[members, col].mean()) if col in features else np.nan
        rows.append(row)
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def friends_check(
    store: Store,
    labels: pd.Series,
    *,
    n_permutations: int = 1000,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Are friends more often in the same segment than chance?

    Compares the share of (undirected) friend pairs whose two users share a segment with
    (a) the analytic chance rate ``sum_k p_k**2`` and (b) a permutation baseline: the same
    pairs after shuffling segment labels among the fitted users ``n_permutations`` times.
    Returns ``None`` when no friend pair has both users segmented.
    """
    pairs = store.df(
        "SELECT DISTINCT least(user_id, friend_id) AS a, greatest(user_id, friend_id) AS b "
        "FROM friends WHERE user_id <> friend_id"
    )
    index = pd.Index(labels.index.astype(str))
    ia, ib = index.get_indexer(pairs["a"]), index.get_indexer(pairs["b"])
    keep = (ia >= 0) & (ib >= 0)
    ia, ib = ia[keep], ib[keep]
    lab = labels.to_numpy(dtype=np.int64)
    valid = (lab[ia] >= 0) & (lab[ib] >= 0)
    ia, ib = ia[valid], ib[valid]
    if len(ia) == 0:
        return None
    observed = float(np.mean(lab[ia] == lab[ib]))
    seg = lab[lab >= 0]
    p = np.bincount(seg) / len(seg)
    analytic = float(np.sum(p**2))
    rng = np.random.default_rng(seed)
    perm_rates = np.empty(n_permutations)
    pool = np.flatnonzero(lab >= 0)
    for i in range(n_permutations):
        shuffled = lab.copy()
        shuffled[pool] = rng.permutation(lab[pool])
        perm_rates[i] = np.mean(shuffled[ia] == shuffled[ib])
    return {
        "friend_pairs": len(ia),
        "same_segment_rate": observed,
        "chance_rate": analytic,
        "permutation_mean": float(perm_rates.mean()),
        "permutation_p95": float(np.quantile(perm_rates, 0.95)),
        "p_value": float((1 + np.sum(perm_rates >= observed)) / (1 + n_permutations)),
        "lift": observed / analytic if analytic > 0 else float("nan"),
    }


def _cramers_v(a: pd.Series, b: pd.Series) -> float:
    from scipy.stats import chi2_contingency

    table = pd.crosstab(a, b)
    if min(table.shape) < 2:
        return float("nan")
    chi2 = chi2_contingency(table, correction=False)[0]
    n = table.to_numpy().sum()
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def known_attributes(store: Store, users: Sequence[str]) -> pd.DataFrame:
    """Categorical attributes from the users table: region, country, gender, age band, signup year."""
    store.con.register("_seg_u", pd.DataFrame({"user_id": pd.Series(list(users), dtype="string")}))
    try:
        u = store.df(
            "SELECT s.user_id, u.region, u.country, u.gender, u.age, year(u.registered_at) AS signup_year "
            "FROM _seg_u s LEFT JOIN users u USING (user_id)"
        ).set_index("user_id")
    finally:
        store.con.unregister("_seg_u")
    age = pd.to_numeric(u["age"], errors="coerce")
    age = age.where((age >= 10) & (age <= 90))
    u["age_band"] = pd.cut(
        age, [0, 19, 24, 29, 39, 200], labels=["<20", "20-24", "25-29", "30-39", "40+"]
    )
    u["gender"] = u["gender"].where(u["gender"].isin(["m", "f"]))
    return u[["region", "country", "gender", "age_band", "signup_year"]].reindex(
        pd.Index(list(users))
    )


def agreement(labels: pd.Series, attributes: pd.DataFrame) -> pd.DataFrame:
    """How much segments agree with each known attribute (users where it is known).

    Returns one row per attribute: users known, adjusted mutual information and Cramér's V
    (0 = independent; 1 = the segment determines the attribute).
    """
    from sklearn.metrics import adjusted_mutual_info_score

    rows = []
    for col in attributes.columns:
        values = attributes[col].reindex(labels.index)
        mask = values.notna().to_numpy() & (labels.to_numpy() >= 0)
        if mask.sum() < 10 or values[mask].nunique() < 2:
            continue
        a = labels[mask].astype(int)
        b = values[mask].astype(str)
        rows.append(
            {
                "attribute": col,
                "users_known": int(mask.sum()),
                "ami": float(adjusted_mutual_info_score(b, a)),
                "cramers_v": _cramers_v(a, b),
            }
        )
    return pd.DataFrame(rows, columns=["attribute", "users_known", "ami", "cramers_v"])

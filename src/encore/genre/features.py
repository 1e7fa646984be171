"""Items whose genre is to be predicted, and the features built for them.

An item is an artist (``level="artist"``, e.g. HetRec Last.fm 2K, where labels are
artist-level) or a track (``level="track"``, e.g. tcc_ceds, the Million Song Subset).
:func:`load_genre_data` reads the items, their labels (``artists.genre`` /
``tracks.genre``), their listeners and their metadata from the store.

Leakage rules, enforced here and tested in ``tests/genre/test_leakage.py``:

- no feature reads the item's own tags (``artist_tags``, ``track_tags``) or its own
  ``genre_raw``/``genre``: on HetRec the label *is* derived from the artist's tags, so
  every tag-based feature of the hidden item is left out;
- the "listeners' favourite genres" of an item are computed from the labels of the
  *training* items only, and for a training item its own artist's items are subtracted
  from each listener's profile, so that training rows look like test rows (whose
  artist is unseen under an artist-disjoint split).

:class:`FeatureBuilder` turns items into one sparse matrix with named feature groups
(``collab``, ``text``, ``meta``) so that models and ablations pick groups by name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from encore.data.rules import liked_items_sql
from encore.data.store import Store
from encore.errors import ConfigError, DataError

log = logging.getLogger(__name__)

Level = Literal["artist", "track"]
GROUPS: tuple[str, ...] = ("collab", "text", "meta")

#: Named datasets: (level, sources whose items belong to it). ``None`` = every item.
DATASETS: dict[str, tuple[Level, tuple[str, ...] | None]] = {
    "hetrec": ("artist", ("hetrec2011",)),
    "histories": ("artist", ("spotify_basic", "spotify_extended", "lastfm_csv", "spotify_library")),
    "tcc_ceds": ("track", ("tcc_ceds",)),
    "msd": ("track", ("msd",)),
    "all-artists": ("artist", None),
    "all-tracks": ("track", None),
}


@dataclass
class GenreData:
    """Items of one level with labels, listeners and metadata.

    Attributes
    ----------
    level:
        ``"artist"`` or ``"track"``.
    items:
        One row per item: ``item_id``, ``artist_id``, ``artist``, ``album``, ``title``,
        ``genre`` (label, None when unknown), ``release_year``, ``duration_ms``,
        ``language``, ``country``, ``lyrics``.
    listens:
        Items x users sparse matrix of log1p(plays/likes) weights.
    users:
        User ids of the columns of ``listens``.
    numeric:
        Numeric metadata per item (rows aligned with ``items``), NaN where unknown.
    """

    level: Level
    items: pd.DataFrame
    listens: sp.csr_matrix
    users: np.ndarray
    numeric: pd.DataFrame
    name: str = "custom"
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> np.ndarray:
        """The label of each item (object array, None where unknown)."""
        return self.items["genre"].to_numpy(dtype=object)

    @property
    def labelled(self) -> np.ndarray:
        """Positions of items with a known label."""
        return np.flatnonzero(self.items["genre"].notna().to_numpy())

    def subset(self, idx: np.ndarray) -> GenreData:
        """The items at positions ``idx`` (same users)."""
        return replace(
            self,
            items=self.items.iloc[idx].reset_index(drop=True),
            listens=self.listens[idx],
            numeric=self.numeric.iloc[idx].reset_index(drop=True),
            _cache={},
        )


# ----------------------------------------------------------------------------- loading
def _source_filter(sources: Sequence[str] | None, level: Level) -> str:
    """SQL for the ids of the items that belong to ``sources``."""
    if sources is None:
        return (
            "SELECT artist_id AS id FROM artists"
            if level == "artist"
            else "SELECT track_id AS id FROM tracks"
        )
    src = ", ".join("'" + s.replace("'", "''") + "'" for s in sources)
    if level == "artist":
        return f"""
            SELECT artist_id AS id FROM artists WHERE source IN ({src})
            UNION SELECT artist_id FROM playcounts WHERE source IN ({src}) AND artist_id IS NOT NULL
            UNION SELECT artist_id FROM artist_tags WHERE source IN ({src})
            UNION SELECT COALESCE(e.artist_id, t.artist_id) FROM events e LEFT JOIN tracks t USING (track_id)
                  WHERE e.source IN ({src})
            UNION SELECT t.artist_id FROM tracks t WHERE t.source IN ({src})
        """
    return f"""
        SELECT track_id AS id FROM tracks WHERE source IN ({src})
        UNION SELECT track_id FROM events WHERE source IN ({src}) AND track_id IS NOT NULL
        UNION SELECT track_id FROM playcounts WHERE source IN ({src}) AND track_id IS NOT NULL
        UNION SELECT entity_id FROM likes WHERE source IN ({src}) AND entity_type = 'track'
    """


def load_genre_data(
    store: Store,
    dataset: str | None = "hetrec",
    *,
    level: Level | None = None,
    sources: Sequence[str] | None = None,
    item_ids: Sequence[int] | None = None,
    users: np.ndarray | None = None,
) -> GenreData:
    """Read items, labels, listeners and metadata from the store.

    Parameters
    ----------
    store:
        An open store.
    dataset:
        A name from :data:`DATASETS` (sets ``level`` and ``sources``), or None to give them.
    level, sources:
        Item level and the loader names whose items to take (None: all items).
    item_ids:
        Only these items (artist or track ids, any source), e.g. to predict for one track.
    users:
        Map listeners onto this fixed user index (a fitted model's); unknown users dropped.

    Raises
    ------
    ConfigError
        Unknown dataset or level.
    DataError
        No items found.
    """
    if dataset is not None:
        if dataset not in DATASETS:
            raise ConfigError(
                f"unknown genre dataset {dataset!r}", hint="known: " + ", ".join(DATASETS)
            )
        level, sources = DATASETS[dataset]
    if level not in ("artist", "track"):
        raise ConfigError(f"level must be 'artist' or 'track', not {level!r}")
    con = store.con
    if item_ids is not None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _g_items AS SELECT DISTINCT unnest(?::BIGINT[]) AS id",
            [[int(i) for i in item_ids]],
        )
    else:
        ids_sql = _source_filter(sources, level)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _g_items AS SELECT DISTINCT id FROM ({ids_sql}) WHERE id IS NOT NULL"
        )
    try:
        if level == "artist":
            items, numeric, inter = _load_artists(store)
        else:
            items, numeric, inter = _load_tracks(store)
    finally:
        con.execute("DROP TABLE IF EXISTS _g_items")
    if items.empty:
        raise DataError(
            f"no {level}s found for genre dataset {dataset or sources!r}",
            hint="ingest the dataset first, e.g. `encore ingest --all ../shared/data`",
        )
    items = items.reset_index(drop=True)
    pos = pd.Series(np.arange(len(items)), index=items["item_id"].to_numpy())
    inter = inter[inter["item_id"].isin(pos.index)]
    if users is None:
        users = np.sort(inter["user_id"].unique()).astype(object)
    upos = pd.Series(np.arange(len(users)), index=users)
    inter = inter[inter["user_id"].isin(upos.index)]
    rows = pos.loc[inter["item_id"].to_numpy()].to_numpy()
    cols = upos.loc[inter["user_id"].to_numpy()].to_numpy()
    vals = np.log1p(inter["w"].to_numpy(dtype=np.float64))
    listens = sp.csr_matrix((vals, (rows, cols)), shape=(len(items), len(users)), dtype=np.float32)
    numeric = numeric.set_index("item_id").reindex(items["item_id"]).reset_index(drop=True)
    log.info(
        "genre data: %d %ss (%d labelled), %d users, %d listens",
        len(items),
        level,
        items["genre"].notna().sum(),
        len(users),
        listens.nnz,
    )
    return GenreData(
        level, items, listens, np.asarray(users, dtype=object), numeric, name=dataset or "custom"
    )


def _pivot(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({"item_id": pd.Series([], dtype=np.int64)})
    wide = frame.pivot_table(index="item_id", columns="feature", values="value", aggfunc="mean")
    wide.columns = [f"{prefix}{c}" for c in wide.columns]
    return wide.reset_index()


def _load_artists(store: Store) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    items = store.df(
        """
        SELECT a.artist_id AS item_id, a.artist_id, a.name AS artist, CAST(NULL AS VARCHAR) AS album,
               CAST(NULL AS VARCHAR) AS title, a.genre, a.country,
               t.release_year, t.duration_ms, t.language, t.n_tracks, l.lyrics
        FROM artists a JOIN _g_items g ON g.id = a.artist_id
        LEFT JOIN (
            SELECT t.artist_id, avg(COALESCE(t.release_year, al.release_year)) AS release_year,
                   avg(t.duration_ms) AS duration_ms, mode(t.language) AS language, count(*) AS n_tracks
            FROM tracks t JOIN _g_items g ON g.id = t.artist_id
            LEFT JOIN albums al USING (album_id) GROUP BY t.artist_id
        ) t ON t.artist_id = a.artist_id
        LEFT JOIN (
            SELECT t.artist_id, string_agg(ly.text, ' ') AS lyrics
            FROM lyrics ly JOIN tracks t USING (track_id) JOIN _g_items g ON g.id = t.artist_id
            GROUP BY t.artist_id
        ) l ON l.artist_id = a.artist_id
        ORDER BY a.artist_id
        """
    )
    af = store.df(
        "SELECT artist_id AS item_id, feature, value FROM artist_features JOIN _g_items g ON g.id = artist_id"
    )
    tf = store.df(
        """
        SELECT t.artist_id AS item_id, f.feature, f.value FROM track_features f
        JOIN tracks t USING (track_id) JOIN _g_items g ON g.id = t.artist_id
        """
    )
    numeric = items[["item_id"]].merge(_pivot(af, "a_"), on="item_id", how="left")
    numeric = numeric.merge(_pivot(tf, "t_"), on="item_id", how="left")
    numeric["release_year"] = items["release_year"].astype(float).to_numpy()
    numeric["duration_min"] = items["duration_ms"].astype(float).to_numpy() / 60000.0
    numeric["log_tracks"] = np.log1p(items["n_tracks"].fillna(0).astype(float).to_numpy())
    # Each branch is filtered to the wanted artists before any join (fast for one item):
    # a row's artist is its own artist_id, else its track's artist. A like counts for the
    # artist it stands for (data.rules), album likes excepted: they have never counted here.
    inter = store.df(
        f"""
        WITH tt AS (SELECT track_id, artist_id FROM tracks WHERE artist_id IN (SELECT id FROM _g_items))
        SELECT user_id, item_id, sum(w) AS w FROM (
            SELECT user_id, artist_id AS item_id, plays AS w FROM playcounts
            WHERE artist_id IN (SELECT id FROM _g_items)
            UNION ALL SELECT p.user_id, tt.artist_id, p.plays FROM playcounts p JOIN tt USING (track_id)
            WHERE p.artist_id IS NULL
            UNION ALL SELECT user_id, artist_id, 1 FROM events WHERE artist_id IN (SELECT id FROM _g_items)
            UNION ALL SELECT e.user_id, tt.artist_id, 1 FROM events e JOIN tt USING (track_id)
            WHERE e.artist_id IS NULL
            UNION ALL SELECT user_id, artist_id, 5 FROM ({liked_items_sql()}) l
            WHERE entity_type IN ('artist', 'track') AND artist_id IN (SELECT id FROM _g_items)
        ) x
        GROUP BY user_id, item_id HAVING sum(w) > 0
        """
    )
    return items, numeric, inter


def _load_tracks(store: Store) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    items = store.df(
        """
        SELECT t.track_id AS item_id, t.artist_id, a.name AS artist, al.title AS album, t.title,
               t.genre, a.country, COALESCE(t.release_year, al.release_year) AS release_year,
               t.duration_ms, t.language, 1 AS n_tracks, l.lyrics
        FROM tracks t JOIN _g_items g ON g.id = t.track_id
        LEFT JOIN artists a USING (artist_id)
        LEFT JOIN albums al USING (album_id)
        LEFT JOIN (SELECT track_id, string_agg(text, ' ') AS lyrics FROM lyrics
                   JOIN _g_items g ON g.id = track_id GROUP BY track_id) l
               USING (track_id)
        ORDER BY t.track_id
        """
    )
    tf = store.df(
        "SELECT track_id AS item_id, feature, value FROM track_features JOIN _g_items g ON g.id = track_id"
    )
    numeric = items[["item_id"]].merge(_pivot(tf, "t_"), on="item_id", how="left")
    numeric["release_year"] = items["release_year"].astype(float).to_numpy()
    numeric["duration_min"] = items["duration_ms"].astype(float).to_numpy() / 60000.0
    inter = store.df(
        f"""
        SELECT user_id, item_id, sum(w) AS w FROM (
            SELECT user_id, track_id AS item_id, plays AS w FROM playcounts WHERE track_id IS NOT NULL
            UNION ALL SELECT user_id, track_id, 1 FROM events WHERE track_id IS NOT NULL
            UNION ALL SELECT user_id, track_id, 5 FROM ({liked_items_sql()}) l
            WHERE track_id IS NOT NULL
            UNION ALL SELECT user_id, track_id, 2 FROM playlists
        ) x JOIN _g_items g ON g.id = x.item_id
        GROUP BY user_id, item_id HAVING sum(w) > 0
        """
    )
    return items, numeric, inter


def new_item(
    level: Level,
    users: np.ndarray,
    numeric_columns: Sequence[str],
    *,
    artist: str | None = None,
    album: str | None = None,
    title: str | None = None,
    release_year: float | None = None,
    duration_ms: float | None = None,
    language: str | None = None,
    country: str | None = None,
    lyrics: str | None = None,
) -> GenreData:
    """A one-item dataset for an item that is not in the store (no listeners).

    ``users`` and ``numeric_columns`` are the training data's (a fitted model's
    ``users_`` and ``numeric_columns_``).
    """
    items = pd.DataFrame(
        [
            {
                "item_id": -1,
                "artist_id": -1,
                "artist": artist,
                "album": album,
                "title": title,
                "genre": None,
                "country": country,
                "release_year": release_year,
                "duration_ms": duration_ms,
                "language": language,
                "n_tracks": 1,
                "lyrics": lyrics,
            }
        ]
    )
    numeric = pd.DataFrame(np.nan, index=[0], columns=list(numeric_columns))
    if "release_year" in numeric:
        numeric["release_year"] = np.nan if release_year is None else float(release_year)
    if "duration_min" in numeric:
        numeric["duration_min"] = np.nan if duration_ms is None else float(duration_ms) / 60000.0
    if "log_tracks" in numeric:
        numeric["log_tracks"] = np.log1p(1.0)
    listens = sp.csr_matrix((1, len(users)), dtype=np.float32)
    return GenreData(level, items, listens, users, numeric, name="new")


# ----------------------------------------------------------------------------- features
def listener_profiles(
    listens: sp.csr_matrix, labels: np.ndarray, train_idx: np.ndarray, classes: Sequence[str]
) -> np.ndarray:
    """Users x genres: weighted genre counts over each user's *training* items."""
    k = len(classes)
    cpos = {c: i for i, c in enumerate(classes)}
    y = np.array([cpos.get(lbl, -1) if lbl is not None else -1 for lbl in labels[train_idx]])
    ok = y >= 0
    onehot = sp.csr_matrix(
        (np.ones(ok.sum()), (np.flatnonzero(ok), y[ok])), shape=(len(train_idx), k)
    )
    return np.asarray((listens[train_idx].T @ onehot).todense())


def listener_genre_features(
    data: GenreData,
    idx: np.ndarray,
    profiles: np.ndarray,
    train_idx: np.ndarray,
    classes: Sequence[str],
    user_map: np.ndarray | None = None,
) -> np.ndarray:
    """Mean of the listeners' genre distributions, their own artist left out.

    For each item ``i`` and listener ``u`` the listener's profile is ``profiles[u]`` minus
    what ``u``'s training items *of the same artist as i* contributed (for a training item
    this removes the item itself and its artist; for a test item of an unseen artist it
    removes nothing). Columns: ``K`` genre shares, then log1p(#listeners with a profile).

    ``user_map`` maps ``data``'s user columns to rows of ``profiles`` (-1: unknown user).
    """
    k = len(classes)
    out = np.zeros((len(idx), k + 1), dtype=np.float64)
    sub = data.listens[idx].tocoo()
    if sub.nnz == 0:
        return out
    item_row = sub.row
    users = sub.col if user_map is None else user_map[sub.col]
    keep = users >= 0
    item_row, users, w_listen = item_row[keep], users[keep], sub.data[keep]
    prof = profiles[users].copy()
    if len(train_idx):
        # contribution of (user, artist) pairs among the training items
        tr = data.listens[train_idx].tocoo()
        cpos = {c: i for i, c in enumerate(classes)}
        tr_lab = np.array(
            [cpos.get(v, -1) if v is not None else -1 for v in data.labels[train_idx]]
        )
        tr_art = data.items["artist_id"].to_numpy()[train_idx]
        lab = tr_lab[tr.row]
        m = lab >= 0
        contrib = pd.DataFrame(
            {"u": tr.col[m], "a": tr_art[tr.row[m]], "g": lab[m], "w": tr.data[m]}
        )
        if user_map is None and not contrib.empty:
            agg = contrib.groupby(["u", "a", "g"], sort=False)["w"].sum().reset_index()
            q = pd.DataFrame(
                {
                    "u": users,
                    "a": data.items["artist_id"].to_numpy()[idx][item_row],
                    "r": np.arange(len(users)),
                }
            )
            hit = q.merge(agg, on=["u", "a"], how="inner")
            np.subtract.at(prof, (hit["r"].to_numpy(), hit["g"].to_numpy()), hit["w"].to_numpy())
    np.clip(prof, 0.0, None, out=prof)
    tot = prof.sum(axis=1)
    has = tot > 1e-9
    dist = np.zeros_like(prof)
    dist[has] = prof[has] / tot[has, None]
    w = w_listen * has
    np.add.at(out[:, :k], item_row, dist * w[:, None])
    wsum = np.bincount(item_row, weights=w, minlength=len(idx))
    nz = wsum > 0
    out[nz, :k] /= wsum[nz, None]
    out[:, k] = np.log1p(np.bincount(item_row, weights=has.astype(float), minlength=len(idx)))
    return out


def _text_of(items: pd.DataFrame) -> pd.Series:
    parts = [items[c].fillna("").astype(str) for c in ("artist", "album", "title")]
    return (parts[0] + " | " + parts[1] + " | " + parts[2]).str.lower()


@dataclass
class FeatureBuilder:
    """Fits and applies the feature groups for one training set.

    Parameters
    ----------
    groups:
        Feature groups to build: ``collab`` (listeners' favourite genres + ALS item
        factors), ``text`` (character and word n-grams of artist/album/title), ``meta``
        (release year, duration, language, country, numeric track/artist features,
        lyrics words).
    n_factors:
        ALS factors (0: none).
    text_svd:
        Reduce the text n-grams to this many SVD components (for tree models); None keeps
        the sparse n-grams.
    seed:
        Seed of ALS and SVD.
    """

    groups: tuple[str, ...] = GROUPS
    n_factors: int = 32
    text_svd: int | None = None
    seed: int = 0
    classes_: list[str] = field(default_factory=list)
    feature_names_: list[str] = field(default_factory=list)
    _state: dict[str, Any] = field(default_factory=dict, repr=False)

    def fit(self, data: GenreData, train_idx: np.ndarray, classes: Sequence[str]) -> FeatureBuilder:
        """Fit vectorisers, scalers, listener profiles and ALS on the training items."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        bad = set(self.groups) - set(GROUPS)
        if bad:
            raise ConfigError(
                f"unknown feature groups {sorted(bad)}", hint="known: " + ", ".join(GROUPS)
            )
        self.classes_ = list(classes)
        st: dict[str, Any] = {"users": data.users, "train_idx_n": len(train_idx)}
        self._state = st
        names: list[str] = []
        tr_items = data.items.iloc[train_idx]
        if "collab" in self.groups:
            st["profiles"] = listener_profiles(data.listens, data.labels, train_idx, self.classes_)
            names += [f"listeners_{c}" for c in self.classes_] + ["log_listeners"]
            if self.n_factors > 0 and data.listens.nnz > 0:
                st["als"] = self._fit_als(data)
                names += [f"als_{i}" for i in range(self.n_factors)]
        if "text" in self.groups:
            text = _text_of(tr_items)
            char = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(2, 4),
                min_df=2,
                max_features=8000,
                sublinear_tf=True,
                dtype=np.float32,
            )
            word = TfidfVectorizer(
                analyzer="word",
                ngram_range=(1, 2),
                min_df=2,
                max_features=3000,
                token_pattern=r"(?u)\b\w+\b",
                sublinear_tf=True,
                dtype=np.float32,
            )
            try:
                char.fit(text)
            except ValueError:
                char = TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 4), dtype=np.float32
                ).fit(text)
            try:
                word.fit(text)
            except ValueError:
                word = None
            st["char"], st["word"] = char, word
            tnames = [f"char_{t}" for t in char.get_feature_names_out()]
            if word is not None:
                tnames += [f"word_{t}" for t in word.get_feature_names_out()]
            if self.text_svd:
                from sklearn.decomposition import TruncatedSVD

                mat = self._text_raw(tr_items)
                n = max(1, min(self.text_svd, mat.shape[1] - 1, mat.shape[0] - 1))
                st["svd"] = TruncatedSVD(n, random_state=self.seed).fit(mat)
                tnames = [f"text_svd_{i}" for i in range(n)]
            names += tnames
        if "meta" in self.groups:
            num = data.numeric.iloc[train_idx]
            cols = [c for c in data.numeric.columns if num[c].notna().any()]
            med = num[cols].median()
            sd = num[cols].std().replace(0, 1).fillna(1)
            st["num"] = (cols, med, sd)
            names += cols + [f"has_{c}" for c in cols]
            cats: dict[str, list[str]] = {}
            for c in ("language", "country"):
                vc = tr_items[c].dropna().astype(str).value_counts()
                cats[c] = list(vc[vc >= 3].index[:50])
                names += [f"{c}={v}" for v in cats[c]]
            st["cats"] = cats
            lyr = tr_items["lyrics"].fillna("")
            if (lyr.str.len() > 0).sum() >= 10:
                ly = TfidfVectorizer(
                    min_df=3, max_features=3000, sublinear_tf=True, dtype=np.float32
                ).fit(lyr)
                st["lyrics"] = ly
                names += [f"lyrics_{t}" for t in ly.get_feature_names_out()]
        self._state = st
        self.feature_names_ = names
        return self

    def _fit_als(self, data: GenreData) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        # Rows are items, so the model's "user" factors are item factors and a new item's
        # factors come from recalculate_user.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):  # implicit's advice: BLAS threads slow ALS down
            model = AlternatingLeastSquares(
                factors=self.n_factors,
                regularization=0.05,
                iterations=15,
                random_state=self.seed,
                num_threads=1,
            )
        key = f"als_{self.n_factors}_{self.seed}"
        if key not in data._cache:
            with threadpool_limits(1, "blas"):
                model.fit(data.listens.tocsr().astype(np.float32), show_progress=False)
            data._cache[key] = model
        return data._cache[key]

    def _text_raw(self, items: pd.DataFrame) -> sp.csr_matrix:
        text = _text_of(items)
        mats = [self._state["char"].transform(text)]
        if self._state.get("word") is not None:
            mats.append(self._state["word"].transform(text))
        return sp.hstack(mats, format="csr")

    def transform(
        self, data: GenreData, idx: np.ndarray | None = None, train_idx: np.ndarray | None = None
    ) -> sp.csr_matrix:
        """Feature matrix for the items at ``idx`` of ``data`` (all items when None).

        ``train_idx`` must be given when ``data`` is the training data (so each training
        item's own artist is subtracted from its listeners' profiles); for other data
        (e.g. one new item) leave it None.
        """
        if not self._state:
            from encore.errors import NotFittedError

            raise NotFittedError("FeatureBuilder.transform called before fit")
        st = self._state
        idx = np.arange(len(data)) if idx is None else np.asarray(idx)
        items = data.items.iloc[idx]
        blocks: list[sp.csr_matrix] = []
        same_users = data.users is st["users"] or (
            len(data.users) == len(st["users"]) and np.array_equal(data.users, st["users"])
        )
        if "collab" in self.groups:
            user_map = None
            if not same_users:
                pos = pd.Series(np.arange(len(st["users"])), index=st["users"])
                user_map = pos.reindex(data.users).fillna(-1).to_numpy(dtype=np.int64)
            tr = np.asarray(train_idx) if train_idx is not None else np.array([], dtype=np.int64)
            lg = listener_genre_features(data, idx, st["profiles"], tr, self.classes_, user_map)
            blocks.append(sp.csr_matrix(lg))
            if "als" in st:
                blocks.append(sp.csr_matrix(self._als_factors(data, idx, same_users, user_map)))
        if "text" in self.groups:
            raw = self._text_raw(items)
            blocks.append(sp.csr_matrix(st["svd"].transform(raw)) if "svd" in st else raw)
        if "meta" in self.groups:
            cols, med, sd = st["num"]
            num = data.numeric.iloc[idx].reindex(columns=cols)
            has = num.notna().to_numpy(dtype=np.float64)
            z = ((num.fillna(med) - med) / sd).to_numpy(dtype=np.float64)
            blocks.append(sp.csr_matrix(np.hstack([np.clip(z, -5, 5), has])))
            for c, vals in st["cats"].items():
                v = items[c].astype(object).to_numpy()
                blocks.append(
                    sp.csr_matrix(
                        np.array([[x == u for u in vals] for x in v], dtype=np.float64).reshape(
                            len(idx), len(vals)
                        )
                    )
                )
            if "lyrics" in st:
                blocks.append(st["lyrics"].transform(items["lyrics"].fillna("")))
        if not blocks:
            return sp.csr_matrix((len(idx), 0))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _als_factors(
        self, data: GenreData, idx: np.ndarray, same_users: bool, user_map: np.ndarray | None
    ) -> np.ndarray:
        model = self._state["als"]
        if same_users and len(data) == model.user_factors.shape[0]:
            f = model.user_factors
            f = f.to_numpy() if hasattr(f, "to_numpy") else np.asarray(f)
            return np.asarray(f[idx], dtype=np.float64)
        out = np.zeros((len(idx), self.n_factors))
        rows = data.listens[idx]
        for r in range(len(idx)):
            row = rows[r].tocoo()
            cols = row.col if user_map is None else user_map[row.col]
            keep = cols >= 0
            if not keep.any():
                continue
            vec = sp.csr_matrix(
                (row.data[keep], (np.zeros(keep.sum(), dtype=np.int64), cols[keep])),
                shape=(1, len(self._state["users"])),
                dtype=np.float32,
            )
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1, "blas"):
                out[r] = np.asarray(model.recalculate_user(0, vec)).ravel()
        return out

    def group_columns(self) -> dict[str, list[int]]:
        """Column positions of each feature group (for ablations and explanation)."""
        out: dict[str, list[int]] = {g: [] for g in self.groups}
        for i, n in enumerate(self.feature_names_):
            if n.startswith(("listeners_", "log_listeners", "als_")):
                out.setdefault("collab", []).append(i)
            elif n.startswith(("char_", "word_", "text_svd_")):
                out.setdefault("text", []).append(i)
            else:
                out.setdefault("meta", []).append(i)
        return out

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """The fitted builder as plain values and arrays (see :meth:`from_state`).

        Vectorisers keep their parameters, vocabulary and idf weights, the SVD its
        components, ALS its user (here: item) and item (here: user) factors, so that
        :meth:`transform` of the rebuilt builder gives the same matrix without a refit.
        """
        from encore.persistence import TRUNCATED_SVD_FITTED, estimator_state

        if not self._state:
            from encore.errors import NotFittedError

            raise NotFittedError("FeatureBuilder.state called before fit")
        st = self._state
        out: dict[str, Any] = {
            "groups": self.groups,
            "n_factors": self.n_factors,
            "text_svd": self.text_svd,
            "seed": self.seed,
            "classes": self.classes_,
            "feature_names": self.feature_names_,
            "users": st["users"],
            "train_idx_n": st["train_idx_n"],
        }
        if "profiles" in st:
            out["profiles"] = st["profiles"]
        if "als" in st:
            out["als"] = _als_state(st["als"])
        for key in ("char", "word", "lyrics"):
            if key in st:
                out[key] = None if st[key] is None else _tfidf_state(st[key])
        if "svd" in st:
            out["svd"] = estimator_state(st["svd"], TRUNCATED_SVD_FITTED)
        if "num" in st:
            cols, med, sd = st["num"]
            out["num"] = {
                "columns": list(cols),
                "median": med.to_numpy(dtype=np.float64),
                "sd": sd.to_numpy(dtype=np.float64),
            }
        if "cats" in st:
            out["cats"] = st["cats"]
        return out

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureBuilder:
        """The builder that :meth:`state` described."""
        from sklearn.decomposition import TruncatedSVD

        from encore.persistence import estimator_from_state

        fb = cls(
            groups=tuple(state["groups"]),
            n_factors=int(state["n_factors"]),
            text_svd=state["text_svd"],
            seed=int(state["seed"]),
            classes_=list(state["classes"]),
            feature_names_=list(state["feature_names"]),
        )
        st: dict[str, Any] = {
            "users": np.asarray(state["users"], dtype=object),
            "train_idx_n": int(state["train_idx_n"]),
        }
        if "profiles" in state:
            st["profiles"] = state["profiles"]
        if "als" in state:
            st["als"] = _als_from_state(state["als"])
        for key in ("char", "word", "lyrics"):
            if key in state:
                st[key] = None if state[key] is None else _tfidf_from_state(state[key])
        if "svd" in state:
            st["svd"] = estimator_from_state(TruncatedSVD, state["svd"])
        if "num" in state:
            cols = list(state["num"]["columns"])
            st["num"] = (
                cols,
                pd.Series(state["num"]["median"], index=pd.Index(cols), dtype=np.float64),
                pd.Series(state["num"]["sd"], index=pd.Index(cols), dtype=np.float64),
            )
        if "cats" in state:
            st["cats"] = {k: list(v) for k, v in state["cats"].items()}
        fb._state = st
        return fb


def _tfidf_state(vec: Any) -> dict[str, Any]:
    """A fitted ``TfidfVectorizer``: its parameters, terms in column order and idf weights."""
    from encore.persistence import estimator_state

    terms: list[str] = [""] * len(vec.vocabulary_)
    for term, col in vec.vocabulary_.items():
        terms[int(col)] = term
    return {**estimator_state(vec, ()), "terms": terms, "idf": vec.idf_}


def _tfidf_from_state(state: dict[str, Any]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from encore.persistence import estimator_from_state

    vec = estimator_from_state(TfidfVectorizer, state)
    vec.vocabulary_ = {term: i for i, term in enumerate(state["terms"])}
    vec.idf_ = state["idf"]  # the public setter also builds the inner idf transformer
    return vec


def _als_state(model: Any) -> dict[str, Any]:
    """An implicit ALS model: its options and both factor matrices (rows = items here)."""

    def dense(f: Any) -> np.ndarray:
        return np.asarray(f.to_numpy() if hasattr(f, "to_numpy") else f)

    return {
        "factors": int(model.factors),
        "regularization": float(model.regularization),
        "alpha": float(model.alpha),
        "iterations": int(model.iterations),
        "random_state": model.random_state,
        "user_factors": dense(model.user_factors),
        "item_factors": dense(model.item_factors),
    }


def _als_from_state(state: dict[str, Any]) -> Any:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=state["factors"],
            regularization=state["regularization"],
            alpha=state["alpha"],
            iterations=state["iterations"],
            random_state=state["random_state"],
            num_threads=1,
        )
    model.user_factors = state["user_factors"]
    model.item_factors = state["item_factors"]
    return model

""" "For you": named, new tracks for a listener, from several candidate sources and a learned ranker.

Stage 1, candidates (each a :data:`SOURCES` entry) for a listener's history:

- ``more``: unheard tracks of the artists the listener plays (recency-weighted affinity),
  each artist's tracks ordered by how much everyone in the store plays them;
- ``artist_cf``: artists that the community (HetRec's Last.fm listeners, artist level)
  plays together with the listener's artists (item kNN, cosine, folded in from the
  listener's artists by the store's name matching), turned into those artists' tracks;
- ``track_cf``: tracks played by the listeners of the store whose artists overlap most
  with the listener's (user kNN over named track histories);
- ``genre``: tracks popular in the listener's favourite genres;
- ``popular``: tracks popular across the store.

Stage 2, a LightGBM lambdarank model over each source's score and rank, the listener's
affinity to the track's artist (plays, share, days since last played, skip rate, liked),
album (plays, recent share: album-mates of what they play lately) and genre, the track's and artist's popularity and the listener's activity. It is trained
on the store's listeners with per-listener time cuts: features from each listener's events
before a cut, labels from the songs they first played after it; the period a listener is
scored on is never in the data the ranker learns from. With fewer than
:data:`MIN_TRAIN_LISTENERS` listeners to learn from, candidates are ranked by reciprocal
rank fusion of the sources instead (and the model says so).

A list keeps ``discovery_share`` (default 40 %) of its slots for artists the listener never
played, ordered by the community signal (:func:`discovery_score`); the rest follows the
ranker. The share was chosen on the shared listeners so that the list beats every single
source on new tracks and popularity on new artists (docs/listener-recommendations.md).

Only named tracks (artist and title known) that are new to the listener are returned:
"new" means no track of the same song (artist and title normalised alike) was played or
liked by them under any source. Likes count as strong plays; skipped plays count against
an artist (its skip rate is a feature) and skipped tracks are never recommended (they are
heard).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from encore.errors import DataError, MissingDependencyError
from encore.recommenders.base import RecommenderConfig
from encore.recommenders.listeners import Catalogue, History, time_cutoffs

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("more", "artist_cf", "track_cf", "genre", "popular")
#: The ranker needs at least this many listeners with a labelled future to learn from.
MIN_TRAIN_LISTENERS = 3
#: A missing rank (the candidate did not come from that source) is read as this.
NO_RANK = 1000.0
_DAY = 86400.0

FEATURES: tuple[str, ...] = (
    *(f"{s}_score" for s in SOURCES),
    *(f"{s}_rank" for s in SOURCES),
    "artist_plays_log",
    "artist_share",
    "artist_recent_share",
    "artist_days_since",
    "artist_skip_rate",
    "artist_liked",
    "artist_new",
    "album_plays_log",
    "album_recent_share",
    "genre_share",
    "genre_known",
    "track_pop_log",
    "track_listeners",
    "artist_pop_log",
    "artist_community_log",
    "artist_cf_affinity",
    "neighbour_plays",
    "user_events_log",
    "user_artists_log",
)


class ForYouConfig(RecommenderConfig):
    """Settings of the listener recommender."""

    candidates_per_source: int = Field(default=300, ge=10)
    top_artists: int = Field(
        default=40, ge=1, description="artists of the listener searched for more"
    )
    tracks_per_artist: int = Field(default=12, ge=1)
    cf_artists: int = Field(default=50, ge=1, description="community artists turned into tracks")
    tracks_per_cf_artist: int = Field(default=4, ge=1)
    neighbours: int = Field(default=15, ge=1, description="listeners in the track CF neighbourhood")
    artist_k: int = Field(default=100, ge=1, description="neighbours per artist in the artist kNN")
    favourite_genres: int = Field(default=3, ge=1)
    half_life_days: float = Field(default=60.0, gt=0)
    like_plays: float = Field(
        default=5.0, ge=0, description="a liked item counts as this many plays"
    )
    train_cuts: tuple[float, ...] = (0.6, 0.7, 0.8)
    n_estimators: int = Field(default=200, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    num_leaves: int = Field(default=15, ge=2)
    min_child_samples: int = Field(default=40, ge=1)
    discovery_share: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="share of the list kept for artists new to the listener",
    )
    seed: int = 0


# --------------------------------------------------------------------------- population
@dataclass
class Population:
    """What every listener's history says at one time: popularity and neighbourhoods.

    ``artists`` is the sorted artist id universe (catalogue and community); artist-level
    arrays are aligned with it. ``artist_tracks`` / ``genre_tracks`` list catalogue rows
    best first (one row per song) in CSR layout (``*_ptr``).
    """

    artists: np.ndarray
    track_plays: np.ndarray
    track_listeners: np.ndarray
    artist_plays: np.ndarray
    artist_community: np.ndarray
    artist_tracks: np.ndarray
    artist_ptr: np.ndarray
    genre_tracks: np.ndarray
    genre_ptr: np.ndarray
    popular: np.ndarray
    listener_ids: np.ndarray
    listener_artists: sp.csr_matrix  # listeners x artists, log1p plays, rows L2-normalised
    listener_tracks: sp.csr_matrix  # listeners x catalogue rows, log1p plays
    artist_sim: sp.csr_matrix  # artists x artists, community cosine top-k

    def artist_index(self, artist_ids: np.ndarray) -> np.ndarray:
        """Position of each artist id in ``artists`` (-1 when absent)."""
        ids = np.asarray(artist_ids, dtype=np.int64)
        if len(self.artists) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.artists, ids), 0, len(self.artists) - 1)
        return np.where(self.artists[pos] == ids, pos, -1).astype(np.int64)


def _ranked_rows(
    group: np.ndarray, plays: np.ndarray, song: np.ndarray, n_groups: int, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Catalogue rows of each group, most played first, one row per song, CSR layout."""
    ok = group >= 0
    rows = np.flatnonzero(ok)
    order = np.lexsort((rows, -plays[rows], song[rows], group[rows]))
    rows = rows[order]
    if not len(rows):  # nothing in any group (e.g. no genre known yet)
        return rows.astype(np.int64), np.zeros(n_groups + 1, dtype=np.int64)
    # one row per (group, song): the most played
    g, s = group[rows], song[rows]
    first = np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])]
    rows = rows[first]
    order = np.lexsort((rows, -plays[rows], group[rows]))
    rows = rows[order]
    g = group[rows]
    if limit is not None:
        starts = np.searchsorted(g, np.arange(n_groups))
        within = np.arange(len(rows)) - starts[g]
        rows = rows[within < limit]
        g = g[within < limit]
    ptr = np.searchsorted(g, np.arange(n_groups + 1))
    return rows.astype(np.int64), ptr.astype(np.int64)


def build_population(
    history: History,
    catalogue: Catalogue,
    community: pd.DataFrame,
    *,
    artist_k: int = 100,
) -> Population:
    """Popularity, per-artist and per-genre track lists and neighbourhoods from ``history``."""
    from encore.recommenders.knn import top_k_similarity

    ev = history.events
    rows = catalogue.index(ev["track_id"].to_numpy())
    ok = rows >= 0
    played = ok & ~ev["skipped"].to_numpy(bool)
    n = len(catalogue)
    track_plays = np.bincount(rows[played], minlength=n).astype(np.float64)
    users, ucodes = np.unique(ev["user_id"].to_numpy()[ok], return_inverse=True)
    pairs = np.unique(np.c_[ucodes, rows[ok]], axis=0) if ok.any() else np.zeros((0, 2), int)
    track_listeners = np.bincount(pairs[:, 1], minlength=n).astype(np.float64)

    artists = np.unique(
        np.r_[catalogue.artist_id, community["artist_id"].to_numpy(np.int64)]
    ).astype(np.int64)
    pop = Population(
        artists=artists,
        track_plays=track_plays,
        track_listeners=track_listeners,
        artist_plays=np.zeros(0),
        artist_community=np.zeros(0),
        artist_tracks=np.zeros(0, np.int64),
        artist_ptr=np.zeros(1, np.int64),
        genre_tracks=np.zeros(0, np.int64),
        genre_ptr=np.zeros(1, np.int64),
        popular=np.zeros(0, np.int64),
        listener_ids=users.astype(str),
        listener_artists=sp.csr_matrix((len(users), len(artists)), dtype=np.float32),
        listener_tracks=sp.csr_matrix((len(users), n), dtype=np.float32),
        artist_sim=sp.csr_matrix((len(artists), len(artists)), dtype=np.float32),
    )
    cat_artist = pop.artist_index(catalogue.artist_id)
    pop.artist_plays = np.bincount(cat_artist, weights=track_plays, minlength=len(artists))
    pop.artist_tracks, pop.artist_ptr = _ranked_rows(
        cat_artist, track_plays, catalogue.song, len(artists), None
    )
    pop.genre_tracks, pop.genre_ptr = _ranked_rows(
        np.where(track_plays > 0, catalogue.genre, -1).astype(np.int64),
        track_plays,
        catalogue.song,
        len(catalogue.genres),
        500,
    )
    playedrows = np.flatnonzero(track_plays > 0)
    top = playedrows[np.lexsort((playedrows, -track_plays[playedrows]))]
    _, first = np.unique(catalogue.song[top], return_index=True)
    pop.popular = top[np.sort(first)][:1000]

    # listeners: artist and track vectors (log1p of plays, likes as plays)
    a_idx = pop.artist_index(ev["artist_id"].to_numpy()[ok])
    ua = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (ucodes, a_idx)), shape=(len(users), len(artists))
    )
    ua.data = np.log1p(ua.data)
    norms = np.sqrt(np.asarray(ua.multiply(ua).sum(axis=1)).ravel())
    pop.listener_artists = sp.csr_matrix(
        sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ ua,
        dtype=np.float32,
    )
    ut = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (ucodes, rows[ok])), shape=(len(users), n)
    )
    ut.data = np.log1p(ut.data)
    pop.listener_tracks = ut

    # community artist kNN (cosine of artist columns over community users)
    if len(community):
        cu, cu_codes = np.unique(community["user_id"].to_numpy(), return_inverse=True)
        c_idx = pop.artist_index(community["artist_id"].to_numpy(np.int64))
        m = sp.csr_matrix(
            (np.log1p(community["plays"].to_numpy(np.float64)), (c_idx, cu_codes)),
            shape=(len(artists), len(cu)),
        )
        cn = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        m = sp.csr_matrix(sp.diags(np.divide(1.0, cn, out=np.zeros_like(cn), where=cn > 0)) @ m)
        pop.artist_sim = top_k_similarity(m, m, artist_k)
        pop.artist_community = np.bincount(c_idx, minlength=len(artists)).astype(np.float64)
    else:
        pop.artist_community = np.zeros(len(artists))
    return pop


# --------------------------------------------------------------------------- one listener
@dataclass
class Profile:
    """One listener's history summarised against a :class:`Population`."""

    user_id: str
    now: float  # Unix seconds of the latest event (the time recommendations are for)
    n_events: int
    heard_songs: np.ndarray  # sorted song codes played, liked or skipped
    heard_rows: np.ndarray  # catalogue rows played
    artist_weight: np.ndarray  # per population artist: plays (likes as plays)
    artist_recent: np.ndarray  # recency-weighted plays
    artist_last: np.ndarray  # Unix seconds of the last play (nan: never)
    artist_first: np.ndarray
    artist_skips: np.ndarray
    artist_liked: np.ndarray  # bool
    artist_seen: np.ndarray  # bool: played (even skipped) or liked: not a new artist
    genre_share: np.ndarray  # per catalogue genre
    track_vector: sp.csr_matrix  # 1 x catalogue rows, log1p plays
    artist_vector: np.ndarray  # per population artist, log1p weight (L2-normalised)
    album_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted
    album_plays: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per album_ids
    album_recent: np.ndarray = field(default_factory=lambda: np.zeros(0))  # recency-weighted
    extra: dict[str, Any] = field(default_factory=dict)


def build_profile(
    user_id: str,
    events: pd.DataFrame,
    likes: pd.DataFrame,
    catalogue: Catalogue,
    pop: Population,
    config: ForYouConfig,
) -> Profile:
    """Summarise one listener's events and likes (frames of :class:`History` layout)."""
    n_art = len(pop.artists)
    rows = catalogue.index(events["track_id"].to_numpy())
    ts = events["ts"].to_numpy("datetime64[s]").astype(np.int64).astype(np.float64)
    skipped = events["skipped"].to_numpy(bool)
    now = float(ts.max()) if len(ts) else time.time()
    a_idx = pop.artist_index(events["artist_id"].to_numpy(np.int64))
    okp = (a_idx >= 0) & ~skipped
    decay = np.exp(-np.log(2) * (now - ts) / (config.half_life_days * _DAY))
    weight = np.bincount(a_idx[okp], minlength=n_art).astype(np.float64)
    recent_plays = np.bincount(a_idx[okp], weights=decay[okp], minlength=n_art)
    skips = np.bincount(a_idx[(a_idx >= 0) & skipped], minlength=n_art).astype(np.float64)
    last = np.full(n_art, -np.inf)
    first = np.full(n_art, np.inf)
    np.maximum.at(last, a_idx[okp], ts[okp])
    np.minimum.at(first, a_idx[okp], ts[okp])
    last[np.isinf(last)] = np.nan
    first[np.isinf(first)] = np.nan
    liked = np.zeros(n_art, dtype=bool)
    like_art = pop.artist_index(likes["artist_id"].to_numpy(np.int64))
    liked[like_art[like_art >= 0]] = True
    seen = liked.copy()
    seen[a_idx[a_idx >= 0]] = True
    weight = weight + config.like_plays * liked
    recent = recent_plays + config.like_plays * 0.5 * liked
    like_rows = catalogue.index(likes["track_id"].to_numpy(np.int64))
    like_rows = like_rows[like_rows >= 0]
    heard_rows = np.unique(rows[rows >= 0])
    heard_songs = np.unique(np.r_[catalogue.song[heard_rows], catalogue.song[like_rows]])
    g = catalogue.genre[rows[(rows >= 0) & ~skipped]]
    g = g[g >= 0]
    share = np.bincount(g, minlength=len(catalogue.genres)).astype(np.float64)
    share = share / share.sum() if share.sum() > 0 else share
    tv_rows = np.r_[rows[(rows >= 0) & ~skipped], like_rows]
    tv_vals = np.r_[
        np.ones(int(((rows >= 0) & ~skipped).sum())), np.full(len(like_rows), config.like_plays)
    ]
    tv = sp.csr_matrix(
        (tv_vals.astype(np.float32), (np.zeros(len(tv_rows), int), tv_rows)),
        shape=(1, len(catalogue)),
    )
    tv.data = np.log1p(tv.data)
    av = np.log1p(weight)
    nrm = np.linalg.norm(av)
    album_ids: np.ndarray = np.zeros(0, np.int64)
    album_plays: np.ndarray = np.zeros(0)
    album_recent: np.ndarray = np.zeros(0)
    if catalogue.album is not None:
        okr = (rows >= 0) & ~skipped
        alb = catalogue.album[rows[okr]]
        known_alb = alb >= 0
        album_ids, inv = np.unique(alb[known_alb], return_inverse=True)
        album_plays = np.bincount(inv, minlength=len(album_ids)).astype(np.float64)
        album_recent = np.bincount(inv, weights=decay[okr][known_alb], minlength=len(album_ids))
    return Profile(
        user_id=user_id,
        now=now,
        n_events=len(events),
        heard_songs=heard_songs,
        heard_rows=heard_rows,
        artist_weight=weight,
        artist_recent=recent,
        artist_last=last,
        artist_first=first,
        artist_skips=skips,
        artist_liked=liked,
        artist_seen=seen,
        genre_share=share,
        track_vector=tv,
        artist_vector=av / nrm if nrm > 0 else av,
        album_ids=album_ids,
        album_plays=album_plays,
        album_recent=album_recent,
    )


def _unheard(rows: np.ndarray, catalogue: Catalogue, prof: Profile) -> np.ndarray:
    heard = prof.extra.get("heard_mask")
    if heard is None:
        heard = np.zeros(int(catalogue.song.max()) + 1 if len(catalogue) else 0, dtype=bool)
        heard[prof.heard_songs] = True
        prof.extra["heard_mask"] = heard
    return rows[~heard[catalogue.song[rows]]]


def _per_group(
    groups: np.ndarray,
    ptr: np.ndarray,
    tracks: np.ndarray,
    per: int,
    catalogue: Catalogue,
    prof: Profile,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``per`` unheard rows of each group: (rows, group position, position within)."""
    out_r, out_g, out_j = [], [], []
    for gi, g in enumerate(groups):
        cand = tracks[ptr[g] : ptr[g + 1]]
        cand = _unheard(cand[: per * 4 + len(prof.heard_songs)], catalogue, prof)[:per]
        out_r.append(cand)
        out_g.append(np.full(len(cand), gi))
        out_j.append(np.arange(len(cand)))
    if not out_r:
        z = np.zeros(0, np.int64)
        return z, z, z
    return np.concatenate(out_r), np.concatenate(out_g), np.concatenate(out_j)


@dataclass
class Candidates:
    """One listener's candidates: catalogue rows, per-source scores and features."""

    rows: np.ndarray
    scores: dict[str, np.ndarray]  # source -> score per row (0: not from that source)
    features: pd.DataFrame
    neighbours_playing: np.ndarray  # how many of the neighbour listeners play the track
    #: the ranker's and the discovery order's scores, computed once (:meth:`ForYou.rank`
    #: is called again with a longer ``k`` when ``--mood`` widens the list)
    cache: dict[str, np.ndarray] = field(default_factory=dict)


def candidates(
    prof: Profile, catalogue: Catalogue, pop: Population, config: ForYouConfig
) -> Candidates:
    """Stage 1 and the features of stage 2 for one listener."""
    n_cand = config.candidates_per_source
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # more from the listener's artists
    aff = prof.artist_recent
    top_art = np.flatnonzero(aff > 0)
    top_art = top_art[np.argsort(-aff[top_art], kind="stable")][: config.top_artists]
    r, gpos, j = _per_group(
        top_art, pop.artist_ptr, pop.artist_tracks, config.tracks_per_artist, catalogue, prof
    )
    share = aff[top_art] / max(aff[top_art].sum(), 1e-12) if len(top_art) else np.zeros(0)
    found["more"] = (r, share[gpos] / (1.0 + j) if len(r) else np.zeros(0))

    # community artist kNN, folded in from the listener's artists
    cf_art = (
        (sp.csr_matrix(prof.artist_vector.reshape(1, -1)) @ pop.artist_sim).toarray().ravel()
        if pop.artist_sim.nnz
        else np.zeros(len(pop.artists))
    )
    known = prof.artist_seen
    cand_art = np.flatnonzero((cf_art > 0) & ~known & (np.diff(pop.artist_ptr) > 0))
    cand_art = cand_art[np.argsort(-cf_art[cand_art], kind="stable")][: config.cf_artists]
    r, gpos, j = _per_group(
        cand_art, pop.artist_ptr, pop.artist_tracks, config.tracks_per_cf_artist, catalogue, prof
    )
    top_cf = cf_art[cand_art] / max(cf_art.max(), 1e-12) if len(cand_art) else np.zeros(0)
    found["artist_cf"] = (r, top_cf[gpos] / (1.0 + j) if len(r) else np.zeros(0))

    # listeners like you (user kNN over artist vectors), their tracks
    neigh_score = np.zeros(len(catalogue))
    neigh_count = np.zeros(len(catalogue))
    if pop.listener_artists.shape[0]:
        sims = np.asarray(pop.listener_artists @ prof.artist_vector).ravel()
        sims[pop.listener_ids == prof.user_id] = 0.0
        nb = np.flatnonzero(sims > 0)
        nb = nb[np.argsort(-sims[nb], kind="stable")][: config.neighbours]
        if len(nb):
            sub = pop.listener_tracks[nb]
            neigh_score = np.asarray(sub.T @ sims[nb]).ravel()
            neigh_count = np.asarray((sub > 0).sum(axis=0)).ravel().astype(np.float64)
    cand = np.flatnonzero(neigh_score > 0)
    cand = _unheard(
        cand[np.argsort(-neigh_score[cand], kind="stable")][: n_cand * 3], catalogue, prof
    )[:n_cand]
    found["track_cf"] = (cand, neigh_score[cand])

    # popular in the favourite genres
    gs = prof.genre_share
    fav = np.flatnonzero(gs > 0)
    fav = fav[np.argsort(-gs[fav], kind="stable")][: config.favourite_genres]
    per_genre = max(1, n_cand // max(len(fav), 1))
    r, gpos, j = _per_group(fav, pop.genre_ptr, pop.genre_tracks, per_genre, catalogue, prof)
    found["genre"] = (
        r,
        gs[fav][gpos] * pop.track_plays[r] / max(pop.track_plays.max(), 1.0)
        if len(r)
        else np.zeros(0),
    )

    # popular everywhere
    r = _unheard(pop.popular, catalogue, prof)[: n_cand // 3]
    found["popular"] = (r, pop.track_plays[r] / max(pop.track_plays.max(), 1.0))

    rows = np.unique(np.concatenate([v[0] for v in found.values()]).astype(np.int64))
    # one row per song (the first, i.e. lowest row, is as good as any: same song)
    _, first = np.unique(catalogue.song[rows], return_index=True)
    rows = rows[np.sort(first)]
    feats: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    song_pos = pd.Series(np.arange(len(rows)), index=catalogue.song[rows])
    for s in SOURCES:
        src_rows, src_scores = found[s]
        sc = np.zeros(len(rows))
        rk = np.full(len(rows), NO_RANK)
        if len(src_rows):
            order = np.argsort(-src_scores, kind="stable")
            pos = song_pos.reindex(catalogue.song[src_rows[order]]).to_numpy()
            valid = ~np.isnan(pos)
            p = pos[valid].astype(int)
            ranks = np.arange(len(order))[valid]
            # a song reached twice by one source keeps its best score and rank
            np.maximum.at(sc, p, src_scores[order][valid])
            np.minimum.at(rk, p, ranks.astype(np.float64))
        scores[s] = sc
        feats[f"{s}_score"] = sc
        feats[f"{s}_rank"] = np.log1p(rk)
    a = pop.artist_index(catalogue.artist_id[rows])
    a_ok = a >= 0
    aa = np.where(a_ok, a, 0)
    w = np.where(a_ok, prof.artist_weight[aa], 0.0)
    total = max(prof.artist_weight.sum(), 1e-12)
    rec = np.where(a_ok, prof.artist_recent[aa], 0.0)
    last = np.where(a_ok, prof.artist_last[aa], np.nan)
    skips = np.where(a_ok, prof.artist_skips[aa], 0.0)
    feats["artist_plays_log"] = np.log1p(w)
    feats["artist_share"] = w / total
    feats["artist_recent_share"] = rec / max(prof.artist_recent.sum(), 1e-12)
    feats["artist_days_since"] = np.where(
        np.isnan(last), 9999.0, (prof.now - np.nan_to_num(last)) / _DAY
    )
    feats["artist_skip_rate"] = skips / np.maximum(skips + w, 1.0)
    feats["artist_liked"] = np.where(a_ok, prof.artist_liked[aa], False).astype(np.float64)
    feats["artist_new"] = (~np.where(a_ok, prof.artist_seen[aa], False)).astype(np.float64)
    alb_plays = np.zeros(len(rows))
    alb_recent = np.zeros(len(rows))
    if catalogue.album is not None and len(prof.album_ids):
        alb = catalogue.album[rows]
        pos = np.clip(np.searchsorted(prof.album_ids, alb), 0, len(prof.album_ids) - 1)
        hit = (alb >= 0) & (prof.album_ids[pos] == alb)
        alb_plays = np.where(hit, prof.album_plays[pos], 0.0)
        alb_recent = np.where(hit, prof.album_recent[pos], 0.0)
    feats["album_plays_log"] = np.log1p(alb_plays)
    feats["album_recent_share"] = alb_recent / max(float(prof.album_recent.sum()), 1e-12)
    g = catalogue.genre[rows]
    share = np.r_[prof.genre_share, 0.0]  # index -1 (unknown genre) reads the trailing 0
    feats["genre_share"] = share[g]
    feats["genre_known"] = (g >= 0).astype(np.float64)
    feats["track_pop_log"] = np.log1p(pop.track_plays[rows])
    feats["track_listeners"] = pop.track_listeners[rows]
    feats["artist_pop_log"] = np.log1p(np.where(a_ok, pop.artist_plays[aa], 0.0))
    feats["artist_community_log"] = np.log1p(np.where(a_ok, pop.artist_community[aa], 0.0))
    feats["artist_cf_affinity"] = np.where(a_ok, cf_art[aa], 0.0)
    feats["neighbour_plays"] = neigh_score[rows]
    feats["user_events_log"] = np.full(len(rows), np.log1p(prof.n_events))
    feats["user_artists_log"] = np.full(len(rows), np.log1p(float((prof.artist_weight > 0).sum())))
    return Candidates(
        rows=rows,
        scores=scores,
        features=pd.DataFrame({f: feats[f] for f in FEATURES}),
        neighbours_playing=neigh_count[rows],
    )


def fused_score(c: Candidates) -> np.ndarray:
    """Reciprocal rank fusion of the sources (the ranking without a learned model)."""
    out = np.zeros(len(c.rows))
    for s in SOURCES:
        rk = np.expm1(c.features[f"{s}_rank"].to_numpy())
        out += np.where(rk < NO_RANK, 1.0 / (60.0 + rk), 0.0)
    return out


# --------------------------------------------------------------------------- the ranker
def label_songs(after: pd.DataFrame, catalogue: Catalogue, prof: Profile) -> dict[int, float]:
    """Graded relevance of songs first played after the cut: 1, or 2 when played 3+ times."""
    rows = catalogue.index(after.loc[~after["skipped"].to_numpy(bool), "track_id"].to_numpy())
    songs = catalogue.song[rows[rows >= 0]]
    songs = songs[~np.isin(songs, prof.heard_songs)]
    uniq, counts = np.unique(songs, return_counts=True)
    return {int(s): (2.0 if c >= 3 else 1.0) for s, c in zip(uniq, counts, strict=True)}


def training_frame(
    history: History,
    catalogue: Catalogue,
    community: pd.DataFrame,
    config: ForYouConfig,
    *,
    show_progress: bool = False,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, labels and group sizes from per-listener time cuts of ``history``."""
    frames: list[pd.DataFrame] = []
    labels: list[np.ndarray] = []
    groups: list[int] = []
    for frac in config.train_cuts:
        cuts = time_cutoffs(history.events, frac)
        before = history.before(cuts)
        after = history.after(cuts)
        pop = build_population(before, catalogue, community, artist_k=config.artist_k)
        ev_by_user = by_user(before.events)
        likes_by_user = by_user(history.likes)
        after_by_user = by_user(after)
        for user in sorted(after_by_user):
            if user not in ev_by_user:
                continue
            prof = build_profile(
                user,
                ev_by_user[user],
                likes_by_user.get(user, history.likes.iloc[:0]),
                catalogue,
                pop,
                config,
            )
            rel = label_songs(after_by_user[user], catalogue, prof)
            if not rel:
                continue
            c = candidates(prof, catalogue, pop, config)
            y = np.array([rel.get(int(s), 0.0) for s in catalogue.song[c.rows]])
            if y.sum() == 0 or len(y) < 2:
                continue
            frames.append(c.features)
            labels.append(y)
            groups.append(len(y))
        if show_progress:
            log.info("ranker training cut %.2f: %d listener groups so far", frac, len(groups))
    if not frames:
        return pd.DataFrame(columns=list(FEATURES)), np.zeros(0), np.zeros(0, dtype=np.int64)
    return pd.concat(frames, ignore_index=True), np.concatenate(labels), np.asarray(groups)


def fit_ranker(
    features: pd.DataFrame, labels: np.ndarray, groups: np.ndarray, config: ForYouConfig
) -> str | None:
    """A LightGBM lambdarank model as text, or None with too few listeners to learn from."""
    keep = labels.astype(bool)
    group_id = np.repeat(np.arange(len(groups)), groups)
    has_pos = np.bincount(group_id, weights=keep, minlength=len(groups)) > 0
    rows = has_pos[group_id]
    features, labels = features[rows], labels[rows]
    groups = groups[has_pos]
    if len(groups) < MIN_TRAIN_LISTENERS:
        return None
    try:
        import lightgbm as lgb
    except ImportError as exc:  # pragma: no cover - the ml extra is installed in dev and CI
        raise MissingDependencyError("lightgbm", "ml") from exc
    ranker = lgb.LGBMRanker(
        objective="lambdarank",
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_child_samples=config.min_child_samples,
        # no bagging: with a few dozen listener groups, row and column sampling moved the
        # listeners' mean recall between 0.019 and 0.031 across seeds; without it the ranker
        # depends on the data alone
        subsample=1.0,
        colsample_bytree=1.0,
        random_state=config.seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=1,
        verbose=-1,
    )
    ranker.fit(features[list(FEATURES)], labels.astype(int), group=groups)
    return str(ranker.booster_.model_to_string())


class Ranker:
    """Stage 2: the learned trees when there are any, else reciprocal rank fusion.

    Scores come from :class:`~encore.recommenders.trees.TreeEnsemble` (numpy) rather than
    LightGBM itself, so that answering does not import LightGBM and scikit-learn.
    """

    def __init__(self, model_text: str | None) -> None:
        from encore.recommenders.trees import TreeEnsemble

        self.model_text = model_text
        self._trees = TreeEnsemble.from_lightgbm_text(model_text) if model_text else None

    @property
    def learned(self) -> bool:
        """Whether a ranker was learned (else the sources are fused)."""
        return self._trees is not None

    def score(self, c: Candidates) -> np.ndarray:
        """One score per candidate, higher first."""
        if not len(c.rows):
            return np.zeros(0)
        if self._trees is None:
            return fused_score(c)
        return self._trees.predict(c.features[list(FEATURES)].to_numpy(np.float64))


def select(
    order: np.ndarray,
    artists: np.ndarray,
    k: int,
    *,
    max_per_artist: int | None,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """The first ``k`` positions of ``order`` with at most ``max_per_artist`` per artist."""
    taken: dict[int, int] = {}
    out: list[int] = []
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    for i in order:
        if allowed is not None and not allowed[i]:
            continue
        a = int(artists[i])
        if max_per_artist is not None and taken.get(a, 0) >= max_per_artist:
            continue
        taken[a] = taken.get(a, 0) + 1
        out.append(int(i))
        if len(out) == k:
            break
    return np.asarray(out, dtype=np.int64)


def by_user(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``frame`` split by its ``user_id`` column."""
    return {str(u): g for u, g in frame.groupby("user_id", sort=True)}


def _check_history(history: History) -> None:
    if history.events.empty:
        raise DataError(
            "no listener has named-track events in the store",
            hint="ingest a listening history (e.g. `encore ingest --all ../shared/data`)",
        )


def discovery_score(c: Candidates) -> np.ndarray:
    """Order of candidates by new artists: the community's artist kNN first.

    Candidates of artists the listener already plays score ``-inf``. Among new artists the
    community signal (artist kNN affinity plus the source score) leads; candidates without
    it follow in reciprocal-rank-fusion order. Measured on the shared listeners this finds
    more of the artists they go on to play than the learned ranker does, whose labels are
    dominated by known artists (docs/listener-recommendations.md).
    """
    new = c.features["artist_new"].to_numpy() == 1
    source = c.scores["artist_cf"]
    affinity = c.features["artist_cf_affinity"].to_numpy()
    top = max(float(affinity.max()), 1e-12) if len(affinity) else 1.0
    score = np.where(
        source > 0,
        2.0 + source,
        np.where(affinity > 0, 1.0 + affinity / top, 1e-3 * fused_score(c)),
    )
    return np.where(new, score, -np.inf)


#: Version of the saved listener-model format.
FORMAT_VERSION = 2  # 2: album features (a version-1 ranker reads other columns)
FAMILY = "encore-listener-model"

_POP_ARRAYS = (
    "artists",
    "track_plays",
    "track_listeners",
    "artist_plays",
    "artist_community",
    "artist_tracks",
    "artist_ptr",
    "genre_tracks",
    "genre_ptr",
    "popular",
    "listener_ids",
)
_POP_SPARSE = ("listener_artists", "listener_tracks", "artist_sim")


@dataclass
class Pick:
    """One recommendation before names are attached."""

    track_id: int
    artist_id: int
    score: float
    reason: str  # 'more', 'artist_cf', 'track_cf', 'genre', 'popular'
    contributor_artist_id: int | None
    artist_plays: float
    artist_weeks: float  # weeks between the listener's first play of the artist and now
    artist_liked: bool
    neighbours: int
    genre: str | None
    genre_share: float
    # 'audio' picks (recommenders/cold_start.py): the listener's track it sounds most like
    seed_track_id: int | None = None


class ForYou:
    """The listener recommender: candidates from the store, a learned ranker, reasons.

    Train with :meth:`fit` (a :class:`~encore.recommenders.listeners.History` of every
    listener, the catalogue and the community's artist play counts) or
    :meth:`from_store`; recommend with :meth:`recommend` from a listener's events, which
    need not have been seen at training time.
    """

    name: ClassVar[str] = "for_you"

    def __init__(self, config: ForYouConfig | None = None, **fields: Any) -> None:
        self.config = config if config is not None else ForYouConfig(**fields)
        self.catalogue_: Catalogue | None = None
        self.population_: Population | None = None
        self.ranker_: Ranker | None = None
        self.trained_on_: dict[str, Any] = {}

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        history: History,
        catalogue: Catalogue,
        community: pd.DataFrame,
        *,
        show_progress: bool = False,
    ) -> ForYou:
        """Learn the ranker from per-listener time cuts, then index all of ``history``."""
        _check_history(history)
        started = time.perf_counter()
        x, y, groups = training_frame(
            history, catalogue, community, self.config, show_progress=show_progress
        )
        self.ranker_ = Ranker(fit_ranker(x, y, groups, self.config))
        self.catalogue_ = catalogue
        self.population_ = build_population(
            history, catalogue, community, artist_k=self.config.artist_k
        )
        self.trained_on_ = {
            "listeners": len(history.users),
            "events": len(history.events),
            "training_groups": len(groups),
            "learned_ranker": self.ranker_.learned,
            "fit_seconds": round(time.perf_counter() - started, 3),
        }
        return self

    @classmethod
    def from_store(cls, store: Any, *, show_progress: bool = False, **fields: Any) -> ForYou:
        """Fit on every listener, the catalogue and the community data of ``store``."""
        from encore.recommenders.listeners import load_catalogue, load_community, load_history

        return cls(**fields).fit(
            load_history(store),
            load_catalogue(store),
            load_community(store),
            show_progress=show_progress,
        )

    def _check(self) -> tuple[Catalogue, Population, Ranker]:
        if self.catalogue_ is None or self.population_ is None or self.ranker_ is None:
            from encore.errors import NotFittedError

            raise NotFittedError("for_you is not trained: call fit() or run `encore train`")
        return self.catalogue_, self.population_, self.ranker_

    # ------------------------------------------------------------------ recommending
    def profile(self, user_id: str, events: pd.DataFrame, likes: pd.DataFrame) -> Profile:
        """The listener's profile against the trained population."""
        catalogue, pop, _ = self._check()
        return build_profile(user_id, events, likes, catalogue, pop, self.config)

    def candidates(self, prof: Profile) -> Candidates:
        """Stage 1 (and the ranker's features) for a profile."""
        catalogue, pop, _ = self._check()
        return candidates(prof, catalogue, pop, self.config)

    def rank(
        self,
        prof: Profile,
        c: Candidates,
        k: int,
        *,
        new_artists_only: bool = False,
        max_per_artist: int | None = 2,
        discovery_share: float | None = None,
    ) -> list[Pick]:
        """Stage 2: the ``k`` best candidates, at most ``max_per_artist`` per artist.

        ``discovery_share`` (default: the config's) of the list (rounded) is kept for artists new to the listener,
        in :func:`discovery_score` order; the rest follows the ranker. With
        ``new_artists_only`` every slot is a new artist.
        """
        catalogue, _, ranker = self._check()
        if not len(c.rows):
            return []
        artists = catalogue.artist_id[c.rows]
        if "main" not in c.cache:
            c.cache["main"] = ranker.score(c)
            c.cache["discovery"] = discovery_score(c)
        main, disc = c.cache["main"], c.cache["discovery"]
        share = self.config.discovery_share if discovery_share is None else discovery_share
        n_disc = k if new_artists_only else round(k * share)
        chosen: list[int] = []
        if n_disc < k:
            known = c.features["artist_new"].to_numpy() == 0
            first = select(
                np.argsort(-main, kind="stable"),
                artists,
                k - n_disc,
                max_per_artist=max_per_artist,
                allowed=known,
            )
            chosen.extend(int(i) for i in first)
        allowed = np.isfinite(disc)
        allowed[chosen] = False
        rest = select(
            np.argsort(-disc, kind="stable"),
            artists,
            k - len(chosen),
            # the few discovery slots of a mixed list go to as many new artists as possible
            max_per_artist=max_per_artist if new_artists_only else 1,
            allowed=allowed,
        )
        chosen.extend(int(i) for i in rest)
        if len(chosen) < k and not new_artists_only:  # too few new artists: fill from the ranker
            allowed = np.ones(len(main), bool)
            allowed[chosen] = False
            counts = pd.Series(artists[chosen]).value_counts()
            for i in np.argsort(-main, kind="stable"):
                if len(chosen) >= k:
                    break
                a = int(artists[i])
                if allowed[i] and (max_per_artist is None or counts.get(a, 0) < max_per_artist):
                    chosen.append(int(i))
                    counts[a] = counts.get(a, 0) + 1
        # the list is shown best first by the ranker's view of each pick
        ranked = sorted(chosen, key=lambda i: -float(main[i]))
        cols = {
            name: c.features[name].to_numpy()
            for name in ("artist_new", "artist_cf_affinity", "genre_share")
        }
        return [self._pick(prof, c, i, float(main[i]), cols) for i in ranked]

    def _community_rows(self, prof: Profile) -> tuple[np.ndarray, sp.csc_matrix]:
        """The listener's artists and their rows of the community similarity (cached)."""
        if "community_rows" not in prof.extra:
            _, pop, _ = self._check()
            mine = np.flatnonzero(prof.artist_vector > 0)
            prof.extra["community_rows"] = (mine, sp.csc_matrix(pop.artist_sim[mine]))
        cached: tuple[np.ndarray, sp.csc_matrix] = prof.extra["community_rows"]
        return cached

    def _pick(
        self, prof: Profile, c: Candidates, i: int, score: float, cols: dict[str, np.ndarray]
    ) -> Pick:
        """Candidate ``i`` as a :class:`Pick` (``cols``: the features the reason reads, as
        arrays: a pandas row per pick cost more than the ranking of a long list)."""
        catalogue, pop, _ = self._check()
        row = c.rows[i]
        a = int(pop.artist_index(catalogue.artist_id[[row]])[0])
        f = {name: col[i] for name, col in cols.items()}
        contributor: int | None = None
        if f["artist_new"] == 1 and f["artist_cf_affinity"] > 0 and a >= 0:
            mine, sub = self._community_rows(prof)
            col = sub[:, a].toarray().ravel() * prof.artist_vector[mine]
            if len(col) and col.max() > 0:
                contributor = int(pop.artists[mine[int(np.argmax(col))]])
        if f["artist_new"] == 0:
            reason = "more"
        elif contributor is not None:
            reason = "artist_cf"
        elif c.neighbours_playing[i] > 0:
            reason = "track_cf"
        elif f["genre_share"] > 0:
            reason = "genre"
        else:
            reason = "popular"
        first = prof.artist_first[a] if a >= 0 else np.nan
        g = int(catalogue.genre[row])
        return Pick(
            track_id=int(catalogue.track_id[row]),
            artist_id=int(catalogue.artist_id[row]),
            score=score,
            reason=reason,
            contributor_artist_id=contributor,
            artist_plays=float(prof.artist_weight[a]) if a >= 0 else 0.0,
            artist_weeks=float((prof.now - first) / (7 * _DAY)) if not np.isnan(first) else 0.0,
            artist_liked=bool(prof.artist_liked[a]) if a >= 0 else False,
            neighbours=int(c.neighbours_playing[i]),
            genre=catalogue.genres[g] if g >= 0 else None,
            genre_share=float(f["genre_share"]),
        )

    def recommend(
        self,
        user_id: str,
        events: pd.DataFrame,
        likes: pd.DataFrame,
        k: int = 20,
        *,
        new_artists_only: bool = False,
        max_per_artist: int | None = 2,
        discovery_share: float | None = None,
    ) -> list[Pick]:
        """Named tracks new to the listener whose events and likes are given."""
        prof = self.profile(user_id, events, likes)
        return self.rank(
            prof,
            self.candidates(prof),
            k,
            new_artists_only=new_artists_only,
            max_per_artist=max_per_artist,
            discovery_share=discovery_share,
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: Any) -> Any:
        """Save to one ``.npz`` archive (arrays and JSON, no pickle)."""
        from encore.persistence import id_array, put_sparse, save_archive

        catalogue, pop, ranker = self._check()
        arrays: dict[str, np.ndarray] = {
            "catalogue.track_id": catalogue.track_id,
            "catalogue.artist_id": catalogue.artist_id,
            "catalogue.song": catalogue.song,
            "catalogue.genre": catalogue.genre,
        }
        if catalogue.album is not None:
            arrays["catalogue.album"] = catalogue.album
        for name in _POP_ARRAYS:
            arrays[f"pop.{name}"] = id_array(getattr(pop, name))
        for name in _POP_SPARSE:
            put_sparse(arrays, f"pop.{name}", getattr(pop, name))
        header = {
            "name": self.name,
            "config": self.config.model_dump(mode="json"),
            "genres": list(catalogue.genres),
            "ranker": ranker.model_text,
            "trained_on": self.trained_on_,
        }
        return save_archive(
            path, family=FAMILY, format_version=FORMAT_VERSION, header=header, arrays=arrays
        )

    @classmethod
    def load(cls, path: Any) -> ForYou:
        """Load a model written by :meth:`save`.

        Raises
        ------
        DataError
            Missing, damaged, another kind of file, or a newer format.
        """
        from encore.persistence import get_sparse, load_archive

        header, data = load_archive(path, family=FAMILY, format_version=FORMAT_VERSION)
        if int(header.get("format_version", 0)) < FORMAT_VERSION:
            raise DataError(
                "the listener model was saved by an older Encore whose ranker reads other features",
                file=str(path),
                hint="train it again: encore train",
            )
        model = cls(ForYouConfig(**header["config"]))
        model.catalogue_ = Catalogue(
            track_id=data["catalogue.track_id"],
            artist_id=data["catalogue.artist_id"],
            song=data["catalogue.song"],
            genre=data["catalogue.genre"],
            genres=tuple(header["genres"]),
            album=data.get("catalogue.album"),
        )
        fields: dict[str, Any] = {n: data[f"pop.{n}"] for n in _POP_ARRAYS}
        fields.update({n: get_sparse(data, f"pop.{n}") for n in _POP_SPARSE})
        model.population_ = Population(**fields)
        model.ranker_ = Ranker(header.get("ranker"))
        model.trained_on_ = dict(header.get("trained_on", {}))
        return model

"""Hybrid: candidates from several CF models, re-ranked by a learned LightGBM ranker.

Two stages, both learned from the training interactions alone (no names, no catalogue):

1. **Candidates.** Each base model of ``bases`` (registered models; by default EASE, SLIM,
   ALS, item kNN and popularity) scores every item; its top ``candidates`` unseen items per
   user join the union. A base model whose class sets an ``item_limit`` below the
   catalogue size sits out (SLIM above 5,000 items), as with ``--models all``.
2. **Ranking.** A LightGBM ranker (``rank_xendcg`` by default; ``lambdarank`` on request)
   orders each user's candidates from features per (user, candidate): every base model's
   score, its score relative to the user's best score in that model and its rank
   (``rank_depth + 1`` beyond the first ``rank_depth``); how many base models put the item
   among their candidates; item popularity (users, log, percentile, mean weight); user
   activity (items, log, mean weight); and, where the data has times, the item's recent
   popularity and age, and each base model's score, relative score and rank for the user's
   row with every weight halved each ``recency_half_life_days`` before their last
   interaction (what the user played lately).

The ranker is trained without leakage: a validation holdout is carved from the training
interactions (each user's most recent ``holdout_fraction`` of items where the data has
times, else a seeded random share per user; ``global-time`` cuts all users at one time;
``holdout_folds`` earlier snapshots or new draws add training users), the base models are
fitted on the rest, each base model's ``search`` settings are compared on the holdout
(NDCG@10 of the model alone) and the best kept, their candidates for the users with
held-out items are labelled with those items (at most ``max_negatives`` unlabelled ones
per user), and the ranker is fitted on them. The base models are then refitted on all
training interactions, with the settings chosen, for scoring. When no holdout can be
carved (e.g. one item per user) the candidates are ranked by reciprocal-rank fusion.

Items outside a user's candidates still get a score (below every candidate, ordered by
popularity), so ``exclude_seen=False`` and ``items=`` lists work as for the other models;
the user's own items are never candidates. Fold-in works when every base model folds in
(a folded-in user has no times: the recency features are left missing). Fitting is
seeded and deterministic. The booster is saved as its text model and the base models as
their own state, all as arrays (no pickle).
"""

from __future__ import annotations

import io
import itertools
import json
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from encore.data.dataset import InteractionDataset
from encore.errors import ConfigError
from encore.persistence import pack, unpack
from encore.recommenders.base import Recommender, RecommenderConfig

if TYPE_CHECKING:
    import lightgbm

log = logging.getLogger(__name__)

_DAY = 86400.0


class BaseModelSpec(BaseModel):
    """One base model of the hybrid: a registered model name, its config, and how many of
    its top items per user join the candidates (0: features only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    config: dict[str, Any] = Field(default_factory=dict)
    #: Values per config field tried on the validation holdout; the best setting (by
    #: NDCG@10 of the model alone there) is the one used. Empty: ``config`` as given.
    search: dict[str, list[Any]] = Field(default_factory=dict)
    candidates: int = Field(default=100, ge=0)
    #: Also score the user's recency-decayed row (where the data has times).
    recent: bool = True

    def configs(self) -> list[dict[str, Any]]:
        """Every point of ``search`` laid over ``config`` (just ``config`` without a search)."""
        out: list[dict[str, Any]] = []
        fields = sorted(self.search)
        for values in itertools.product(*(self.search[f] for f in fields)):
            cfg = {**self.config, **dict(zip(fields, values, strict=True))}
            if cfg not in out:
                out.append(cfg)
        return out or [dict(self.config)]


DEFAULT_BASES: tuple[BaseModelSpec, ...] = (
    BaseModelSpec(model="ease", search={"l2": [100.0, 1000.0, 5000.0]}),
    BaseModelSpec(model="slim", search={"l2": [10.0, 100.0]}),
    BaseModelSpec(model="als", search={"factors": [32, 64], "regularization": [0.1, 1.0]}),
    BaseModelSpec(model="item_knn", search={"similarity": ["cosine", "bm25"], "k": [25, 200]}),
    BaseModelSpec(model="popular", candidates=20, recent=False),
)


class HybridConfig(RecommenderConfig):
    """Config of :class:`Hybrid`.

    ``bases``: the candidate and feature models. ``rank_depth``: ranks are exact within each
    base model's first ``rank_depth`` items. ``holdout``: how the ranker's validation
    holdout is carved from train (``auto``: ``user-time`` when the data has times, else
    ``random``) and ``holdout_fraction`` its share per user. ``max_train_users`` caps the
    users whose candidates train the ranker (a seeded sample). The remaining fields are
    LightGBM's (``n_estimators`` trees of ``num_leaves`` leaves, ...).
    """

    bases: tuple[BaseModelSpec, ...] = DEFAULT_BASES
    rank_depth: int = Field(default=200, ge=1)
    holdout: Literal["auto", "user-time", "global-time", "random"] = "auto"
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    holdout_folds: int = Field(default=1, ge=1)
    recency_half_life_days: float | None = Field(default=90.0, gt=0)
    max_train_users: int = Field(default=20_000, ge=1)
    max_negatives: int | None = Field(default=100, ge=1)
    objective: Literal["lambdarank", "rank_xendcg", "binary"] = "rank_xendcg"
    n_estimators: int = Field(default=300, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    num_leaves: int = Field(default=4, ge=2)
    min_child_samples: int = Field(default=50, ge=1)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    subsample: float = Field(default=1.0, gt=0, le=1)
    reg_lambda: float = Field(default=1.0, ge=0)
    seed: int = 0
    num_threads: int = Field(default=1, ge=1)

    @field_validator("bases")
    @classmethod
    def _check_bases(cls, bases: tuple[BaseModelSpec, ...]) -> tuple[BaseModelSpec, ...]:
        from encore.recommenders.registry import model_class

        if not bases:
            raise ValueError("at least one base model is needed")
        if not any(b.candidates > 0 for b in bases):
            raise ValueError("at least one base model must give candidates")
        for b in bases:
            if b.model == Hybrid.name:
                raise ValueError("a hybrid cannot be its own base model")
            try:
                klass = model_class(b.model)
                for cfg in b.configs():
                    klass(cfg)
            except Exception as exc:  # unknown name or invalid config
                raise ValueError(f"base model {b.model!r}: {exc}") from None
        return bases


class Hybrid(Recommender):
    """Hybrid: CF candidates re-ranked by a LightGBM ranker over CF features."""

    name: ClassVar[str] = "hybrid"
    config_class = HybridConfig
    config: HybridConfig
    supports_fold_in: ClassVar[bool] = True
    search_space: ClassVar[dict[str, list[Any]]] = {
        "recency_half_life_days": [30.0, 90.0, 365.0],
        "num_leaves": [4, 8],
    }
    #: EASE's limit (the default bases' dense item-item matrix)
    item_limit: ClassVar[int | None] = 40_000
    state_attrs: ClassVar[tuple[str, ...]] = (
        "ranker_bytes_",
        "bases_bytes_",
        "item_features_",
        "has_time_",
        "pair_times_",
        "active_bases_",
    )

    def __init__(
        self, config: RecommenderConfig | dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(config, **kwargs)
        from encore.recommenders.registry import model_class

        classes = [model_class(b.model) for b in self.config.bases]
        # capabilities follow the base models (the class flags are the defaults')
        if not all(c.supports_fold_in for c in classes):
            setattr(self, "supports_fold_in", False)  # noqa: B010 - shadows the ClassVar
        if not any(c.supports_similar_items for c in classes):
            setattr(self, "supports_similar_items", False)  # noqa: B010
        self.bases_: list[Recommender] = []
        self._booster: lightgbm.Booster | None = None
        #: Positions in ``config.bases`` of the base models in use (see :meth:`_fit`).
        self.active_bases_ = np.arange(len(self.config.bases), dtype=np.int64)
        self.has_time_ = False
        self.pair_times_: np.ndarray | None = None
        self._pop_order_cache: np.ndarray | None = None
        self._times_cache: sp.csr_matrix | None = None

    # ------------------------------------------------------------------ fitting
    def _specs(self) -> list[BaseModelSpec]:
        """The base models in use, in config order."""
        return [self.config.bases[i] for i in self.active_bases_]

    def _fit(self, dataset: InteractionDataset) -> None:
        from encore.recommenders.registry import model_class

        times = _pair_times(dataset)
        self.has_time_ = times is not None
        # a base model whose cost grows fast with the catalogue sits out above its limit
        fits = []
        for i, spec in enumerate(self.config.bases):
            limit = model_class(spec.model).item_limit
            if limit is not None and dataset.n_items > limit:
                log.info(
                    "hybrid: leaving out %s (%d items > %d)", spec.model, dataset.n_items, limit
                )
            else:
                fits.append(i)
        if not any(self.config.bases[i].candidates for i in fits):
            log.warning("hybrid: every candidate model is above its item limit; using them all")
            fits = list(range(len(self.config.bases)))
        self.active_bases_ = np.asarray(fits, dtype=np.int64)
        configs = [spec.config for spec in self._specs()]
        xs, ys, gs = [], [], []
        for fold, (inner, holdout) in enumerate(self._carve(dataset)):
            if fold == 0:
                bases = self._search_bases(inner, holdout)
                configs = [b.get_config() for b in bases]
            else:
                bases = self._fit_bases(inner, configs)
            items = _item_features(inner, self.has_time_)
            x, y, g = self._training_rows(bases, inner, holdout, items, fold)
            xs.append(x)
            ys.append(y)
            gs.append(g)
        booster_text = ""
        if gs and sum(len(g) for g in gs):
            booster_text = self._train_ranker(
                np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
            )
        else:
            log.warning("hybrid: no held-out item among the candidates; ranking by fusion")
        self.ranker_bytes_: np.ndarray = np.frombuffer(booster_text.encode(), dtype=np.uint8)
        self.bases_ = self._fit_bases(dataset, configs)
        self.item_features_: np.ndarray = _item_features(dataset, self.has_time_)
        self.pair_times_ = times
        self.bases_bytes_: np.ndarray = _pack_bases(self.bases_)
        self._booster = _booster(booster_text)
        self._times_cache = None
        self._pop_order_cache = None

    def _fit_bases(
        self, dataset: InteractionDataset, configs: list[dict[str, Any]]
    ) -> list[Recommender]:
        from encore.recommenders.registry import get_model

        out = []
        for spec, cfg in zip(self._specs(), configs, strict=True):
            model = get_model(spec.model, **cfg)
            out.append(model.fit(dataset, show_progress=self.show_progress))
        return out

    def _search_bases(self, inner: InteractionDataset, holdout: sp.csr_matrix) -> list[Recommender]:
        """Each base model fitted on ``inner`` with the setting of its ``search`` that
        scores the best NDCG@10 on ``holdout`` (the first on ties)."""
        from encore.recommenders.registry import get_model

        c = self.config
        users = np.flatnonzero((np.diff(holdout.indptr) > 0) & (np.diff(inner.matrix.indptr) > 0))
        if len(users) > c.max_train_users:
            rng = np.random.default_rng([c.seed, 3])
            users = np.sort(rng.choice(users, c.max_train_users, replace=False))
        out = []
        for spec in self._specs():
            best: tuple[float, Recommender] | None = None
            for cfg in spec.configs():
                model = get_model(spec.model, **cfg).fit(inner, show_progress=self.show_progress)
                if len(spec.configs()) == 1:
                    best = (0.0, model)
                    break
                value = _holdout_ndcg(model, inner, holdout, users, self._block_size())
                log.info("hybrid: %s %s holdout ndcg@10 %.4f", spec.model, cfg, value)
                if best is None or value > best[0]:
                    best = (value, model)
            assert best is not None
            out.append(best[1])
        return out

    def _carve(self, dataset: InteractionDataset) -> list[tuple[InteractionDataset, sp.csr_matrix]]:
        """Inner train and validation holdout pairs, one per fold.

        Fold ``i`` holds out the pairs whose position (time, or a random draw) is in the
        ``i``-th newest share of ``holdout_fraction`` (per user, or of all pairs for
        ``global-time``), drops the newer ones (an earlier snapshot) and trains on the
        older ones; random folds draw a new holdout each.
        """
        c = self.config
        mat = sp.csr_matrix(dataset.matrix, dtype=np.float32)
        mat.sort_indices()
        times = _pair_times(dataset)
        method = c.holdout
        if method == "auto":
            method = "user-time" if times is not None else "random"
        if method != "random" and times is None:
            log.warning("hybrid: the data has no times; holding out a random share instead")
            method = "random"
        n_u = np.diff(mat.indptr)
        users = np.repeat(np.arange(mat.shape[0]), n_u)
        within_start = np.repeat(mat.indptr[:-1], n_u)
        folds = []
        for fold in range(c.holdout_folds):
            rng = np.random.default_rng([c.seed, fold if method == "random" else 0])
            key = rng.random(mat.nnz)
            shift = 0 if method == "random" else fold
            if method == "global-time":
                assert times is not None
                t = np.where(np.isnan(times), -np.inf, times)
                finite = t[np.isfinite(t)]
                hi_q = 1.0 - shift * c.holdout_fraction
                lo_q = hi_q - c.holdout_fraction
                if lo_q <= 0:
                    break
                lo_t = np.quantile(finite, lo_q)
                hi_t = np.quantile(finite, hi_q) if shift else np.inf
                held = (t >= lo_t) & (t < hi_t) if shift else t >= lo_t
                drop = t >= hi_t if shift else np.zeros(mat.nnz, dtype=bool)
            else:
                # per user: positions from the newest (user-time) or in random order
                if method == "user-time":
                    assert times is not None
                    newest = np.where(np.isnan(times), -np.inf, times)
                    order = np.lexsort((key, -newest, users))
                else:
                    order = np.lexsort((key, users))
                pos = np.empty(mat.nnz, dtype=np.int64)
                pos[order] = np.arange(mat.nnz) - within_start
                n_held = np.where(n_u >= 2, np.maximum(1, np.round(n_u * c.holdout_fraction)), 0)
                start = np.repeat(shift * n_held, n_u)
                stop = np.minimum(start + np.repeat(n_held, n_u), np.repeat(n_u - 1, n_u))
                held = (pos >= start) & (pos < stop)
                drop = pos < start
            keep = ~held & ~drop
            if not held.any() or not keep.any():
                continue
            inner_mat = _select(mat, keep)
            ts = None
            if times is not None:
                ts = sp.csr_matrix(
                    (times[keep], inner_mat.indices, inner_mat.indptr), shape=mat.shape
                )
            r, cols = inner_mat.nonzero()
            frame = pd.DataFrame(
                {
                    "user_id": dataset.user_map.to_external(r),
                    "item_id": dataset.item_map.to_external(cols),
                    "weight": inner_mat.data.astype(np.float64),
                }
            )
            inner = InteractionDataset(
                user_map=dataset.user_map,
                item_map=dataset.item_map,
                matrix=inner_mat,
                item_level=dataset.item_level,
                interactions=frame,
                timestamps=ts,
            )
            folds.append((inner, _select(mat, held)))
        if not folds:
            log.warning("hybrid: no validation holdout could be carved; ranking by fusion")
        return folds

    def _training_rows(
        self,
        bases: list[Recommender],
        inner: InteractionDataset,
        holdout: sp.csr_matrix,
        item_features: np.ndarray,
        fold: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.config
        users = np.flatnonzero((np.diff(holdout.indptr) > 0) & (np.diff(inner.matrix.indptr) > 0))
        if len(users) > c.max_train_users:
            rng = np.random.default_rng([c.seed, fold, 1])
            users = np.sort(rng.choice(users, c.max_train_users, replace=False))
        times = _pair_times(inner)
        rows_all = sp.csr_matrix(inner.matrix, dtype=np.float32)
        rows_all.sort_indices()
        times_all = (
            None
            if times is None
            else sp.csr_matrix((times, rows_all.indices, rows_all.indptr), shape=rows_all.shape)
        )
        xs, ys, gs = [], [], []
        step = self._block_size()
        for lo in range(0, len(users), step):
            uidx = users[lo : lo + step]
            rows = rows_all[uidx]
            row_times = None if times_all is None else times_all[uidx]
            r, cand, x = self._candidate_features(
                bases, uidx, rows, row_times, item_features, known=True
            )
            label = np.asarray(holdout[uidx[r], cand]).ravel() != 0
            counts = np.bincount(r, minlength=len(uidx))
            pos = np.bincount(r, weights=label, minlength=len(uidx))
            ok = (pos > 0) & (pos < counts)  # a group needs a positive and a negative
            take = ok[r]
            if c.max_negatives is not None:
                # a seeded sample of each user's negatives (every positive is kept)
                rng = np.random.default_rng([c.seed, fold, 2, lo])
                key = np.where(label, -1.0, rng.random(len(r)))
                order = np.lexsort((key, r))
                pos_in_row = np.empty(len(r), dtype=np.int64)
                pos_in_row[order] = _within_rows(r[order])
                take &= pos_in_row < pos[r] + c.max_negatives
            xs.append(x[take])
            ys.append(label[take].astype(np.int32))
            gs.append(np.bincount(r[take], minlength=len(uidx))[ok])
        n_features = len(self.feature_names())
        if not xs:
            return (
                np.zeros((0, n_features), np.float32),
                np.zeros(0, np.int32),
                np.zeros(0, np.int64),
            )
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)

    def _train_ranker(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> str:
        import lightgbm

        c = self.config
        log.info(
            "hybrid: training the ranker on %d candidates of %d users (%d positives)",
            len(y),
            len(groups),
            int(y.sum()),
        )
        ranker = lightgbm.LGBMRanker(
            objective=c.objective,
            n_estimators=c.n_estimators,
            learning_rate=c.learning_rate,
            num_leaves=c.num_leaves,
            min_child_samples=c.min_child_samples,
            colsample_bytree=c.colsample_bytree,
            subsample=c.subsample,
            subsample_freq=1 if c.subsample < 1 else 0,
            reg_lambda=c.reg_lambda,
            random_state=c.seed,
            n_jobs=c.num_threads,
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
        )
        ranker.fit(x, y, group=groups)
        return str(ranker.booster_.model_to_string())

    # ------------------------------------------------------------------ features
    def _uses_recency(self, spec: BaseModelSpec) -> bool:
        from encore.recommenders.registry import model_class

        return (
            self.has_time_
            and self.config.recency_half_life_days is not None
            and spec.recent
            and model_class(spec.model).supports_fold_in
        )

    def _candidate_features(
        self,
        bases: list[Recommender],
        user_idx: np.ndarray | None,
        rows: sp.csr_matrix,
        row_times: sp.csr_matrix | None,
        item_features: np.ndarray,
        *,
        known: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates of a block of users and their feature rows.

        ``user_idx`` are fitted users (``known``) or None (fold-in rows); ``row_times``
        holds the rows' times (same pattern), None when unknown. Returns the candidates'
        row in the block, their item index, and the features ``[n_candidates,
        n_features]`` (float32; NaN where unknown).
        """
        c = self.config
        rows = sp.csr_matrix(rows, dtype=np.float32)
        rows.sort_indices()
        n, m = rows.shape
        specs = self._specs()
        depth = min(max(c.rank_depth, max(b.candidates for b in specs)), m)
        seen_r, seen_c = rows.nonzero()
        decayed = None
        if row_times is not None and c.recency_half_life_days is not None:
            decayed = _decay(rows, row_times, c.recency_half_life_days)
        mask = np.zeros((n, m), dtype=bool)
        blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        kinds: list[tuple[int, bool]] = []  # (candidates, is the plain score)
        for spec, base in zip(specs, bases, strict=True):
            if known:
                assert user_idx is not None
                raw = base._score(user_idx, rows)
            else:
                raw = base._score_rows(rows)
            blocks.append(_score_block(raw, n, m, seen_r, seen_c, depth))
            kinds.append((spec.candidates, True))
            if spec.candidates:
                top = blocks[-1][2][:, : spec.candidates]
                ok = top >= 0
                mask[np.nonzero(ok)[0], top[ok]] = True
            if self._uses_recency(spec):
                if decayed is None:
                    blocks.append(_missing_block(n, m, depth))
                else:
                    raw = base._score_rows(decayed)
                    blocks.append(_score_block(raw, n, m, seen_r, seen_c, depth))
                kinds.append((0, False))
        r, cand = np.nonzero(mask)
        cols: list[np.ndarray] = []
        hits = np.zeros(len(r), dtype=np.float32)
        for (s, rank, top), (n_cand, _plain) in zip(blocks, kinds, strict=True):
            v = s[r, cand]
            v = np.where(np.isfinite(v), v, np.nan)
            best = np.where(top[:, 0] >= 0, s[np.arange(n), np.maximum(top[:, 0], 0)], np.nan)
            b = best[r]
            rel = np.full(len(r), np.nan)
            good = np.isfinite(b) & (np.abs(b) > 0) & np.isfinite(v)
            rel[good] = v[good] / np.abs(b[good])
            rk = rank[r, cand]
            cols += [v, rel, rk]
            if n_cand:
                hits += rk <= n_cand
        n_items = np.diff(rows.indptr).astype(np.float64)
        sums = np.asarray(rows.sum(axis=1)).ravel().astype(np.float64)
        mean_w = np.divide(sums, n_items, out=np.zeros_like(sums), where=n_items > 0)
        cols += [hits, np.log1p(n_items)[r], mean_w[r]]
        x = np.column_stack([np.asarray(col, dtype=np.float32) for col in cols])
        x = np.hstack([x, item_features[cand]]).astype(np.float32)
        return r, cand, x

    def feature_names(self) -> list[str]:
        """Names of the ranker's features, in column order."""
        names = []
        for i, spec in zip(self.active_bases_, self._specs(), strict=True):
            tag = f"{i}_{spec.model}"
            names += [f"{tag}_score", f"{tag}_score_rel", f"{tag}_rank"]
            if self._uses_recency(spec):
                names += [f"{tag}_recent_score", f"{tag}_recent_score_rel", f"{tag}_recent_rank"]
        names += ["n_bases", "user_log_items", "user_mean_weight"]
        return names + _item_feature_names(self.has_time_)

    # ------------------------------------------------------------------ scoring
    def _score(self, user_idx: np.ndarray, user_rows: sp.csr_matrix) -> np.ndarray:
        times = self._times_matrix()
        row_times = None if times is None else times[user_idx]
        return self._rank_block(user_idx, user_rows, row_times, known=True)

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        if not self.supports_fold_in:
            raise self._fold_in_error()
        return self._rank_block(None, rows, None, known=False)

    def _times_matrix(self) -> sp.csr_matrix | None:
        cached = self._times_cache
        if cached is None and self.pair_times_ is not None:
            assert self.user_items_ is not None
            u = self.user_items_
            cached = sp.csr_matrix((self.pair_times_, u.indices, u.indptr), shape=u.shape)
            self._times_cache = cached
        return cached

    def _rank_block(
        self,
        user_idx: np.ndarray | None,
        rows: sp.csr_matrix,
        row_times: sp.csr_matrix | None,
        *,
        known: bool,
    ) -> np.ndarray:
        n = rows.shape[0]
        r, cand, x = self._candidate_features(
            self.bases_, user_idx, rows, row_times, self.item_features_, known=known
        )
        if self._booster is not None and len(r):
            pred = np.asarray(
                self._booster.predict(x, num_threads=self.config.num_threads), dtype=np.float64
            )
        else:
            pred = self._fusion(x)
        # non-candidates: below the user's candidates, by popularity
        low = np.zeros(n)
        if len(r):
            row_min = np.full(n, np.inf)
            np.minimum.at(row_min, r, pred)
            low = np.where(np.isfinite(row_min), row_min, 0.0)
        out = (low - 1.0)[:, None] - self._pop_order[None, :]
        out[r, cand] = pred
        return out

    def _fusion(self, x: np.ndarray) -> np.ndarray:
        """Reciprocal-rank fusion of the base models (no ranker could be trained)."""
        names = self.feature_names()
        score = np.zeros(len(x))
        for i, spec in zip(self.active_bases_, self._specs(), strict=True):
            col = names.index(f"{i}_{spec.model}_rank")
            score += 1.0 / (60.0 + x[:, col].astype(np.float64))
        return score

    @property
    def _pop_order(self) -> np.ndarray:
        cached = self._pop_order_cache
        if cached is None:
            assert self.user_items_ is not None
            pop = np.diff(sp.csc_matrix(self.user_items_).indptr)
            order = np.lexsort((np.arange(len(pop)), -pop))
            cached = np.empty(len(pop))
            cached[order] = np.arange(len(pop)) / max(len(pop), 1)
            self._pop_order_cache = cached
        return cached

    def _similar(self, item_idx: np.ndarray) -> np.ndarray:
        for base in self.bases_:
            if base.supports_similar_items:
                return base._similar(item_idx)
        raise ConfigError(f"{self.name}: no base model has a notion of item similarity")

    # ------------------------------------------------------------------ persistence
    def _after_load(self) -> None:
        self.bases_ = _unpack_bases(self.bases_bytes_, self)
        self._booster = _booster(bytes(np.asarray(self.ranker_bytes_, dtype=np.uint8)).decode())
        self.has_time_ = bool(self.has_time_)
        self.active_bases_ = np.asarray(self.active_bases_, dtype=np.int64)
        self._pop_order_cache = None
        self._times_cache = None


# --------------------------------------------------------------------------- helpers
def _item_feature_names(has_time: bool) -> list[str]:
    out = ["item_log_users", "item_pop_pct", "item_mean_weight"]
    if has_time:
        out += ["item_log_users_30d", "item_log_users_90d", "item_days_since_last"]
        out += ["item_days_since_first"]
    return out


def _item_features(dataset: InteractionDataset, has_time: bool) -> np.ndarray:
    """Per-item features: popularity and, with times, recent popularity and age."""
    mat = sp.csc_matrix(dataset.matrix, dtype=np.float64)
    m = mat.shape[1]
    users = np.diff(mat.indptr).astype(np.float64)
    sums = np.asarray(mat.sum(axis=0)).ravel()
    mean_w = np.divide(sums, users, out=np.zeros_like(sums), where=users > 0)
    order = np.lexsort((np.arange(m), -users))
    pct = np.empty(m)
    pct[order] = np.arange(m) / max(m, 1)
    cols = [np.log1p(users), pct, mean_w]
    if has_time:
        cols += _time_columns(dataset, _pair_times(dataset))
    return np.column_stack(cols).astype(np.float32)


def _time_columns(dataset: InteractionDataset, times: np.ndarray | None) -> list[np.ndarray]:
    """Items' users in the last 30 and 90 days (log) and days since their last and first
    interaction, counted back from the dataset's last time."""
    m = dataset.n_items
    if times is None or not np.isfinite(times).any():
        return [np.full(m, np.nan) for _ in range(4)]
    mat = sp.csr_matrix(dataset.matrix)
    mat.sort_indices()
    items = mat.indices
    ok = np.isfinite(times)
    ref = float(np.nanmax(times))
    age = (ref - times) / _DAY
    out = []
    for days in (30.0, 90.0):
        recent = ok & (age <= days)
        out.append(np.log1p(np.bincount(items[recent], minlength=m).astype(np.float64)))
    last = np.full(m, -np.inf)
    first = np.full(m, np.inf)
    np.maximum.at(last, items[ok], times[ok])
    np.minimum.at(first, items[ok], times[ok])
    since_last = np.where(np.isfinite(last), (ref - last) / _DAY, np.nan)
    since_first = np.where(np.isfinite(first), (ref - first) / _DAY, np.nan)
    return [*out, since_last, since_first]


def _decay(rows: sp.csr_matrix, times: sp.csr_matrix, half_life_days: float) -> sp.csr_matrix:
    """``rows`` with each weight halved every ``half_life_days`` before the user's last
    interaction (pairs without a time count 0; users without any time are unchanged)."""
    t = np.asarray(times.data, dtype=np.float64)
    n_u = np.diff(rows.indptr)
    user = np.repeat(np.arange(rows.shape[0]), n_u)
    last = np.full(rows.shape[0], -np.inf)
    ok = np.isfinite(t)
    np.maximum.at(last, user[ok], t[ok])
    age = (last[user] - t) / _DAY
    factor = np.where(ok, np.power(0.5, age / half_life_days), 0.0)
    factor[~np.isfinite(last[user])] = 1.0
    out = rows.copy()
    out.data = (rows.data * factor).astype(np.float32)
    out.eliminate_zeros()
    return out


def _score_block(
    raw: Any, n: int, m: int, seen_r: np.ndarray, seen_c: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores (seen items -inf), ranks (``depth + 1`` beyond ``depth``) and the top
    ``depth`` items of a base model's score block."""
    s = _dense_scores(raw, n, m)
    s[seen_r, seen_c] = -np.inf
    top = _top_n(s, depth)
    rank = np.full((n, m), depth + 1, dtype=np.float32)
    rr, slot = np.nonzero(top >= 0)
    rank[rr, top[rr, slot]] = slot + 1
    return s, rank, top


def _missing_block(n: int, m: int, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A score block of unknown scores (a folded-in user's recency features)."""
    return (
        np.full((n, m), np.nan),
        np.full((n, m), np.nan, dtype=np.float32),
        np.full((n, max(depth, 1)), -1, dtype=np.int64),
    )


def _pair_times(dataset: InteractionDataset) -> np.ndarray | None:
    """Each stored pair's time (seconds, NaN where unknown) in the order of the sorted
    matrix's entries, or None when the dataset has no time."""
    ts = dataset.timestamps
    if ts is None:
        return None
    mat = sp.csr_matrix(dataset.matrix)
    mat.sort_indices()
    ts = sp.csr_matrix(ts)
    ts.sort_indices()
    if ts.nnz == mat.nnz and np.array_equal(ts.indices, mat.indices):
        vals = np.asarray(ts.data, dtype=np.float64)
    else:
        r, c = mat.nonzero()
        vals = np.asarray(ts[r, c], dtype=np.float64).ravel()
        vals[vals == 0] = np.nan
    if not np.isfinite(vals).any():
        return None
    return vals


def _select(mat: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """The entries of a sorted CSR matrix where ``keep`` (aligned to its data) is True."""
    counts = np.bincount(
        np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))[keep], minlength=mat.shape[0]
    )
    indptr = np.r_[0, np.cumsum(counts)].astype(mat.indptr.dtype)
    return sp.csr_matrix((mat.data[keep], mat.indices[keep], indptr), shape=mat.shape)


def _dense_scores(raw: Any, n: int, m: int) -> np.ndarray:
    """A writable float32 ``[n, m]`` copy of a base model's score block (NaN -> -inf)."""
    if sp.issparse(raw):
        s = np.asarray(raw.toarray(), dtype=np.float32)
    else:
        s = np.array(np.broadcast_to(np.asarray(raw), (n, m)), dtype=np.float32, copy=True)
    s[np.isnan(s)] = -np.inf
    return s


def _top_n(s: np.ndarray, n: int) -> np.ndarray:
    """Indices of each row's ``n`` best finite scores, best first (ties: lower index);
    -1 where a row has fewer."""
    rows, m = s.shape
    out = np.full((rows, n), -1, dtype=np.int64)
    if n == 0 or rows == 0:
        return out
    if n < m:
        kth = np.partition(s, m - n, axis=1)[:, m - n]
        take = s > kth[:, None]
        need = n - take.sum(axis=1)
        # among items tied with the n-th score, the lower indices first
        tr, tc = np.nonzero((s == kth[:, None]) & np.isfinite(kth)[:, None])
        keep = _within_rows(tr) < need[tr]
        take[tr[keep], tc[keep]] = True
    else:
        take = np.ones_like(s, dtype=bool)
    take &= np.isfinite(s)
    r, c = np.nonzero(take)
    v = s[r, c]
    order = np.lexsort((c, -v, r))
    r, c = r[order], c[order]
    out[r, _within_rows(r)] = c
    return out


def _within_rows(r: np.ndarray) -> np.ndarray:
    """Position of each entry within its row, for entries grouped by row (0 = first)."""
    if len(r) == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.r_[0, np.flatnonzero(np.diff(r)) + 1]
    return np.arange(len(r)) - np.repeat(first, np.diff(np.r_[first, len(r)]))


def _holdout_ndcg(
    model: Recommender,
    inner: InteractionDataset,
    holdout: sp.csr_matrix,
    users: np.ndarray,
    step: int,
    k: int = 10,
) -> float:
    """Mean NDCG@k of ``model`` (fitted on ``inner``) against ``holdout`` over ``users``."""
    rows_all = sp.csr_matrix(inner.matrix, dtype=np.float32)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for lo in range(0, len(users), step):
        uidx = users[lo : lo + step]
        rows = rows_all[uidx]
        s = _dense_scores(model._score(uidx, rows), len(uidx), rows.shape[1])
        r, c = rows.nonzero()
        s[r, c] = -np.inf
        top = _top_n(s, k)
        hold = holdout[uidx]
        hit = np.take_along_axis(hold.toarray() != 0, np.maximum(top, 0), axis=1) & (top >= 0)
        n_rel = np.minimum(np.diff(hold.indptr), k)
        ideal = np.cumsum(discount)[np.maximum(n_rel - 1, 0)]
        total += float(((hit * discount).sum(axis=1) / ideal).sum())
    return total / max(len(users), 1)


def _booster(text: str) -> lightgbm.Booster | None:
    if not text:
        return None
    import lightgbm

    return lightgbm.Booster(model_str=text)


def _pack_bases(bases: list[Recommender]) -> np.ndarray:
    """The base models' configs and states as one ``.npz`` archive in a uint8 array."""
    arrays: dict[str, np.ndarray] = {}
    tree = []
    for i, base in enumerate(bases):
        state = {attr: getattr(base, attr) for attr in base.state_attrs}
        tree.append(
            {
                "name": base.name,
                "config": base.get_config(),
                "fit_time_s": base.fit_time_s,
                "state": pack(state, arrays, f"base{i}"),
            }
        )
    arrays["tree"] = np.asarray(json.dumps(tree))
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def _unpack_bases(blob: np.ndarray, owner: Recommender) -> list[Recommender]:
    """The base models saved by :func:`_pack_bases`, sharing ``owner``'s ids and matrix."""
    from encore.recommenders.registry import model_class

    with np.load(io.BytesIO(np.asarray(blob, dtype=np.uint8).tobytes()), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    tree = json.loads(str(arrays.pop("tree")))
    out = []
    for entry in tree:
        model = model_class(entry["name"]).from_config(entry["config"])
        model.user_map_ = owner.user_map_
        model.item_map_ = owner.item_map_
        model.user_items_ = owner.user_items_
        model.item_level_ = owner.item_level_
        model.fit_time_s = entry["fit_time_s"]
        for attr, value in unpack(entry["state"], arrays).items():
            setattr(model, attr, value)
        model._after_load()
        out.append(model)
    return out

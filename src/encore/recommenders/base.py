"""The one recommender interface (template method).

A model is one file with a pydantic ``Config``, ``_fit(dataset)`` and a scoring method:

- ``_score(user_idx, user_rows)``: scores ``[n_users, n_items]`` for users known at
  fit time (default: ``_score_rows(user_rows)``): a new dense array, or a sparse matrix
  whose unstored entries score 0 (neighbourhood models), ranked without densifying;
- ``_score_rows(rows)``: the same for arbitrary interaction rows; models for which that is
  sound set ``supports_fold_in = True`` and get recommendations for users unseen at fit
  time (:meth:`Recommender.recommend_for_interactions`) without a refit.

The public methods do everything else once: validation, id mapping, excluding seen items,
batching over users (memory), top-k selection (:mod:`encore.recommenders.ranking`),
explanations, saving and loading.

Saved models are one ``.npz`` archive of :mod:`encore.persistence` (family
``encore-recommender``; arrays only, loaded with ``allow_pickle=False``, so a model file
cannot run code) whose JSON header holds the format version, the model name and its config.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, ValidationError

from encore.data.dataset import IdMap, InteractionDataset, rows_from_interactions
from encore.errors import ConfigError, DataError, EncoreError, NotFittedError, UnknownIdError
from encore.persistence import (
    get_sparse,
    id_array,
    load_archive,
    put_sparse,
    save_archive,
    with_suffix,
)
from encore.recommenders import ranking

log = logging.getLogger(__name__)

#: Version of the saved-model format; bump when the layout changes.
FORMAT_VERSION = 1
#: The archive family of saved recommenders (:mod:`encore.persistence`).
FAMILY = "encore-recommender"

RECOMMEND_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "score", "rank")
SIMILAR_COLUMNS: tuple[str, ...] = ("item_id", "similar_item_id", "score", "rank")
EXPLAIN_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "contributor_item_id", "contribution")

#: What a model may support (its ``supports_<capability>`` class attributes).
Capability = Literal["fold_in", "explain", "similar_items"]

R = TypeVar("R", bound="Recommender")


class RecommenderConfig(BaseModel):
    """Base of every model's config: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Recommender(ABC):
    """Base class of every Encore recommender.

    Parameters
    ----------
    config:
        A ``config_class`` instance or a dict of its fields; keyword arguments override it.

    Raises
    ------
    ConfigError
        An unknown or invalid config field.

    Examples
    --------
    >>> from encore.recommenders.registry import get_model
    >>> model = get_model("ease", l2=500.0)  # doctest: +SKIP
    >>> model.fit(dataset).recommend(["hetrec:2"], k=10)  # doctest: +SKIP
    """

    name: ClassVar[str] = "base"
    config_class: ClassVar[type[RecommenderConfig]] = RecommenderConfig
    #: Recommendations for users unseen at fit time from their interactions.
    supports_fold_in: ClassVar[bool] = False
    #: :meth:`explain` names the user's items behind a recommendation.
    supports_explain: ClassVar[bool] = False
    #: :meth:`similar_items` is meaningful.
    supports_similar_items: ClassVar[bool] = True
    #: Attributes (ndarray, sparse matrix, number or None) saved with the model.
    state_attrs: ClassVar[tuple[str, ...]] = ()
    #: Candidate values per config field searched by ``encore evaluate --tune``
    #: (:mod:`encore.evaluation.tuning`); the default config is always tried too.
    search_space: ClassVar[dict[str, list[Any]]] = {}
    #: ``--models all`` leaves the model out when the catalogue has more items than this
    #: (its cost grows fast with the catalogue); None: no limit.
    item_limit: ClassVar[int | None] = None
    #: A baseline every comparison keeps, listed by this rank (lowest first); None: not a
    #: baseline. Unlike the other attributes it is not inherited: a subclass is a
    #: baseline only when it says so.
    baseline_rank: ClassVar[int | None] = None
    #: The model learns from interaction times: comparisons on data without timestamps
    #: leave it out (:func:`encore.evaluation.runner.resolve_models`).
    needs_timestamps: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register every concrete subclass that sets its own ``name`` (no list to edit)."""
        super().__init_subclass__(**kwargs)
        if "baseline_rank" not in vars(cls):
            cls.baseline_rank = None
        if "name" in vars(cls) and not _has_abstract_methods(cls):
            from encore.recommenders.registry import register

            register(cls)

    def __init__(
        self, config: RecommenderConfig | dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        try:
            if config is None:
                cfg = self.config_class(**kwargs)
            elif isinstance(config, dict):
                cfg = self.config_class(**{**config, **kwargs})
            elif isinstance(config, self.config_class):
                cfg = config.model_copy(update=kwargs) if kwargs else config
                if kwargs:
                    cfg = self.config_class(**cfg.model_dump())
            else:
                raise ConfigError(
                    f"{self.name}: config must be a {self.config_class.__name__} or a dict, "
                    f"not {type(config).__name__}"
                )
        except ValidationError as exc:
            raise ConfigError(f"invalid {self.name} config: {_validation_message(exc)}") from exc
        self.config = cfg
        self.fit_time_s: float | None = None
        self.user_map_: IdMap | None = None
        self.item_map_: IdMap | None = None
        self.user_items_: sp.csr_matrix | None = None
        self.item_level_: str | None = None
        self.show_progress = False

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """The config as a plain dict (``from_config(get_config())`` builds the same model)."""
        return self.config.model_dump(mode="json")

    @classmethod
    def from_config(cls: type[R], config: dict[str, Any]) -> R:
        """Build an unfitted model from :meth:`get_config`'s dict.

        Raises
        ------
        ConfigError
            Unknown or invalid fields.
        """
        return cls(dict(config))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ fitting
    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has run."""
        return self.user_items_ is not None

    def fit(self: R, dataset: InteractionDataset, *, show_progress: bool = False) -> R:
        """Fit on a dataset and return ``self``.

        ``show_progress`` shows a progress bar where a model's fit is long (ALS, BPR, SLIM).

        Raises
        ------
        ConfigError
            ``dataset`` is not an :class:`~encore.data.dataset.InteractionDataset`.
        DataError
            The dataset is empty or holds non-finite weights.
        """
        if not isinstance(dataset, InteractionDataset):
            raise ConfigError(
                f"{self.name}.fit needs an InteractionDataset, not {type(dataset).__name__}"
            )
        if dataset.n_users == 0 or dataset.n_items == 0 or dataset.matrix.nnz == 0:
            raise DataError(f"cannot fit {self.name} on an empty dataset")
        matrix = sp.csr_matrix(dataset.matrix, dtype=np.float32)
        if not np.isfinite(matrix.data).all():
            raise DataError("the interaction matrix holds non-finite weights", field="weight")
        matrix.sort_indices()
        start = time.perf_counter()
        self.user_map_ = dataset.user_map
        self.item_map_ = dataset.item_map
        self.user_items_ = matrix
        self.item_level_ = dataset.item_level
        self.show_progress = show_progress
        try:
            self._fit(dataset)
        except BaseException:
            self.user_items_ = None
            raise
        self.fit_time_s = time.perf_counter() - start
        log.info("fitted %s on %r in %.2fs", self.name, dataset, self.fit_time_s)
        return self

    @abstractmethod
    def _fit(self, dataset: InteractionDataset) -> None:
        """Learn the model from ``dataset`` (each model implements it)."""

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"{self.name} is not fitted", hint="call fit(dataset) or load a saved model"
            )

    @property
    def n_items(self) -> int:
        """Number of items the model knows."""
        self._check_fitted()
        assert self.user_items_ is not None
        return int(self.user_items_.shape[1])

    # ------------------------------------------------------------------ scoring hooks
    def _score(self, user_idx: np.ndarray, user_rows: sp.csr_matrix) -> np.ndarray | sp.spmatrix:
        """Dense scores ``[len(user_idx), n_items]`` for users known at fit time.

        Return a new array (the ranking overwrites seen items with ``-inf`` in place), or a
        read-only one (e.g. a broadcast vector), which is copied or ranked once.
        """
        return self._score_rows(user_rows)

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray | sp.spmatrix:
        """Dense scores for arbitrary interaction rows (fold-in)."""
        raise self._refusal("fold_in")

    def require(self, capability: Capability) -> None:
        """Raise the model's refusal when it lacks ``capability`` (``supports_<capability>``,
        read from the instance: a model may turn a capability off for its config).

        The methods that need a capability call it themselves; a caller may call it first
        to fail before doing other work.

        Raises
        ------
        ConfigError
            The model lacks the capability; the hint names the models that have it.
        """
        if not getattr(self, f"supports_{capability}"):
            raise self._refusal(capability)

    @classmethod
    def _refusal(cls, capability: Capability) -> ConfigError:
        """The one message for a missing capability, naming the models that have it."""
        from encore.recommenders.registry import capable_models

        models = ", ".join(capable_models(capability))
        message, hint = {
            "fold_in": (
                "cannot recommend for users unseen at fit time",
                f"refit with the user's interactions, or use a model that supports fold-in "
                f"({models})",
            ),
            "explain": ("cannot explain its recommendations", f"models that can: {models}"),
            "similar_items": ("has no notion of item similarity", f"models that have: {models}"),
        }[capability]
        return ConfigError(f"{cls.name} {message}", hint=hint)

    def _fold_in_error(self) -> ConfigError:
        """The fold-in refusal (``_refusal("fold_in")``; ``require("fold_in")`` raises it)."""
        return self._refusal("fold_in")

    def _similar(self, item_idx: np.ndarray) -> np.ndarray:
        """Dense similarities ``[len(item_idx), n_items]`` (self-similarity is masked later)."""
        raise self._refusal("similar_items")

    def _contributions(
        self, row: sp.csr_matrix, item_idx: np.ndarray, user_idx: int | None = None
    ) -> np.ndarray:
        """Contribution of each of the row's items (in ``row.indices`` order) to each target's
        score: ``[row.nnz, len(item_idx)]``; ``user_idx`` is the fitted user, None for fold-in."""
        raise self._refusal("explain")

    # ------------------------------------------------------------------ recommending
    def recommend(
        self,
        user_ids: Iterable[Any] | Any,
        k: int = 10,
        exclude_seen: bool = True,
        items: Iterable[Any] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` items for users known at fit time.

        Parameters
        ----------
        user_ids:
            External user ids (one or many; repeats are answered once).
        k:
            Items per user (fewer when not enough items are left).
        exclude_seen:
            Leave out items the user interacted with in the fit dataset.
        items:
            Optional candidate items (external ids); others are never recommended.
            Ids unknown to the model are ignored.

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, score, rank`` (rank 1 is best), users in request order.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        ConfigError
            ``k`` is not a positive integer.
        UnknownIdError
            Some users were not in the fit dataset (all are listed).
        """
        self._check_fitted()
        assert self.user_map_ is not None and self.user_items_ is not None
        k = _check_k(k)
        try:
            uidx = pd.unique(self.user_map_.to_internal(_as_list(user_ids)))
        except UnknownIdError as exc:
            hint = (
                "recommend_for_interactions() folds in users unseen at fit time"
                if self.supports_fold_in
                else f"{self.name} cannot fold in new users: refit including them"
            )
            raise UnknownIdError("user", exc.ids, hint=hint) from None
        users = self.user_map_.external_ids[uidx]
        candidates = self._candidate_mask(items)

        def score(lo: int, hi: int) -> tuple[np.ndarray, sp.csr_matrix]:
            assert self.user_items_ is not None
            rows = self.user_items_[uidx[lo:hi]]
            return self._score(uidx[lo:hi], rows), rows

        return self._rank(users, score, k, exclude_seen, candidates)

    def recommend_for_interactions(
        self,
        interactions: pd.DataFrame | Sequence[Any],
        k: int = 10,
        exclude_seen: bool = True,
        items: Iterable[Any] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` items for users unseen at fit time, from their interactions (fold-in).

        Parameters
        ----------
        interactions:
            A frame with ``item_id`` and optional ``user_id`` (default ``"new"``) and
            ``weight`` (default 1; use the fit dataset's weighting), or a list of item ids
            of one user.
        k, exclude_seen, items:
            As in :meth:`recommend` (seen items are the given interactions).

        Raises
        ------
        ConfigError
            The model cannot fold in users (``supports_fold_in`` is False), or bad ``k``.
        DataError
            The frame lacks ``item_id``.
        """
        self._check_fitted()
        assert self.item_map_ is not None
        self.require("fold_in")
        k = _check_k(k)
        frame = (
            interactions
            if isinstance(interactions, pd.DataFrame)
            else pd.DataFrame({"item_id": list(interactions)})
        )
        users, rows = rows_from_interactions(self.item_map_, frame)
        candidates = self._candidate_mask(items)

        def score(lo: int, hi: int) -> tuple[np.ndarray, sp.csr_matrix]:
            block = rows[lo:hi]
            return self._score_rows(block), block

        return self._rank(users, score, k, exclude_seen, candidates)

    def _candidate_mask(self, items: Iterable[Any] | None) -> np.ndarray | None:
        if items is None:
            return None
        assert self.item_map_ is not None
        idx = self.item_map_.to_internal(_as_list(items), strict=False)
        mask = np.zeros(self.n_items, dtype=bool)
        mask[idx[idx >= 0]] = True
        return mask

    def _block_size(self) -> int:
        return ranking.block_rows(self.n_items)

    def _rank(
        self,
        users: np.ndarray,
        score: Any,
        k: int,
        exclude_seen: bool,
        candidates: np.ndarray | None,
    ) -> pd.DataFrame:
        assert self.item_map_ is not None
        if len(users) == 0:
            return pd.DataFrame({c: [] for c in RECOMMEND_COLUMNS})
        row, item_idx, scores, ranks = ranking.rank_blocks(
            len(users),
            score,
            k,
            step=self._block_size(),
            exclude_seen=exclude_seen,
            candidates=candidates,
        )
        return pd.DataFrame(
            {
                "user_id": users[row],
                "item_id": self.item_map_.to_external(item_idx),
                "score": scores,
                "rank": ranks,
            }
        )

    # ------------------------------------------------------------------ similar items
    def similar_items(self, item_ids: Iterable[Any] | Any, k: int = 10) -> pd.DataFrame:
        """The ``k`` items most similar to each of ``item_ids`` (the item itself excluded).

        Returns
        -------
        pandas.DataFrame
            ``item_id, similar_item_id, score, rank``.

        Raises
        ------
        NotFittedError, ConfigError, UnknownIdError
            Not fitted; bad ``k`` or a model without item similarity; unknown items.
        """
        self._check_fitted()
        assert self.item_map_ is not None
        k = _check_k(k)
        ids = pd.unique(np.asarray(_as_list(item_ids)))
        idx = self.item_map_.to_internal(ids)
        frames = []
        step = self._block_size()
        for lo in range(0, len(idx), step):
            block = idx[lo : lo + step]
            sims = np.array(self._similar(block), dtype=np.float64, copy=True)
            sims[np.isnan(sims)] = -np.inf
            sims[np.arange(len(block)), block] = -np.inf
            top, vals = ranking.top_k(sims, k)
            keep = top >= 0
            ranks = np.tile(np.arange(1, top.shape[1] + 1), (top.shape[0], 1))
            frames.append(
                pd.DataFrame(
                    {
                        "item_id": np.repeat(ids[lo : lo + step], keep.sum(axis=1)),
                        "similar_item_id": self.item_map_.to_external(top[keep]),
                        "score": vals[keep],
                        "rank": ranks[keep].astype(np.int64),
                    }
                )
            )
        if not frames:
            return pd.DataFrame({c: [] for c in SIMILAR_COLUMNS})
        return pd.concat(frames, ignore_index=True)

    # ------------------------------------------------------------------ explanations
    def explain(self, user_id: Any, item_ids: Iterable[Any] | Any, n: int = 3) -> pd.DataFrame:
        """Which of the user's items contributed most to each item's score.

        For the linear item models (item kNN, EASE, SLIM, PureSVD) the contributions sum
        to the score exactly; for ALS they are the exact decomposition of the user's
        least-squares solution (as in ``implicit``'s ``explain``).

        Parameters
        ----------
        user_id:
            A user known at fit time.
        item_ids:
            Items to explain (typically the user's recommendations).
        n:
            Contributors per item.

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, contributor_item_id, contribution``, best first per item.

        Raises
        ------
        ConfigError
            The model cannot explain (``supports_explain`` is False; the hint names the
            models that can) or ``n < 1``.
        UnknownIdError
            Unknown user or items.
        """
        self.require("explain")
        self._check_fitted()
        assert (
            self.user_map_ is not None
            and self.item_map_ is not None
            and self.user_items_ is not None
        )
        n = _check_k(n, what="n")
        uidx = self.user_map_.to_internal([user_id])
        row = self.user_items_[uidx]
        return self._explain_row(
            self.user_map_.external_ids[uidx[0]], row, item_ids, n, int(uidx[0])
        )

    def explain_interactions(
        self, interactions: pd.DataFrame | Sequence[Any], item_ids: Iterable[Any] | Any, n: int = 3
    ) -> pd.DataFrame:
        """:meth:`explain` for one user unseen at fit time, given their interactions.

        Raises
        ------
        ConfigError
            The model cannot fold in or explain.
        """
        self._check_fitted()
        assert self.item_map_ is not None
        self.require("fold_in")
        frame = (
            interactions
            if isinstance(interactions, pd.DataFrame)
            else pd.DataFrame({"item_id": list(interactions)})
        )
        users, rows = rows_from_interactions(self.item_map_, frame)
        if len(users) != 1:
            raise ConfigError("explain_interactions takes the interactions of exactly one user")
        return self._explain_row(users[0], rows[0], item_ids, _check_k(n, what="n"))

    def _explain_row(
        self,
        user_id: Any,
        row: sp.csr_matrix,
        item_ids: Iterable[Any] | Any,
        n: int,
        user_idx: int | None = None,
    ) -> pd.DataFrame:
        assert self.item_map_ is not None
        self.require("explain")
        ids = pd.unique(np.asarray(_as_list(item_ids)))
        idx = self.item_map_.to_internal(ids)
        row = sp.csr_matrix(row)
        row.sort_indices()
        if row.nnz == 0 or len(idx) == 0:
            return pd.DataFrame({c: [] for c in EXPLAIN_COLUMNS})
        contrib = np.asarray(self._contributions(row, idx, user_idx), dtype=np.float64)
        contributors = self.item_map_.to_external(row.indices)
        frames = []
        for j in range(len(idx)):
            col = contrib[:, j]
            # largest first; ties by item order; never the item itself
            order = np.lexsort((row.indices, -col))
            order = order[row.indices[order] != idx[j]][:n]
            frames.append(
                pd.DataFrame(
                    {
                        "user_id": user_id,
                        "item_id": ids[j],
                        "contributor_item_id": contributors[order],
                        "contribution": col[order],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save the fitted model to one ``.npz`` file (arrays and a JSON header, no pickle).

        Returns
        -------
        pathlib.Path
            The file written (``.npz`` is appended when missing).

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        self._check_fitted()
        assert (
            self.user_map_ is not None
            and self.item_map_ is not None
            and self.user_items_ is not None
        )
        arrays: dict[str, np.ndarray] = {}
        scalars: dict[str, Any] = {}
        put_sparse(arrays, "user_items", self.user_items_)
        arrays["user_ids"] = id_array(self.user_map_.external_ids)
        arrays["item_ids"] = id_array(self.item_map_.external_ids)
        kinds: dict[str, str] = {}
        for attr in self.state_attrs:
            value = getattr(self, attr)
            if value is None:
                kinds[attr] = "none"
            elif sp.issparse(value):
                kinds[attr] = "csr"
                put_sparse(arrays, f"state.{attr}", sp.csr_matrix(value))
            elif isinstance(value, np.ndarray):
                kinds[attr] = "array"
                arrays[f"state.{attr}"] = value
            elif isinstance(value, bool | int | float | str):
                kinds[attr] = "scalar"
                scalars[attr] = value
            else:
                raise EncoreError(
                    f"{self.name}: cannot save state attribute {attr} of type {type(value).__name__}"
                )
        header = {
            "name": self.name,
            "config": self.get_config(),
            "item_level": self.item_level_,
            "fit_time_s": self.fit_time_s,
            "state_kinds": kinds,
            "scalars": scalars,
        }
        path = save_archive(
            path, family=FAMILY, format_version=FORMAT_VERSION, header=header, arrays=arrays
        )
        log.info("saved %s to %s", self.name, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load a model saved by :meth:`save` (any model when called on ``Recommender``).

        Raises
        ------
        DataError
            The file is missing, not an Encore model, of a newer format, or of another
            model than the class it is loaded through.
        """
        from encore.recommenders.registry import model_class

        header, data = load_archive(path, family=FAMILY, format_version=FORMAT_VERSION)
        klass = model_class(header["name"])
        if cls is not Recommender and not issubclass(klass, cls):
            raise DataError(
                f"the file holds a {header['name']!r} model, not {cls.name!r}",
                file=str(path if Path(path).exists() else with_suffix(path)),
            )
        model = klass.from_config(header["config"])
        model.user_map_ = IdMap(data["user_ids"], kind="user")
        model.item_map_ = IdMap(data["item_ids"], kind="item")
        model.user_items_ = get_sparse(data, "user_items")
        model.item_level_ = header.get("item_level")
        model.fit_time_s = header.get("fit_time_s")
        for attr, kind in header["state_kinds"].items():
            if kind == "none":
                setattr(model, attr, None)
            elif kind == "csr":
                setattr(model, attr, get_sparse(data, f"state.{attr}"))
            elif kind == "array":
                setattr(model, attr, data[f"state.{attr}"])
            else:
                setattr(model, attr, header["scalars"][attr])
        model._after_load()
        return model

    def _after_load(self) -> None:  # noqa: B027 - an optional hook, deliberately not abstract
        """Rebuild caches derived from the saved state (override when needed)."""


# --------------------------------------------------------------------------- helpers
def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "config"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _check_k(k: Any, *, what: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"{what} must be a positive integer, not {k!r}")
    return int(k)


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, str | bytes) or np.isscalar(values):
        return [values]
    return list(values)


def _has_abstract_methods(cls: type) -> bool:
    """Whether ``cls`` leaves an abstract method unimplemented.

    ``inspect.isabstract`` cannot tell yet while the class is being created
    (``__init_subclass__`` runs before ``ABCMeta`` sets ``__abstractmethods__``).
    """
    names = {
        n
        for klass in cls.__mro__
        for n, v in vars(klass).items()
        if getattr(v, "__isabstractmethod__", False)
    }
    return any(getattr(getattr(cls, n, None), "__isabstractmethod__", False) for n in names)

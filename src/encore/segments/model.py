"""A fitted segmentation: fit end to end, save next to the store, load, assign new users.

Files: ``<store>.segments/<name>/`` holds ``model.npz`` (feature builder, scaler,
clusterer, map coordinates, feature columns, profiles), ``curve.csv`` (the k-selection
curve), ``profiles.csv`` and ``summary.json`` (metrics). The assignments go to the store
table ``user_segments`` (created by schema migration 3), written only by
:func:`store_assignments`.

``model.npz`` is an archive of arrays and JSON (see :mod:`encore.persistence`, family
``encore-segment-model``): loading it never runs code. Models saved by older Encore
versions as ``model.pkl`` (a pickle) are not loaded; fit them again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.data.store import Store
from encore.errors import ConfigError, DataError, NotFittedError, UnknownIdError
from encore.persistence import frame_from_tree, frame_tree, load_archive, pack, save_archive, unpack
from encore.segments.cluster import Segmenter
from encore.segments.features import GROUPS, FeatureBuilder, candidate_users, group_of, top_genres
from encore.segments.profile import agreement, friends_check, known_attributes, profiles

log = logging.getLogger(__name__)

#: Family and format version of segment model files (see :mod:`encore.persistence`).
#: Version 1 was the pickle ``model.pkl`` of earlier Encore versions.
FAMILY = "encore-segment-model"
FORMAT_VERSION = 2
MODEL_FILE = "model.npz"


def model_dir(db: str | Path, name: str = "default") -> Path:
    """Where the model called ``name`` of store ``db`` lives: ``<db>.segments/<name>/``."""
    return Path(f"{db}.segments") / name


@dataclass
class SegmentModel:
    """Everything needed to describe, draw and extend a segmentation."""

    name: str
    builder: FeatureBuilder
    segmenter: Segmenter
    user_ids: list[str]
    labels: np.ndarray
    profiles: pd.DataFrame
    fitted_at: datetime
    namespace: str | None = None
    xy: np.ndarray | None = None
    map_method: str | None = None
    top_genres: list[str] = field(default_factory=list)
    friends: dict[str, Any] | None = None
    agreement: pd.DataFrame | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    _embedding: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def names(self) -> dict[int, str]:
        """Segment -> generated name."""
        return dict(
            zip(
                self.profiles["segment"].astype(int).tolist(),
                self.profiles["name"].astype(str).tolist(),
                strict=True,
            )
        )

    def summary(self) -> dict[str, Any]:
        """Metrics of the fit as a JSON-able dict."""
        seg = self.segmenter
        ari = np.array(seg.ari) if seg.ari else np.array([np.nan])
        out: dict[str, Any] = {
            "model": self.name,
            "method": seg.method,
            "namespace": self.namespace,
            "users": len(self.user_ids),
            "features": len(seg.columns),
            "feature_groups": sorted({group_of(c) for c in seg.columns}),
            "segments": seg.chosen_k,
            "k_chosen_by": "fixed"
            if seg.k
            else {"kmeans": "silhouette", "gmm": "bic", "hdbscan": "hdbscan"}[seg.method],
            "silhouette": seg.silhouette,
            "ari_mean": float(np.nanmean(ari)),
            "ari_min": float(np.nanmin(ari)),
            "noise_share": float(np.mean(self.labels < 0)),
            "map": self.map_method,
            "fitted_at": self.fitted_at.isoformat(),
            "seconds": self.seconds,
        }
        if self.friends is not None:
            out["friends"] = self.friends
        return out

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """The model as plain values and arrays (see :meth:`from_state`)."""
        return {
            "name": self.name,
            "builder": self.builder.state(),
            "segmenter": self.segmenter.state(),
            "user_ids": [str(u) for u in self.user_ids],
            "labels": self.labels,
            "profiles": frame_tree(self.profiles),
            "fitted_at": self.fitted_at.isoformat(),
            "namespace": self.namespace,
            "xy": self.xy,
            "map_method": self.map_method,
            "top_genres": self.top_genres,
            "friends": self.friends,
            "agreement": None if self.agreement is None else frame_tree(self.agreement),
            "seconds": self.seconds,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SegmentModel:
        """The model that :meth:`state` described (nothing is refitted)."""
        return cls(
            name=state["name"],
            builder=FeatureBuilder.from_state(state["builder"]),
            segmenter=Segmenter.from_state(state["segmenter"]),
            user_ids=list(state["user_ids"]),
            labels=state["labels"],
            profiles=frame_from_tree(state["profiles"]),
            fitted_at=datetime.fromisoformat(state["fitted_at"]),
            namespace=state["namespace"],
            xy=state["xy"],
            map_method=state["map_method"],
            top_genres=list(state["top_genres"]),
            friends=state["friends"],
            agreement=None if state["agreement"] is None else frame_from_tree(state["agreement"]),
            seconds=dict(state["seconds"]),
        )

    def save(self, directory: Path) -> Path:
        """Write the model files into ``directory`` (created); return ``model.npz``'s path."""
        arrays: dict[str, np.ndarray] = {}
        header = {"tree": pack(self.state(), arrays)}
        path = save_archive(
            directory / MODEL_FILE,
            family=FAMILY,
            format_version=FORMAT_VERSION,
            header=header,
            arrays=arrays,
        )
        if self.segmenter.curve is not None:
            self.segmenter.curve.to_csv(directory / "curve.csv", index=False)
        self.profiles.to_csv(directory / "profiles.csv", index=False)
        summary = self.summary()
        if self.agreement is not None:
            summary["agreement"] = self.agreement.to_dict(orient="records")
        (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        return path

    @staticmethod
    def load(directory: Path) -> SegmentModel:
        """Load a saved model.

        Raises
        ------
        NotFittedError
            No model was saved there.
        DataError
            Only a model of an older Encore (``model.pkl``, a pickle) is there, or
            ``model.npz`` is not a segment model this Encore reads (another family, a
            newer format, damaged).
        """
        path = directory / MODEL_FILE
        if not path.exists():
            if (directory / "model.pkl").exists():
                raise DataError(
                    "this segmentation was saved by an older Encore as a pickle, which this "
                    "version no longer loads (a pickle can run code when loaded)",
                    file=str(directory / "model.pkl"),
                    hint=f"fit it again: `encore segments fit --name {directory.name}`",
                )
            raise NotFittedError(
                f"no segmentation model at {directory}",
                hint="run `encore segments fit` first (or pass the same --name)",
            )
        header, arrays = load_archive(
            path, family=FAMILY, format_version=FORMAT_VERSION, what="segment model"
        )
        try:
            model = SegmentModel.from_state(unpack(header["tree"], arrays))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"damaged segment model file ({type(exc).__name__}: {exc})", file=str(path)
            ) from exc
        model.format_version = int(header["format_version"])
        return model

    # ------------------------------------------------------------------ use
    def assign(
        self, store: Store, users: Sequence[str], *, place_on_map: bool = True
    ) -> pd.DataFrame:
        """Segment of each user from their data in ``store``, without refitting.

        Returns columns ``user_id, segment, segment_name, top_genres`` (+ ``x, y`` when the
        model has a t-SNE map and ``place_on_map``).

        Raises
        ------
        UnknownIdError
            A user has no data in the store.
        """
        known = set(candidate_users(store, only=users))
        missing = [u for u in users if u not in known]
        if missing:
            raise UnknownIdError("user", missing, hint="ingest the user's events first")
        feats = self.builder.transform(store, users)
        seg = self.segmenter.predict(feats)
        names = self.names
        out = pd.DataFrame(
            {
                "user_id": list(feats.index),
                "segment": seg,
                "segment_name": [names.get(int(s), "") for s in seg],
                "top_genres": top_genres(feats).to_numpy(),
            }
        )
        if place_on_map and self.map_method == "tsne" and self.xy is not None:
            from encore.segments.mapping import place

            assert self.segmenter.train_z is not None
            xy = place(
                self.segmenter.train_z,
                self.xy,
                self.segmenter.prepare(feats),
                seed=self.segmenter.seed,
                embedding=self.map_embedding(),
            )
            out["x"], out["y"] = xy[:, 0], xy[:, 1]
        return out

    def map_embedding(self) -> Any:
        """The saved t-SNE map as an embedding to place users into, built on first use and
        kept with this model (a loaded model places every later user without rebuilding
        the neighbour index); None without a t-SNE map."""
        if self.map_method != "tsne" or self.xy is None or self.segmenter.train_z is None:
            return None
        if self._embedding is None:
            from encore.segments.mapping import map_embedding

            self._embedding = map_embedding(
                self.segmenter.train_z, self.xy, seed=self.segmenter.seed
            )
        return self._embedding


def fit_segments(
    store: Store,
    *,
    name: str = "default",
    namespace: str | None = None,
    users: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    method: str = "kmeans",
    k: int | None = None,
    k_range: tuple[int, int] = (2, 10),
    seed: int = 0,
    n_seeds: int = 5,
    since: datetime | None = None,
    until: datetime | None = None,
    sample: int | None = None,
    map_method: str | None = "tsne",
    min_coverage: float = 0.3,
    friends_permutations: int = 1000,
    n_jobs: int = 1,
) -> SegmentModel:
    """Build features, cluster, profile, check against friends and attributes, embed.

    Parameters
    ----------
    namespace:
        Only users whose id starts with ``"<namespace>:"`` (e.g. ``"hetrec"``).
    users:
        Explicit user ids (overrides ``namespace``).
    sample:
        Fit on a seeded random sample of this many users.
    map_method:
        ``"tsne"``, ``"umap"`` or ``None`` (no map).
    n_jobs:
        Threads for clustering and t-SNE (1 is fastest on a busy machine).

    Raises
    ------
    DataError
        No users or no usable feature.
    ConfigError
        Bad option values.
    """
    import time

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    # options are checked before any work
    segmenter = Segmenter(
        method=method,
        k=k,
        k_range=k_range,
        seed=seed,
        n_seeds=n_seeds,
        min_coverage=min_coverage,
        n_jobs=n_jobs,
    )
    if map_method is not None and map_method not in ("tsne", "umap"):
        raise ConfigError(f"unknown map method {map_method!r}", hint="use tsne, umap or none")
    ids = list(users) if users is not None else candidate_users(store, namespace)
    if not ids:
        where = f" in namespace {namespace!r}" if namespace else ""
        raise DataError(f"no users{where} in the store", hint="ingest data first, or check --users")
    if sample is not None:
        if sample < 3:
            raise ConfigError(f"--sample must be at least 3, got {sample}")
        if sample < len(ids):
            rng = np.random.default_rng(seed)
            ids = sorted(
                rng.choice(np.array(ids, dtype=object), size=sample, replace=False).tolist()
            )
    builder = FeatureBuilder(
        groups=tuple(groups) if groups else GROUPS, since=since, until=until, seed=seed
    )
    builder.fit(store, ids)
    feats = builder.transform(store, ids)
    # users with no information at all cannot be placed anywhere meaningful
    has_any = feats.notna().any(axis=1)
    if not has_any.all():
        log.info("dropping %d users without any feature", int((~has_any).sum()))
        feats = feats[has_any]
    seconds["features"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    labels = segmenter.fit(feats)
    seconds["cluster"] = time.perf_counter() - t1
    lab = pd.Series(labels, index=feats.index)
    t2 = time.perf_counter()
    prof = profiles(store, feats, lab)
    friends = friends_check(store, lab, n_permutations=friends_permutations, seed=seed)
    agree = agreement(lab, known_attributes(store, list(feats.index)))
    seconds["profile"] = time.perf_counter() - t2
    xy = None
    if map_method is not None:
        from encore.segments.mapping import embed

        t3 = time.perf_counter()
        assert segmenter.train_z is not None
        xy = embed(segmenter.train_z, method=map_method, seed=seed, n_jobs=n_jobs)
        seconds["map"] = time.perf_counter() - t3
    seconds["total"] = time.perf_counter() - t0
    return SegmentModel(
        name=name,
        builder=builder,
        segmenter=segmenter,
        user_ids=list(feats.index),
        labels=labels,
        profiles=prof,
        fitted_at=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        namespace=namespace,
        xy=xy,
        map_method=map_method,
        top_genres=top_genres(feats).tolist(),
        friends=friends,
        agreement=agree,
        seconds=seconds,
    )


def write_assignments(store: Store, model: SegmentModel, extra: pd.DataFrame | None = None) -> int:
    """Replace the model's rows of ``user_segments`` with its assignments; return rows written.

    ``extra`` (``user_id, segment``) adds users assigned after the fit (e.g. the rest of a
    sampled population).
    """
    frame = pd.DataFrame({"user_id": model.user_ids, "segment": model.labels.astype(np.int64)})
    if extra is not None and not extra.empty:
        frame = pd.concat(
            [frame, extra[["user_id", "segment"]]], ignore_index=True
        ).drop_duplicates("user_id")
    return store_assignments(store, model, frame, replace=True)


def store_assignments(
    store: Store, model: SegmentModel, assigned: pd.DataFrame, *, replace: bool
) -> int:
    """Write ``assigned`` (``user_id, segment``) as ``model``'s rows of ``user_segments``.

    The one writer of the table (schema migration 3 creates it). With ``replace`` every
    earlier row of the model goes first (a new fit); without, only those users' rows (users
    assigned later with ``encore segments assign --save``). Segment names come from the
    model. Returns the rows written.
    """
    names = model.names
    frame = pd.DataFrame(
        {
            "user_id": assigned["user_id"].astype(str).to_numpy(),
            "segment": assigned["segment"].to_numpy(dtype=np.int64),
        }
    )
    frame["segment_name"] = [names.get(int(s), "") for s in frame["segment"]]
    frame["model"] = model.name
    frame["fitted_at"] = pd.Timestamp(model.fitted_at)
    with store.transaction() as con:
        con.register("_seg_out", frame)
        try:
            if replace:
                con.execute("DELETE FROM user_segments WHERE model = ?", [model.name])
            else:
                con.execute(
                    "DELETE FROM user_segments WHERE model = ? "
                    "AND user_id IN (SELECT user_id FROM _seg_out)",
                    [model.name],
                )
            con.execute(
                "INSERT INTO user_segments SELECT user_id, CAST(segment AS INTEGER), "
                "segment_name, model, CAST(fitted_at AS TIMESTAMP) FROM _seg_out"
            )
        finally:
            con.unregister("_seg_out")
    return len(frame)

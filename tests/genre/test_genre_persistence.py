"""Saving genre models without pickle: save -> load predicts exactly the same."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encore.errors import DataError, NotFittedError
from encore.genre.base import FAMILY, FORMAT_VERSION, GenreModel, load_model, make_model, model_path
from encore.genre.evaluate import artist_split
from encore.genre.features import GenreData, new_item
from encore.persistence import save_archive


def _roundtrip(model: GenreModel, tmp_path: Path) -> GenreModel:
    path = model.save(model_path(tmp_path, model.name, "x"))
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as npz:  # arrays only: nothing to unpickle
        assert "header" in npz.files
    loaded = load_model(tmp_path, model.name, "x")
    assert type(loaded) is type(model) and loaded is not model
    assert loaded.classes_ == model.classes_ and loaded.params() == model.params()
    assert (loaded.dataset_, loaded.level_) == (model.dataset_, model.level_)
    np.testing.assert_array_equal(loaded.users_, model.users_)
    assert loaded.users_.dtype == object
    return loaded


def _same_predictions(a: GenreModel, b: GenreModel, data: GenreData, idx: np.ndarray) -> None:
    np.testing.assert_array_equal(a.predict_proba(data, idx), b.predict_proba(data, idx))


@pytest.fixture(scope="module")
def hetrec_small(hetrec: GenreData) -> GenreData:
    return hetrec.subset(np.arange(1200))


@pytest.fixture(scope="module")
def tcc_small(tcc: GenreData) -> GenreData:
    return tcc.subset(np.arange(min(len(tcc), 1500)))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("majority", {}),
        ("artist_prior", {}),
        ("logreg", {"groups": ("text", "meta")}),
        ("lightgbm", {"n_estimators": 15, "n_jobs": 1, "groups": ("text", "meta")}),
    ],
)
def test_track_models_roundtrip(
    tcc_small: GenreData, tmp_path: Path, name: str, options: dict[str, Any]
) -> None:
    data = tcc_small
    tr, te = artist_split(data, seed=0)
    model = make_model(name, seed=3, **options).fit(data, tr)
    loaded = _roundtrip(model, tmp_path)
    _same_predictions(model, loaded, data, te)
    _same_predictions(model, loaded, data, tr[:200])  # training rows (own labels left out)
    if name == "artist_prior":
        assert loaded.counts_.keys() == model.counts_.keys()  # type: ignore[attr-defined]
        assert loaded.coverage_ > 0  # type: ignore[attr-defined]  # some artists were known
    # an item that is not in the store (no listeners), as `encore genre predict --title`
    one = new_item(
        "track", model.users_, model.numeric_columns_, artist="Johnny Cash", title="Hurt"
    )
    _same_predictions(model, loaded, one, np.arange(1))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("logreg", {"n_factors": 8}),  # every group, ALS item factors included
        ("lightgbm", {"n_estimators": 10, "n_jobs": 1, "n_factors": 4}),
    ],
)
def test_listener_models_roundtrip(
    hetrec_small: GenreData, tmp_path: Path, name: str, options: dict[str, Any]
) -> None:
    data = hetrec_small
    tr, te = artist_split(data, seed=0)
    model = make_model(name, seed=1, **options).fit(data, tr)
    loaded = _roundtrip(model, tmp_path)
    _same_predictions(model, loaded, data, te)
    # a subset has other rows than ALS was fitted on: factors are recomputed from listeners
    part = data.subset(te[:40])
    _same_predictions(model, loaded, part, np.arange(len(part)))


def test_vae_roundtrip(hetrec_small: GenreData, tmp_path: Path) -> None:
    data = hetrec_small
    tr, te = artist_split(data, seed=0)
    unl = np.flatnonzero(data.items["genre"].isna().to_numpy())
    opts = {"epochs": 2, "patience": 5, "hidden": 32, "latent": 8, "batch_size": 128}
    model = make_model("vae", seed=2, **opts).fit(data, tr, unl)
    loaded = _roundtrip(model, tmp_path)
    _same_predictions(model, loaded, data, te)
    assert loaded.history_.rows == model.history_.rows  # type: ignore[attr-defined]
    assert loaded.svd_ is not None  # the side features went through the SVD
    plain = make_model("vae", seed=2, use_side=False, **opts).fit(data, tr, unl)
    _same_predictions(plain, _roundtrip(plain, tmp_path), data, te)


def test_unfitted_model_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        make_model("majority").save(tmp_path / "m.npz")


def test_file_of_another_family_or_version(tcc: GenreData, tmp_path: Path) -> None:
    path = model_path(tmp_path, "majority", "tcc_ceds")
    save_archive(path, family="encore-segment-model", format_version=1, header={}, arrays={})
    with pytest.raises(DataError, match="encore-segment-model"):
        load_model(tmp_path, "majority", "tcc_ceds")
    save_archive(path, family=FAMILY, format_version=FORMAT_VERSION + 1, header={}, arrays={})
    with pytest.raises(DataError, match="newer"):
        load_model(tmp_path, "majority", "tcc_ceds")
    save_archive(
        path, family=FAMILY, format_version=FORMAT_VERSION, header={"model": "nope"}, arrays={}
    )
    with pytest.raises(DataError, match="unknown genre model 'nope'"):
        load_model(tmp_path, "majority", "tcc_ceds")
    save_archive(
        path, family=FAMILY, format_version=FORMAT_VERSION, header={"model": "majority"}, arrays={}
    )
    with pytest.raises(DataError, match="damaged genre model file"):
        load_model(tmp_path, "majority", "tcc_ceds")


def test_pickle_of_an_older_encore_is_a_clear_error(tmp_path: Path) -> None:
    old = tmp_path / "majority-tcc_ceds.pkl"
    old.write_bytes(pickle.dumps({"an": "old model"}))
    with pytest.raises(DataError, match="pickle") as err:
        load_model(tmp_path, "majority", "tcc_ceds")
    assert "encore genre train --model majority --dataset tcc_ceds" in (err.value.hint or "")
    with pytest.raises(DataError, match="not a readable"):
        GenreModel.load(old)  # the file itself is never unpickled

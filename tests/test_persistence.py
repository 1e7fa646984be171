"""The one model-file format: archives, family and version checks, and the state helpers."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from encore.errors import DataError
from encore.persistence import (
    array_text,
    estimator_from_state,
    estimator_state,
    frame_from_tree,
    frame_tree,
    load_archive,
    pack,
    save_archive,
    text_array,
    unpack,
)


def _through_file(tree: object, tmp_path: Path) -> object:
    """``tree`` packed, saved, loaded and unpacked again."""
    arrays: dict[str, np.ndarray] = {}
    header = {"tree": pack(tree, arrays)}
    path = save_archive(
        tmp_path / "t", family="encore-test", format_version=1, header=header, arrays=arrays
    )
    back, data = load_archive(path, family="encore-test", format_version=1)
    return unpack(back["tree"], data)


def test_pack_roundtrip_of_a_tree(tmp_path: Path) -> None:
    tree = {
        "a": np.arange(5, dtype=np.int32),
        "b": [1, 2.5, None, "x", True, (1, "y")],
        "m": sp.random(6, 4, density=0.5, random_state=0, format="csr"),
        "nested": {"z": np.ones((2, 3)), "nan": float("nan")},
    }
    back = _through_file(tree, tmp_path)
    assert isinstance(back, dict)
    np.testing.assert_array_equal(back["a"], tree["a"])
    assert back["a"].dtype == np.int32
    assert back["b"] == [1, 2.5, None, "x", True, (1, "y")]
    assert (back["m"] != tree["m"]).nnz == 0
    assert np.isnan(back["nested"]["nan"])


def test_archive_checks_family_version_and_pickles(tmp_path: Path) -> None:
    path = save_archive(
        tmp_path / "m.npz", family="encore-a", format_version=2, header={}, arrays={}
    )
    assert load_archive(path, family="encore-a", format_version=2)[0]["format_version"] == 2
    with pytest.raises(DataError, match="'encore-a' archive, not an 'encore-b'"):
        load_archive(path, family="encore-b", format_version=2)
    with pytest.raises(DataError, match="newer than this Encore reads"):
        load_archive(path, family="encore-a", format_version=1)
    old = tmp_path / "old.pkl"
    old.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(DataError, match="not a readable") as err:
        load_archive(old, family="encore-a", format_version=2)
    assert "pickle" in (err.value.hint or "")
    with pytest.raises(DataError, match="no such"):
        load_archive(tmp_path / "none.npz", family="encore-a", format_version=2)


def test_text_array() -> None:
    text = "tree\n  split=1.5e-300 ü ✓\n" * 100
    arr = text_array(text)
    assert arr.dtype == np.uint8 and array_text(arr) == text


def test_estimator_state_rebuilds_without_refit(tmp_path: Path) -> None:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = sp.random(50, 20, density=0.3, random_state=1, format="csr")
    svd = TruncatedSVD(4, random_state=0).fit(x)
    state = estimator_state(svd, ("components_", "n_features_in_"))
    back = estimator_from_state(TruncatedSVD, _through_file(state, tmp_path))  # type: ignore[arg-type]
    np.testing.assert_array_equal(back.transform(x), svd.transform(x))
    # a numpy scalar type as a parameter (dtype=np.float32) is written by name
    vec = TfidfVectorizer(dtype=np.float32).fit(["aa bb cc", "bb cc dd", "cc dd ee"])
    params = estimator_state(vec, ())["params"]
    assert json.loads(json.dumps(params))["dtype"] == {"__dtype__": "float32"}
    assert estimator_from_state(TfidfVectorizer, estimator_state(vec, ())).dtype is np.float32


def test_frame_tree_keeps_dtypes_and_gaps(tmp_path: Path) -> None:
    frames = [
        pd.DataFrame(
            {
                "segment": [0, 1, 2],
                "name": ["a", "b", "c"],
                "share": [0.5, 0.25, np.nan],
                "countries": ["DE 50%", None, "US 10%"],
                "flag": [True, False, True],
                "when": pd.to_datetime(["2020-01-01", None, "2021-05-06"]),
            }
        ),
        pd.DataFrame([], columns=["attribute", "users_known", "ami"]),
        pd.DataFrame({"k": [2, 3], "silhouette": [None, None]}),
        pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["u1", "u2"], name="user_id")),
        pd.DataFrame(index=pd.RangeIndex(3)),
    ]
    for frame in frames:
        back = frame_from_tree(_through_file(frame_tree(frame), tmp_path))  # type: ignore[arg-type]
        pd.testing.assert_frame_equal(back, frame, check_exact=True)
    with pytest.raises(TypeError, match="category"):
        frame_tree(pd.DataFrame({"c": pd.Categorical(["a"])}))

"""Clustering, stability, assignment without refit, friends check, persistence (HetRec data)."""

from __future__ import annotations

from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encore.data.store import Store
from encore.errors import ConfigError, DataError, NotFittedError, UnknownIdError
from encore.segments.cluster import Segmenter
from encore.segments.model import SegmentModel, fit_segments, model_dir, write_assignments
from encore.segments.profile import agreement, friends_check


@pytest.fixture(scope="module")
def fitted(hetrec_db: Path) -> SegmentModel:
    with Store(hetrec_db, read_only=True) as s:
        return fit_segments(
            s, namespace="hetrec", sample=500, k_range=(2, 6), friends_permutations=200
        )


def test_fit_on_hetrec(fitted: SegmentModel) -> None:
    seg = fitted.segmenter
    assert len(fitted.user_ids) == 500
    assert 2 <= seg.chosen_k <= 6
    assert set(fitted.labels.tolist()) == set(range(seg.chosen_k))
    # k was chosen by the best silhouette of the saved curve
    assert seg.curve is not None and list(seg.curve["k"]) == [2, 3, 4, 5, 6]
    assert seg.chosen_k == int(seg.curve.loc[seg.curve["silhouette"].idxmax(), "k"])
    assert seg.silhouette is not None and -1 <= seg.silhouette <= 1
    # sizes ordered largest first; every segment named, names unique
    sizes = np.bincount(fitted.labels)
    assert list(sizes) == sorted(sizes, reverse=True)
    names = fitted.names
    assert len(set(names.values())) == len(names) and all(names.values())
    prof = fitted.profiles
    assert prof["users"].sum() == 500
    assert prof["top_genres"].str.len().gt(0).all() and prof["top_artists"].str.len().gt(0).all()
    # taste groups present, no demographics in HetRec
    groups = set(fitted.summary()["feature_groups"])
    assert {"genre_plays", "genre_tags", "cf", "mainstream"} <= groups
    assert "tenure" not in groups


def test_ari_between_seeds(fitted: SegmentModel) -> None:
    ari = fitted.segmenter.ari
    assert len(ari) == comb(5, 2)
    assert all(-1.0 <= a <= 1.0 for a in ari)
    s = fitted.summary()
    assert s["ari_min"] <= s["ari_mean"] <= 1.0


def test_friends_check_against_permutations(fitted: SegmentModel) -> None:
    f = fitted.friends
    assert f is not None and f["friend_pairs"] > 0
    assert 0 <= f["same_segment_rate"] <= 1
    # the permutation baseline estimates the analytic chance rate sum(p_k^2)
    assert f["permutation_mean"] == pytest.approx(f["chance_rate"], abs=0.03)
    assert 0 < f["p_value"] <= 1


def test_friends_check_exact(tiny_store: Store) -> None:
    # t:u1 and t:u2 are friends: same segment -> rate 1; different -> 0
    same = friends_check(
        tiny_store, pd.Series([0, 0, 1], index=["t:u1", "t:u2", "t:u3"]), n_permutations=50
    )
    assert same is not None and same["friend_pairs"] == 1 and same["same_segment_rate"] == 1.0
    assert same["chance_rate"] == pytest.approx((2 / 3) ** 2 + (1 / 3) ** 2)
    diff = friends_check(
        tiny_store, pd.Series([0, 1, 1], index=["t:u1", "t:u2", "t:u3"]), n_permutations=50
    )
    assert diff is not None and diff["same_segment_rate"] == 0.0 and diff["p_value"] == 1.0
    assert friends_check(tiny_store, pd.Series([0], index=["t:u3"])) is None


def test_assign_new_user_without_refit(fitted: SegmentModel, hetrec_db: Path) -> None:
    """A new user with an existing user's data lands in that user's segment."""
    with Store(hetrec_db) as s:
        for i in (0, 1, 2):
            original = fitted.user_ids[i * 97]
            s.execute("BEGIN TRANSACTION")
            try:
                for table in ("playcounts", "artist_tags"):
                    cols = [r[0] for r in s.execute(f"DESCRIBE {table}").fetchall()]
                    select = ", ".join("'new:1'" if c == "user_id" else c for c in cols)
                    s.execute(
                        f"INSERT INTO {table} SELECT {select} FROM {table} WHERE user_id = ?",
                        [original],
                    )
                out = fitted.assign(s, ["new:1"])
            finally:
                s.execute("ROLLBACK")
            assert int(out.loc[0, "segment"]) == int(fitted.labels[i * 97])
            assert out.loc[0, "segment_name"] == fitted.names[int(fitted.labels[i * 97])]
            assert np.isfinite(out.loc[0, ["x", "y"]].to_numpy(dtype=float)).all()
        with pytest.raises(UnknownIdError):
            fitted.assign(s, ["hetrec:does-not-exist"])


def test_predict_matches_fit(fitted: SegmentModel, hetrec_db: Path) -> None:
    with Store(hetrec_db, read_only=True) as s:
        out = fitted.assign(s, fitted.user_ids[:60], place_on_map=False)
    np.testing.assert_array_equal(out["segment"].to_numpy(), fitted.labels[:60])


def test_save_load_and_store_table(fitted: SegmentModel, tmp_path: Path) -> None:
    d = model_dir(tmp_path / "x.duckdb")
    assert d == Path(f"{tmp_path / 'x.duckdb'}.segments") / "default"
    fitted.save(d)
    for f in ("model.npz", "curve.csv", "profiles.csv", "summary.json"):
        assert (d / f).exists()
    again = SegmentModel.load(d)
    np.testing.assert_array_equal(again.labels, fitted.labels)
    with pytest.raises(NotFittedError):
        SegmentModel.load(tmp_path / "nothing")
    with Store(tmp_path / "x.duckdb") as s:
        assert write_assignments(s, fitted) == 500
        assert write_assignments(s, fitted) == 500  # replaced, not appended
        cols = [r[0] for r in s.execute("DESCRIBE user_segments").fetchall()]
        assert cols == ["user_id", "segment", "segment_name", "model", "fitted_at"]
        assert s.execute(
            "SELECT count(*), count(DISTINCT model) FROM user_segments"
        ).fetchall() == [(500, 1)]


@pytest.mark.parametrize("method", ["gmm", "hdbscan"])
def test_other_methods(hetrec_db: Path, method: str) -> None:
    with Store(hetrec_db, read_only=True) as s:
        m = fit_segments(
            s,
            namespace="hetrec",
            sample=300,
            method=method,
            k_range=(2, 4),
            n_seeds=3,
            map_method=None,
            friends_permutations=50,
        )
        out = m.assign(s, m.user_ids[:30], place_on_map=False)
    assert m.segmenter.curve is not None
    if method == "gmm":
        assert "bic" in m.segmenter.curve.columns
        best = m.segmenter.curve.loc[m.segmenter.curve["bic"].idxmin(), "k"]
        assert m.segmenter.chosen_k == best
    assert all(-1 <= a <= 1 for a in m.segmenter.ari) and len(m.segmenter.ari) >= 2
    np.testing.assert_array_equal(out["segment"].to_numpy(), m.labels[:30])


def test_demographic_agreement_is_measured(tiny_store: Store) -> None:
    attrs = pd.DataFrame(
        {"gender": ["f", "m"] * 10, "region": ["A"] * 20}, index=[f"u{i}" for i in range(20)]
    )
    labels = pd.Series([0, 1] * 10, index=attrs.index)
    a = agreement(labels, attrs)
    # gender is determined by the segment; the constant region is skipped
    assert list(a["attribute"]) == ["gender"]
    assert a.loc[0, "cramers_v"] == pytest.approx(1.0) and a.loc[0, "ami"] == pytest.approx(1.0)


def test_errors(tiny_store: Store) -> None:
    with pytest.raises(ConfigError):
        Segmenter(method="spectral")
    with pytest.raises(ConfigError):
        Segmenter(k_range=(5, 3))
    with pytest.raises(DataError, match="no users"):
        fit_segments(tiny_store, namespace="nobody")
    with pytest.raises(NotFittedError):
        Segmenter().prepare(pd.DataFrame({"a": [1.0]}))

"""Contract tests for the `pure_svd` recommender."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from contract import RecommenderContract, random_dataset

from encore.recommenders.puresvd import PureSVD
from encore.recommenders.registry import get_model


class TestPureSVD(RecommenderContract):
    model_name: ClassVar[str] = "pure_svd"
    config: ClassVar[dict[str, Any]] = {"factors": 4}


@pytest.mark.parametrize("solver", ["arpack", "randomized"])
def test_scores_are_projection_on_top_singular_vectors(solver: str) -> None:
    ds = random_dataset()
    model = get_model("pure_svd", factors=5, solver=solver).fit(ds)
    assert isinstance(model, PureSVD)
    x = ds.matrix.toarray().astype(np.float64)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(model.singular_values_, s[:5], rtol=1e-3)
    v = vt[:5].T
    user = ds.user_map.external_ids[0]
    rec = model.recommend([user], k=3)
    ref = (x[0] @ v @ v.T)[ds.item_map.to_internal(rec["item_id"])]
    np.testing.assert_allclose(rec["score"], ref, rtol=1e-3, atol=1e-5)


def test_arpack_is_exact_and_deterministic() -> None:
    ds = random_dataset()
    a = get_model("pure_svd", factors=6).fit(ds)
    b = get_model("pure_svd", factors=6).fit(ds)
    assert isinstance(a, PureSVD) and isinstance(b, PureSVD)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    s = np.linalg.svd(ds.matrix.toarray().astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(a.singular_values_, s[:6], rtol=1e-5)
    assert np.all(np.diff(a.singular_values_) <= 0)  # largest first

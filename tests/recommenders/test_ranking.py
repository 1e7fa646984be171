"""The shared-vector ranking fast path gives exactly the dense block's answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from encore.recommenders.ranking import _top_k_shared, top_k


@given(
    n_users=st.integers(1, 6),
    n_items=st.integers(1, 30),
    k=st.integers(1, 35),
    seed=st.integers(0, 10_000),
    exclude=st.booleans(),
    with_candidates=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_shared_vector_equals_dense_block(
    n_users: int, n_items: int, k: int, seed: int, exclude: bool, with_candidates: bool
) -> None:
    rng = np.random.default_rng(seed)
    vector = rng.integers(0, 4, n_items).astype(np.float64)  # many ties on purpose
    vector[rng.random(n_items) < 0.1] = np.nan
    rows = sp.csr_matrix((rng.random((n_users, n_items)) < 0.3).astype(np.float32))
    candidates = rng.random(n_items) < 0.7 if with_candidates else None

    dense = np.tile(vector, (n_users, 1))
    dense[np.isnan(dense)] = -np.inf
    if exclude:
        r, c = rows.nonzero()
        dense[r, c] = -np.inf
    if candidates is not None:
        dense[:, ~candidates] = -np.inf
    got_idx, got_vals = _top_k_shared(vector, n_users, rows if exclude else None, k, candidates)

    # the dense path finds the same scores (it may pick another of several tied items at the cut)
    want_idx, want_vals = top_k(dense, k)
    np.testing.assert_array_equal(got_idx >= 0, want_idx >= 0)
    finite = want_idx >= 0
    np.testing.assert_array_equal(got_vals[finite], want_vals[finite])
    # and the exact order: score descending, then the lower item index, finite scores only
    for u in range(n_users):
        order = [i for i in np.lexsort((np.arange(n_items), -dense[u])) if np.isfinite(dense[u, i])]
        want = order[: min(k, n_items)]
        assert got_idx[u][got_idx[u] >= 0].tolist() == want


@given(seed=st.integers(0, 10_000), k=st.integers(1, 30))
@settings(max_examples=40, deadline=None)
def test_heavy_row_trim_keeps_the_same_neighbours(seed: int, k: int) -> None:
    import encore.recommenders.knn as knn

    rng = np.random.default_rng(seed)
    n_users, n_items = int(rng.integers(2, 8)), int(rng.integers(20, 200))
    counts = (rng.random((n_users, n_items)) < 0.5) * rng.integers(1, 4, (n_users, n_items))
    items = sp.csr_matrix(counts.T.astype(np.float32))  # integer counts: many tied similarities
    old = knn.HEAVY_ROW
    try:
        knn.HEAVY_ROW = 10**9  # never trim: the full sort
        full = knn.top_k_similarity(items, items, k)
        knn.HEAVY_ROW = 4  # trim nearly every row first
        trimmed = knn.top_k_similarity(items, items, k)
    finally:
        knn.HEAVY_ROW = old
    np.testing.assert_array_equal(full.indptr, trimmed.indptr)
    np.testing.assert_array_equal(full.indices, trimmed.indices)
    np.testing.assert_array_equal(full.data, trimmed.data)


@given(
    n_users=st.integers(1, 8),
    n_items=st.integers(1, 3000),
    k=st.integers(1, 40),
    levels=st.sampled_from([2, 5, 1000]),
    seed=st.integers(0, 10_000),
    heavy=st.sampled_from([4096, 1]),
)
@settings(max_examples=150, deadline=None)
def test_top_k_is_the_exact_ranking(
    n_users: int, n_items: int, k: int, levels: int, seed: int, heavy: int
) -> None:
    """Chunk-bounded selection = a full sort by (score desc, item asc), ties at the cut included."""
    import encore.recommenders.ranking as ranking

    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, (n_users, n_items)).astype(
        np.float32
    )  # ties when levels is small
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    scores[rng.random(scores.shape) < 0.02] = np.nan
    scores[rng.random(n_users) < 0.2] = 0.0  # whole rows tied
    want = np.where(np.isnan(scores), -np.inf, scores)
    old_heavy = ranking.TOP_K_HEAVY
    ranking.TOP_K_HEAVY = heavy  # 1: every row takes the exact-partition path
    try:
        idx, vals = top_k(scores.copy(), k)
    finally:
        ranking.TOP_K_HEAVY = old_heavy
    assert idx.shape == (n_users, min(k, n_items))
    for u in range(n_users):
        order = [i for i in np.lexsort((np.arange(n_items), -want[u])) if np.isfinite(want[u, i])]
        expect = order[: min(k, n_items)]
        got = idx[u][idx[u] >= 0].tolist()
        assert got == expect
        assert (idx[u][len(got) :] == -1).all()
        np.testing.assert_array_equal(vals[u][: len(got)], want[u, expect])


@given(seed=st.integers(0, 10_000), k=st.integers(1, 30), block=st.sampled_from([1, 7, 1 << 25]))
@settings(max_examples=60, deadline=None)
def test_top_k_similarity_is_the_exact_neighbour_list(seed: int, k: int, block: int) -> None:
    """Each row keeps its k largest positive off-diagonal products, ties to the lower column."""
    import encore.recommenders.knn as knn

    rng = np.random.default_rng(seed)
    n_users, n_items = int(rng.integers(1, 8)), int(rng.integers(1, 120))
    counts = (rng.random((n_users, n_items)) < 0.4) * rng.integers(1, 4, (n_users, n_items))
    items = sp.csr_matrix(counts.T.astype(np.float32))
    got = knn.top_k_similarity(items, items, k, block_floats=block * n_items)
    full = (items @ items.T).toarray().astype(np.float32)
    np.fill_diagonal(full, 0.0)
    for i in range(n_items):
        order = [j for j in np.lexsort((np.arange(n_items), -full[i])) if full[i, j] > 0][:k]
        row = got.getrow(i)
        assert sorted(row.indices.tolist()) == sorted(order)
        np.testing.assert_array_equal(row.toarray()[0, order], full[i, order])


@given(
    n_users=st.integers(1, 10),
    n_items=st.sampled_from([1, 5, 50, 200, 3000]),
    k=st.integers(1, 30),
    density=st.sampled_from([0.02, 0.2, 0.9]),
    negative=st.booleans(),
    exclude=st.booleans(),
    with_candidates=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=200, deadline=None)
def test_sparse_scores_rank_as_the_dense_block(
    n_users: int,
    n_items: int,
    k: int,
    density: float,
    negative: bool,
    exclude: bool,
    with_candidates: bool,
    dtype: type,
    seed: int,
) -> None:
    """A sparse score block (unstored = 0) gives exactly the dense block's top k."""
    from encore.recommenders.ranking import _top_k_sparse

    rng = np.random.default_rng(seed)
    vals = rng.integers(-2 if negative else 1, 4, (n_users, n_items)).astype(dtype)  # ties
    vals[rng.random(vals.shape) > density] = 0.0
    scores = sp.csr_matrix(vals)
    rows = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2).astype(np.float32))
    candidates = rng.random(n_items) < 0.7 if with_candidates else None
    dense = vals.astype(np.float64)
    if exclude:
        r, c = rows.nonzero()
        dense[r, c] = -np.inf
    if candidates is not None:
        dense[:, ~candidates] = -np.inf
    want_idx, want_vals = top_k(dense, k)
    got_idx, got_vals = _top_k_sparse(scores, rows, k, exclude, candidates)
    np.testing.assert_array_equal(got_idx, want_idx)
    np.testing.assert_array_equal(got_vals[got_idx >= 0], want_vals[want_idx >= 0])


@pytest.mark.parametrize("model_name", ["item_knn", "user_knn", "als"])
def test_threaded_ranking_equals_sequential(
    model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks ranked beside the scoring give exactly the one-thread answer, in user order."""
    from contract import random_dataset

    import encore.recommenders.ranking as ranking
    from encore.recommenders.registry import get_model

    ds = random_dataset()
    model = get_model(model_name).fit(ds)
    users = ds.user_map.external_ids
    monkeypatch.setattr(ranking, "SCORE_BLOCK_FLOATS", 3 * model.n_items)  # 3 users per block
    monkeypatch.setenv("ENCORE_NUM_THREADS", "1")
    one = model.recommend(users, k=5)
    monkeypatch.setenv("ENCORE_NUM_THREADS", "3")
    many = model.recommend(users, k=5)
    pd.testing.assert_frame_equal(one, many)
    assert list(pd.unique(many["user_id"])) == list(pd.unique(one["user_id"]))


def test_bad_thread_count_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from encore.errors import ConfigError
    from encore.recommenders.ranking import rank_threads

    monkeypatch.setenv("ENCORE_NUM_THREADS", "two")
    with pytest.raises(ConfigError, match="ENCORE_NUM_THREADS"):
        rank_threads()
    monkeypatch.setenv("ENCORE_NUM_THREADS", "0")
    assert rank_threads() == 1

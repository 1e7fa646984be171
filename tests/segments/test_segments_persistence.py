"""Segment models saved without pickle, and the ``user_segments`` table (schema v3)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from encore.data.schema import MIGRATIONS
from encore.data.store import Store
from encore.errors import DataError, NotFittedError
from encore.persistence import save_archive
from encore.segments.features import candidate_users
from encore.segments.model import (
    FAMILY,
    FORMAT_VERSION,
    MODEL_FILE,
    SegmentModel,
    fit_segments,
    store_assignments,
    write_assignments,
)


def _fit(db: Path, method: str, map_method: str | None) -> SegmentModel:
    with Store(db, read_only=True) as s:
        return fit_segments(
            s,
            namespace="hetrec",
            sample=250,
            method=method,
            k_range=(2, 4),
            n_seeds=2,
            map_method=map_method,
            friends_permutations=20,
        )


def _assert_same_model(a: SegmentModel, b: SegmentModel) -> None:
    assert json.dumps(a.summary(), default=str) == json.dumps(b.summary(), default=str)
    assert a.user_ids == b.user_ids and a.top_genres == b.top_genres and a.names == b.names
    np.testing.assert_array_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.profiles, b.profiles, check_exact=True)
    if a.agreement is None:
        assert b.agreement is None
    else:
        assert b.agreement is not None
        pd.testing.assert_frame_equal(a.agreement, b.agreement, check_exact=True)
    sa, sb = a.segmenter, b.segmenter
    assert sa.curve is not None and sb.curve is not None
    pd.testing.assert_frame_equal(sa.curve, sb.curve, check_exact=True)
    assert sa.relabel == sb.relabel and sa.columns == sb.columns and sa.ari == sb.ari
    np.testing.assert_array_equal(sa.train_z, sb.train_z)
    assert a.builder.window_end == b.builder.window_end
    assert a.builder.regions == b.builder.regions
    if a.xy is None:
        assert b.xy is None
    else:
        np.testing.assert_array_equal(a.xy, b.xy)


@pytest.mark.parametrize(
    ("method", "map_method"), [("kmeans", "tsne"), ("gmm", None), ("hdbscan", None)]
)
def test_save_load_assigns_identically(
    hetrec_db: Path, tmp_path: Path, method: str, map_method: str | None
) -> None:
    model = _fit(hetrec_db, method, map_method)
    path = model.save(tmp_path / "m")
    assert path == tmp_path / "m" / MODEL_FILE
    with np.load(path, allow_pickle=False) as npz:  # arrays and JSON only
        assert "header" in npz.files
    again = SegmentModel.load(tmp_path / "m")
    assert again.format_version == FORMAT_VERSION
    _assert_same_model(model, again)
    with Store(hetrec_db, read_only=True) as s:
        fitted = model.user_ids[:25]
        others = sorted(set(candidate_users(s, "hetrec")) - set(model.user_ids))[:25]
        for users in (fitted, others):
            pd.testing.assert_frame_equal(
                again.assign(s, users), model.assign(s, users), check_exact=True
            )
    if map_method == "tsne":
        with Store(hetrec_db, read_only=True) as s:
            assert {"x", "y"} <= set(again.assign(s, others[:3]).columns)


def test_other_family_newer_version_and_old_pickle(tmp_path: Path) -> None:
    d = tmp_path / "seg"
    d.mkdir()
    save_archive(
        d / MODEL_FILE, family="encore-genre-model", format_version=1, header={}, arrays={}
    )
    with pytest.raises(DataError, match="encore-genre-model"):
        SegmentModel.load(d)
    save_archive(
        d / MODEL_FILE, family=FAMILY, format_version=FORMAT_VERSION + 1, header={}, arrays={}
    )
    with pytest.raises(DataError, match="newer"):
        SegmentModel.load(d)
    save_archive(d / MODEL_FILE, family=FAMILY, format_version=FORMAT_VERSION, header={}, arrays={})
    with pytest.raises(DataError, match="damaged segment model file"):
        SegmentModel.load(d)
    (d / MODEL_FILE).write_bytes(pickle.dumps({"not": "an archive"}))
    with pytest.raises(DataError, match="not a readable"):
        SegmentModel.load(d)  # never unpickled
    (d / MODEL_FILE).unlink()
    (d / "model.pkl").write_bytes(pickle.dumps({"an": "old model"}))
    with pytest.raises(DataError, match="older Encore as a pickle") as err:
        SegmentModel.load(d)
    assert "encore segments fit --name seg" in (err.value.hint or "")
    with pytest.raises(NotFittedError):
        SegmentModel.load(tmp_path / "nothing")


def test_store_assignments_replaces_model_or_users(hetrec_db: Path, tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "s.duckdb"
    shutil.copy(hetrec_db, db)
    model = _fit(hetrec_db, "kmeans", None)
    with Store(db) as s:
        assert write_assignments(s, model) == 250
        first = model.user_ids[0]
        moved = pd.DataFrame({"user_id": [first, "hetrec:new"], "segment": [1, 0]})
        assert store_assignments(s, model, moved, replace=False) == 2
        rows = s.df("SELECT * FROM user_segments ORDER BY user_id")
        assert len(rows) == 251 and rows["model"].unique().tolist() == ["default"]
        one = rows.set_index("user_id").loc[first]
        assert one["segment"] == 1 and one["segment_name"] == model.names[1]
        assert write_assignments(s, model) == 250  # a new fit replaces every row of the model
        assert s.scalar("SELECT count(*) FROM user_segments") == 250


def test_v2_store_is_upgraded_in_place(tmp_path: Path, v2_store: Callable[[Path], None]) -> None:
    fresh, kept = tmp_path / "fresh.duckdb", tmp_path / "kept.duckdb"
    v2_store(fresh)
    v2_store(kept)
    con = duckdb.connect(str(kept))  # the table earlier versions created on the first fit
    con.execute(
        "CREATE TABLE user_segments (user_id VARCHAR, segment INTEGER, segment_name VARCHAR, "
        "model VARCHAR, fitted_at TIMESTAMP)"
    )
    con.execute("INSERT INTO user_segments VALUES ('u1', 0, 'rock', 'default', NULL)")
    con.close()
    with Store(fresh, read_only=True) as s:
        assert s.schema_version() == 2
    for path, rows in ((fresh, 0), (kept, 1)):
        with Store(path) as s:  # a writable open applies the pending migration
            assert s.schema_version() == MIGRATIONS[-1].version >= 3
            cols = [r[0] for r in s.execute("DESCRIBE user_segments").fetchall()]
            assert cols == ["user_id", "segment", "segment_name", "model", "fitted_at"]
            assert s.scalar("SELECT count(*) FROM user_segments") == rows

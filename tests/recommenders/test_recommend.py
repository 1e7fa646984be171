"""The recommend path: users resolved before any fitting, saved models, named answers; CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store
from encore.errors import ConfigError, UnknownIdError
from encore.recommenders import recommend as rec

pytest.importorskip("lightgbm")
runner = CliRunner()


@pytest.fixture(scope="module")
def trained_db(
    listeners_db: Path, listeners_for_you: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the listeners' store with the session's for_you saved beside it (small
    settings: one training cut, 60 trees)."""
    db = tmp_path_factory.mktemp("trained") / "store.duckdb"
    shutil.copy(listeners_db, db)
    path = rec.model_file(db, "for_you", "track")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(listeners_for_you, path)
    manifest = {path.name: {"model": "for_you", "level": "track", **_state(db)}}
    (rec.models_dir(db) / rec.MANIFEST).write_text(json.dumps(manifest))
    return db


def _state(db: Path) -> dict[str, int]:
    with Store(db, read_only=True) as store:
        return rec._store_state(store)


def test_resolve_user_suggests_the_namespaced_id(listeners_db: Path) -> None:
    with Store(listeners_db, read_only=True) as store:
        assert rec.resolve_user(store, "lh:user_05") == "lh:user_05"
        with pytest.raises(UnknownIdError) as err:
            rec.resolve_user(store, "user_05")
        assert err.value.hint is not None and "did you mean lh:user_05?" in err.value.hint
        with pytest.raises(UnknownIdError, match="nobody"):
            rec.resolve_user(store, "nobody")


def test_unknown_user_is_refused_before_any_fit(
    listeners_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("fitted before checking the user")

    monkeypatch.setattr(rec, "fit_model", boom)
    res = runner.invoke(app, ["recommend", "user_05", "--db", str(listeners_db)])
    assert res.exit_code == 66, res.output
    assert "lh:user_05" in res.output


def test_saved_model_answers_with_named_new_tracks(trained_db: Path) -> None:
    res = runner.invoke(
        app, ["recommend", "lh:user_05", "-n", "12", "--db", str(trained_db), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 12
    assert all(r["name"] and r["artist"] and r["because"] for r in rows)
    assert any(r["because"].startswith("new from ") for r in rows)
    assert any(r["because"].startswith("listeners of ") for r in rows)
    assert "loaded for_you" in res.stderr


def test_store_changed_after_training_is_said(trained_db: Path, tmp_path: Path) -> None:
    with Store(trained_db, read_only=True) as store:
        loaded = rec.get_model_for(store, trained_db, "for_you")
    assert loaded.how == "loaded" and not loaded.notes
    manifest = json.loads((rec.models_dir(trained_db) / rec.MANIFEST).read_text())
    for entry in manifest.values():
        entry["last_ingest"] = -1
    (rec.models_dir(trained_db) / rec.MANIFEST).write_text(json.dumps(manifest))
    with Store(trained_db, read_only=True) as store:
        loaded = rec.get_model_for(store, trained_db, "for_you")
    assert loaded.notes and "encore train" in loaded.notes[0]


def test_listener_options_and_refusals(trained_db: Path) -> None:
    with Store(trained_db, read_only=True) as store:
        model = rec.load_model(rec.model_file(trained_db, "for_you", "track"))
        found = rec.recommend_for_user(
            store, model, "lh:user_13", 10, new_artists_only=True, max_per_artist=1
        )
        assert len(found.table) == 10 and found.table["artist"].is_unique
        with pytest.raises(ConfigError):
            rec.recommend_for_user(store, model, "lh:user_13", 0)
        with pytest.raises(ConfigError, match="recommends tracks"):
            rec.fit_model(store, "for_you", level="artist")
    res = runner.invoke(
        app,
        [
            "recommend",
            "lh:user_13",
            "--model",
            "popular",
            "--new-artists-only",
            "--db",
            str(trained_db),
        ],
    )
    assert res.exit_code != 0 and "for_you" in res.output


def test_train_command_saves_and_lists(trained_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    shutil.copy(trained_db, db)
    res = runner.invoke(
        app,
        [
            "train",
            "--model",
            "item_knn",
            "--level",
            "artist",
            "--data",
            "hetrec2011",
            "--db",
            str(db),
        ],
    )
    assert res.exit_code == 0, res.output
    saved = rec.model_file(db, "item_knn", "artist", "hetrec2011")
    assert saved.is_file()
    manifest = json.loads((rec.models_dir(db) / rec.MANIFEST).read_text())
    assert manifest[saved.name]["model"] == "item_knn"
    res = runner.invoke(
        app,
        [
            "recommend",
            "hetrec:2",
            "--level",
            "artist",
            "--data",
            "hetrec2011",
            "--explain",
            "--db",
            str(db),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "loaded item_knn" in res.stderr
    rows = json.loads(res.stdout)
    assert len(rows) == 10 and all(r["because"] for r in rows)

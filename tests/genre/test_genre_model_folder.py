"""Where ``encore genre train`` keeps a model and where ``predict`` finds it: beside the
store (``<store>.models/genre/``), ``--model-dir`` / ``ENCORE_GENRE_MODELS`` over it, the
shared ``<cache>/models/genre`` of earlier versions read as a fallback with a note.

Small settings, said as such: the models here are ``majority`` (a fit in milliseconds) on
the real HetRec artists, so that the tests are about folders and not about fitting; two
stores are told apart by their labels (store B calls every rock artist jazz)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.store import Store
from encore.genre.saved import find, shared_dir, store_dir

runner = CliRunner()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``ENCORE_CACHE`` (the machine's own shared folder is never read) and no
    ``ENCORE_GENRE_MODELS``."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ENCORE_CACHE", str(root))
    monkeypatch.delenv("ENCORE_GENRE_MODELS", raising=False)
    return root


@pytest.fixture
def two_stores(genre_db: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of the HetRec + tcc_ceds store; in B every rock artist is jazz."""
    a, b = tmp_path / "a" / "store.duckdb", tmp_path / "b" / "store.duckdb"
    for db in (a, b):
        db.parent.mkdir()
        shutil.copy(genre_db, db)
    with Store(b) as store:
        store.execute("UPDATE artists SET genre = 'jazz' WHERE genre = 'rock'")
    return a, b


def _artist(db: Path) -> int:
    """A HetRec artist of the store with listeners (the same id in both copies)."""
    with Store(db, read_only=True) as store:
        row = store.execute(
            "SELECT artist_id FROM artists WHERE source = 'hetrec2011' AND genre IS NOT NULL "
            "ORDER BY artist_id LIMIT 1"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _train(db: Path, *extra: str) -> dict[str, object]:
    r = runner.invoke(
        app, ["genre", "train", "--model", "majority", "--db", str(db), *extra, "-f", "json"]
    )
    assert r.exit_code == 0, r.output
    info: dict[str, object] = json.loads(r.stdout)
    return info


def _top(db: Path, item: int, *extra: str) -> tuple[str, str]:
    """The top genre ``genre predict ITEM --model majority`` gives, and what it said on stderr."""
    r = runner.invoke(
        app,
        [
            "genre",
            "predict",
            str(item),
            "--model",
            "majority",
            "--db",
            str(db),
            *extra,
            "-f",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)[0]["genre"], r.stderr


def test_train_and_predict_on_two_stores_keep_their_own_models(
    two_stores: tuple[Path, Path], cache: Path
) -> None:
    a, b = two_stores
    item = _artist(a)
    saved = Path(str(_train(a)["saved"]))
    assert saved == a.parent / "store.duckdb.models" / "genre" / "majority-hetrec.npz"
    assert saved.exists() and not cache.exists()  # nothing in the shared cache

    # B has no model of its own: A's is not used for it
    r = runner.invoke(app, ["genre", "predict", str(item), "--model", "majority", "--db", str(b)])
    assert r.exit_code == 70, r.output
    assert f"in {b}.models/genre" in r.stderr
    assert f"encore genre train --db {b} --model majority --dataset hetrec" in r.stderr

    _train(b)
    top_a, said_a = _top(a, item)
    top_b, said_b = _top(b, item)
    assert (top_a, top_b) == ("rock", "jazz")  # each store's labels, so each store's model
    assert "note" not in said_a + said_b


def test_a_model_of_the_shared_folder_is_read_with_a_note(
    two_stores: tuple[Path, Path], cache: Path
) -> None:
    a, b = two_stores
    item = _artist(a)
    old = shared_dir()
    assert old == cache / "models" / "genre"
    _train(a, "--model-dir", str(old))  # as Encore before 2026-12 saved it
    assert not (store_dir(b) or Path("/")).exists()

    top, said = _top(b, item)
    assert top == "rock"  # A's model, the only one there is
    assert said.count("note:") == 1 and str(old) in said
    assert f"encore genre train --db {b} --model majority --dataset hetrec" in said
    assert f"none is beside this store ({b}.models/genre)" in said
    found = find(b, "majority", "hetrec")
    assert found.shared and found.path.parent == old

    _train(b)  # now B has its own: read, with no note
    top, said = _top(b, item)
    assert top == "jazz" and "note" not in said
    assert not find(b, "majority", "hetrec").shared


def test_model_dir_flag_and_variable_override_the_store_folder(
    two_stores: tuple[Path, Path], cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_stores
    item = _artist(a)
    elsewhere = tmp_path / "elsewhere"
    saved = Path(str(_train(b, "--model-dir", str(elsewhere))["saved"]))
    assert saved.parent == elsewhere and not (b.parent / "store.duckdb.models").exists()

    # the flag reads B's jazz model for store A; so does the variable
    assert _top(a, item, "--model-dir", str(elsewhere))[0] == "jazz"
    monkeypatch.setenv("ENCORE_GENRE_MODELS", str(elsewhere))
    assert _top(a, item)[0] == "jazz"

    # a named folder is the only one looked in: no fallback to the store's or the shared one
    _train(a, "--model-dir", str(shared_dir()))
    monkeypatch.setenv("ENCORE_GENRE_MODELS", str(tmp_path / "empty"))
    r = runner.invoke(app, ["genre", "predict", str(item), "--model", "majority", "--db", str(a)])
    assert r.exit_code == 70 and f"in {tmp_path / 'empty'}" in r.stderr
    # and train saves there too
    saved = Path(str(_train(a)["saved"]))
    assert saved.parent == tmp_path / "empty"


def test_train_refuses_a_store_without_a_writable_folder(
    genre_db: Path, cache: Path, tmp_path: Path
) -> None:
    r = runner.invoke(app, ["genre", "train", "--model", "majority", "--db", ":memory:"])
    assert r.exit_code == 64 and "in-memory store" in r.stderr and "Traceback" not in r.output

    db = tmp_path / "store.duckdb"
    shutil.copy(genre_db, db)
    (tmp_path / "store.duckdb.models").write_text("a file where the folder goes")
    r = runner.invoke(app, ["genre", "train", "--model", "majority", "--db", str(db)])
    assert r.exit_code == 64, r.output
    assert f"cannot keep genre models in {db}.models/genre" in r.stderr
    assert "--model-dir" in r.stderr and "Traceback" not in r.output

    r = runner.invoke(
        app, ["genre", "train", "--model", "majority", "--db", str(db), "--model-dir", str(db)]
    )
    assert r.exit_code == 64 and f"cannot keep genre models in {db}" in r.stderr

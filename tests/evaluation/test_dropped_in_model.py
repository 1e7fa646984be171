"""A new recommender is one file: dropped into the package, it is listed, run and tuned.

The file is written to a temporary folder appended to ``encore.recommenders.__path__``
(where the registry's package scan finds it), and the registry is restored afterwards, so
no other test sees the new name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from evaluation_helpers import evaluate_json

import encore.recommenders as package
from encore.recommenders import registry

MODULE = "dropped_in_knn"
NAME = "dropped_in_knn"
SOURCE = '''"""A model that only the test knows: item kNN under another name."""

from typing import ClassVar

from encore.recommenders.knn import ItemKNN


class DroppedInKNN(ItemKNN):
    """Item kNN, dropped in as a new file."""

    name: ClassVar[str] = "dropped_in_knn"
'''


@pytest.fixture
def dropped_in_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a model whose file was dropped where the registry scans."""
    registry.available_models()  # the built-in models, registered before the copy below
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_loaded", False)
    folder = tmp_path / "more_models"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(SOURCE)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    try:
        yield NAME
    finally:
        sys.modules.pop(f"{package.__name__}.{MODULE}", None)
        sys.path_importer_cache.pop(str(folder), None)


def test_a_dropped_in_file_is_listed_run_and_tuned(
    dropped_in_model: str, jodie_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = dropped_in_model
    # found by the package scan, beside every model already there
    assert set(registry.available_models()) >= {name, "item_knn", "ease", "als", "slim"}
    cls = registry.model_class(name)
    assert cls.baseline_rank is None  # a subclass is not a baseline unless it says so
    assert cls.search_space == registry.model_class("item_knn").search_space
    assert name in registry.capable_models("explain")  # the hints follow the flags

    # "all" is every registered model; to keep this test fast whatever models the package
    # holds, the registry is cut to the baselines, EASE and the new model (the cut is
    # undone with the fixture's)
    keep = {*registry.baseline_models(), "ease", name}
    cut = {n: c for n, c in registry._REGISTRY.items() if n in keep}
    monkeypatch.setattr(registry, "_REGISTRY", cut)
    rows = evaluate_json(jodie_db, tmp_path / "all", "--models", "all")
    assert {r["model"] for r in rows} == keep
    assert not any(r["error"] for r in rows)

    rows = evaluate_json(jodie_db, tmp_path / "one", "--models", name)
    by_model = {r["model"]: r for r in rows}
    assert set(by_model) == {"popular", "recent_popular", "item_knn", name}
    assert not by_model[name]["error"]
    # the same model under another name: the same scores
    assert by_model[name]["ndcg@10"] == pytest.approx(by_model["item_knn"]["ndcg@10"])

    rows = evaluate_json(jodie_db, tmp_path / "tuned", "--models", name, "--tune", "--trials", "2")
    by_model = {r["model"]: r for r in rows}
    assert by_model[name]["tuned"] and not by_model[name]["error"]


def test_the_dropped_in_name_does_not_leak() -> None:
    assert NAME not in registry.available_models()

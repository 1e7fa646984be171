"""Where trained genre models are kept: beside the store they were trained on.

``encore genre train`` saves ``<store>.models/genre/<model>-<dataset>.npz``, in the folder
where every fitted model of a store lives (:func:`encore.recommenders.recommend.models_dir`);
``encore genre predict`` and the API's ``GET /genre/predict`` read from there, so a model
trained on one store never answers for another. ``--model-dir`` (or ``ENCORE_GENRE_MODELS``)
names another folder for all of them.

Encore before 2026-12 kept the genre models of every store in one shared folder,
``<cache>/models/genre`` (:func:`shared_dir`). A model that is not beside the store but is
there is still read, and the reader is told so once (:func:`load`), so existing models keep
working until they are trained again beside their store.

Light at import (no numpy, no pandas): the CLI imports it to build ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from encore.genre.base import GenreModel
    from encore.genre.features import GenreData

#: The model and dataset that ``encore genre train`` / ``predict`` and ``GET /genre/predict``
#: use when none is named (``make demo`` saves this one beside its store).
DEFAULT_MODEL = "logreg"
DEFAULT_DATASET = "hetrec"
#: The variable that names a genre model folder for every store (as ``--model-dir`` does).
ENV = "ENCORE_GENRE_MODELS"


def store_dir(db: str | Path) -> Path | None:
    """``<store>.models/genre/``: where the genre models of store ``db`` are kept (None for an
    in-memory store, which has no folder)."""
    if str(db) == ":memory:":
        return None
    from encore.recommenders.recommend import models_dir

    return models_dir(db) / "genre"


def shared_dir() -> Path:
    """``<cache>/models/genre``: the one folder of every store's genre models before 2026-12,
    still read when the store's own folder has no model of the name and dataset asked."""
    from encore.config import Settings

    return Settings.from_env().cache_dir / "models" / "genre"


def train_command(name: str, dataset: str, db: str | Path | None) -> str:
    """The command that trains model ``name`` on ``dataset`` (of store ``db`` when given)."""
    where = f" --db {db}" if db is not None else ""
    return f"encore genre train{where} --model {name} --dataset {dataset}"


def save_dir(db: str | Path, model_dir: Path | None = None) -> Path:
    """The folder ``encore genre train`` saves to, created and checked writable before any fit.

    ``model_dir`` (``--model-dir``, ``ENCORE_GENRE_MODELS``) if given, else
    :func:`store_dir`.

    Raises
    ------
    ConfigError
        An in-memory store and no ``model_dir``, or a folder that cannot be created or
        written (named, with the system's reason).
    """
    from encore.errors import ConfigError

    override = f"name a folder you can write with --model-dir DIR (or {ENV}=DIR)"
    directory = Path(model_dir) if model_dir is not None else store_dir(db)
    if directory is None:
        raise ConfigError(
            "an in-memory store has no folder beside it to keep a genre model in",
            hint=override,
        )
    import tempfile

    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".encore-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot keep genre models in {directory}: {reason}"
            + (
                f" ({exc.filename})" if exc.filename and str(exc.filename) != str(directory) else ""
            ),
            hint=override if model_dir is None else "give --model-dir a folder you can write",
        ) from exc
    return directory


@dataclass(frozen=True)
class Found:
    """A saved genre model found for a store.

    Attributes
    ----------
    path:
        The model file.
    name, dataset:
        The model's name and the dataset it was trained on.
    store_dir:
        The store's own folder (:func:`store_dir`; None for an in-memory store or when a
        folder was named).
    shared:
        Read from the shared folder of earlier Encore versions (:func:`shared_dir`), none
        being beside the store.
    """

    path: Path
    name: str
    dataset: str
    store_dir: Path | None = None
    shared: bool = False


def find(
    db: str | Path,
    name: str,
    dataset: str,
    model_dir: Path | None = None,
    *,
    hint_db: bool = True,
) -> Found:
    """The saved model ``name`` for ``dataset`` that store ``db`` uses.

    ``model_dir`` if given (no other folder is looked in), else the store's folder, then the
    shared folder of earlier versions. ``hint_db``: the hints name ``--db`` (the CLI), or not
    (the API, whose operator runs the command against the service's store).

    Raises
    ------
    NotFittedError
        No model of that name and dataset in any of those folders (the message names the
        store's folder, the hint the command that trains one).
    DataError
        Only a pickle of an older Encore is there, which this version never loads.
    """
    from encore.errors import NotFittedError
    from encore.genre.base import model_path, refuse_pickle

    train = train_command(name, dataset, db if hint_db else None)
    home = None if model_dir is not None else store_dir(db)
    folders = [Path(model_dir)] if model_dir is not None else [home, shared_dir()]
    for folder in folders:
        if folder is None:
            continue
        path = model_path(folder, name, dataset)
        if path.exists():
            shared = model_dir is None and folder != home
            return Found(path, name, dataset, home, shared=shared)
        refuse_pickle(path, train)
    where = (
        f"in {folders[0]}"
        if folders[0] is not None
        else f"in {folders[1]} (an in-memory store has no folder of its own)"
    )
    raise NotFittedError(
        f"no trained genre model {name!r} for dataset {dataset!r} {where}",
        hint=f"run `{train}`",
    )


def shared_note(found: Found, db: str | Path) -> str:
    """What a reader is told when ``found`` came from the shared folder of earlier versions."""
    beside = (
        f"none is beside this store ({found.store_dir})"
        if found.store_dir is not None
        else "an in-memory store has no folder of its own"
    )
    return (
        f"read the genre model {found.path.name} from {found.path.parent}, the folder "
        f"earlier Encore versions shared between every store: {beside}; "
        f"`{train_command(found.name, found.dataset, db)}` keeps one beside the store"
    )


def load(
    db: str | Path,
    name: str,
    dataset: str,
    model_dir: Path | None = None,
    *,
    say: Callable[[str], Any] | None = None,
) -> GenreModel:
    """Load the model :func:`find` finds; one call of ``say`` with :func:`shared_note` when
    it came from the shared folder of earlier versions (the CLI prints it as a note)."""
    found = find(db, name, dataset, model_dir)
    return load_found(found, db, say=say)


def load_found(
    found: Found, db: str | Path, *, say: Callable[[str], Any] | None = None
) -> GenreModel:
    """Read ``found``; tell ``say`` once if it came from the shared folder."""
    from encore.genre.base import GenreModel

    model = GenreModel.load(found.path)
    if found.shared and say is not None:
        say(shared_note(found, db))
    return model


def fit_all(
    data: GenreData, name: str = DEFAULT_MODEL, seed: int = 0, **options: Any
) -> GenreModel:
    """Model ``name`` fitted on every labelled item of ``data`` (and, for a semi-supervised
    model, its unlabelled items too): what ``encore genre train`` saves."""
    import numpy as np

    from encore.genre.base import make_model

    model = make_model(name, seed=seed, **options)
    unlabelled = np.flatnonzero(data.items["genre"].isna().to_numpy())
    return model.fit(data, data.labelled, unlabelled if model.uses_unlabelled else None)

"""Name -> recommender class registry, shared by the CLI, the API and evaluation.

Built-in models register themselves when their module is imported; :func:`model_class`
imports them on first use (each imports its heavy dependencies only when fitting).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any, TypeVar

from encore.errors import UnknownIdError

if TYPE_CHECKING:
    from encore.recommenders.base import Recommender

log = logging.getLogger(__name__)

#: Modules holding the built-in models (one model family per file).
BUILTIN_MODULES: tuple[str, ...] = (
    "encore.recommenders.popularity",
    "encore.recommenders.knn",
    "encore.recommenders.als",
    "encore.recommenders.bpr",
    "encore.recommenders.ease",
    "encore.recommenders.puresvd",
    "encore.recommenders.slim",
)

_REGISTRY: dict[str, type[Recommender]] = {}
_loaded = False

C = TypeVar("C", bound=type[Any])


def register(cls: C) -> C:
    """Class decorator: register a :class:`~encore.recommenders.base.Recommender` by its ``name``.

    Raises
    ------
    ValueError
        Another class already uses the name.
    """
    name = cls.name
    other = _REGISTRY.get(name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"recommender name {name!r} is already used by {other.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a model file not written (yet) or a missing dep
            if exc.name != module:
                raise
            log.debug("recommender module %s is not available", module)
    _loaded = True


def available_models() -> list[str]:
    """Names of every registered model, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def model_class(name: str) -> type[Recommender]:
    """The class registered as ``name``.

    Raises
    ------
    UnknownIdError
        No model has that name (the known names are in the hint).
    """
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownIdError(
            "model", [name], hint="known models: " + ", ".join(available_models())
        ) from None


def get_model(name: str, **config: Any) -> Recommender:
    """An unfitted model ``name`` with ``config`` fields.

    Raises
    ------
    UnknownIdError
        Unknown model name.
    ConfigError
        Invalid config fields.
    """
    return model_class(name)(**config)


def describe_models() -> list[dict[str, Any]]:
    """One dict per model: name, summary, capabilities and config fields with defaults."""
    rows = []
    for name in available_models():
        cls = model_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append(
            {
                "name": name,
                "summary": doc[0] if doc else "",
                "fold_in": cls.supports_fold_in,
                "explain": cls.supports_explain,
                "similar_items": cls.supports_similar_items,
                "config": {k: f.default for k, f in cls.config_class.model_fields.items()},
            }
        )
    return rows

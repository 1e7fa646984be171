"""Name -> recommender class registry, shared by the CLI, the recommend path and evaluation.

A model is one file in this package. On first use (:func:`available_models`,
:func:`model_class`) every module of ``encore.recommenders`` is imported (the package is
scanned, so a new file needs no list to be edited), and every
:class:`~encore.recommenders.base.Recommender` subclass that sets its own ``name``
registers itself when its class is created (``Recommender.__init_subclass__``; the
:func:`register` decorator does the same explicitly). Modules without a model (the base
class, the ranking engine, ...) import harmlessly. A module that cannot be imported
because an optional third-party dependency is missing is skipped (logged at debug level).

What a model is lives on its class, beside ``config_class``: ``search_space`` (the tuning
grid), ``item_limit`` (``--models all`` leaves it out above that many items),
``baseline_rank`` (a baseline every comparison keeps) and the ``supports_*`` capabilities;
:func:`capable_models` and :func:`baseline_models` read them across the registry.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from typing import TYPE_CHECKING, Any, TypeVar

from encore.errors import UnknownIdError

if TYPE_CHECKING:
    from encore.recommenders.base import Capability, Recommender

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type[Recommender]] = {}
_loaded = False

C = TypeVar("C", bound=type[Any])


def register(cls: C) -> C:
    """Register a :class:`~encore.recommenders.base.Recommender` by its ``name``.

    Subclasses that set their own ``name`` are registered when they are created; calling
    this again on the same class does nothing.

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


def _owns_name(obj: Any, module: str) -> bool:
    """``obj`` is a model class defined in ``module`` that sets its own ``name``."""
    from encore.recommenders.base import Recommender

    return (
        isinstance(obj, type)
        and issubclass(obj, Recommender)
        and obj is not Recommender
        and obj.__module__ == module
        and "name" in vars(obj)
        and not inspect.isabstract(obj)
    )


def discover() -> None:
    """Import every module of the ``encore.recommenders`` package and register its models.

    Classes are registered when they are created; the module scan registers them again
    (a no-op) so that the registry is complete even for modules imported before.

    Raises
    ------
    ModuleNotFoundError
        A model module imports an Encore module that does not exist (a bug, not a
        missing optional dependency).
    """
    import encore.recommenders as package

    for info in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing == "encore" or missing.startswith("encore."):
                raise
            log.debug("recommender module %s skipped: %s is not installed", info.name, missing)
            continue
        for obj in list(vars(module).values()):
            if _owns_name(obj, module.__name__):
                register(obj)


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    discover()
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


def capable_models(capability: Capability) -> list[str]:
    """Names of the models whose ``supports_<capability>`` is true, sorted.

    Examples
    --------
    >>> "ease" in capable_models("explain")
    True
    """
    return [n for n in available_models() if getattr(model_class(n), f"supports_{capability}")]


def baseline_models() -> list[str]:
    """The baselines every comparison keeps: models with a ``baseline_rank``, by rank."""
    ranked: list[tuple[int, str]] = []
    for name in available_models():
        rank = model_class(name).baseline_rank
        if rank is not None:
            ranked.append((rank, name))
    return [name for _, name in sorted(ranked)]


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
                "baseline": cls.baseline_rank is not None,
                "config": {k: f.default for k, f in cls.config_class.model_fields.items()},
            }
        )
    return rows

"""One module per public data format; each defines a :class:`~encore.data.ingest.Loader`.

Loaders are discovered by importing every module of this package, so adding a format is
adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path

from encore.data.ingest import Loader
from encore.errors import UnknownIdError


@lru_cache(maxsize=1)
def registry() -> dict[str, type[Loader]]:
    """Loader name -> class, for every loader module in this package."""
    found: dict[str, type[Loader]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Loader) and obj is not Loader and obj.name:
                if obj.name in found and found[obj.name] is not obj:
                    raise RuntimeError(f"two loaders named {obj.name!r}")
                found[obj.name] = obj
    return dict(sorted(found.items()))


def get_loader(name: str) -> Loader:
    """An instance of the loader called ``name``.

    Raises
    ------
    UnknownIdError
        No loader has that name; the message lists the known ones.
    """
    loaders = registry()
    if name not in loaders:
        import difflib

        # a typo ('genric') or a short name ('hetrec', 'spotify') is answered with the closest
        close = [n for n in loaders if name and n.startswith(name.lower())]
        close += [
            n for n in difflib.get_close_matches(name.lower(), loaders, n=3) if n not in close
        ]
        guess = f"did you mean {' or '.join(repr(n) for n in close[:3])}? " if close else ""
        raise UnknownIdError("source", [name], hint=guess + "known sources: " + ", ".join(loaders))
    return loaders[name]()


def detect(path: Path) -> list[Loader]:
    """Loaders that recognise ``path`` (a folder may hold several formats), by priority."""
    hits = [cls() for cls in registry().values() if cls.detect(path)]
    return sorted(hits, key=lambda loader: (loader.priority, loader.name))

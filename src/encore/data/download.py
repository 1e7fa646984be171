"""``encore data download``: public originals into a cache, with checksums and resume."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the download commands to the ``data`` group."""
    del app  # filled by the download work of the foundation issue

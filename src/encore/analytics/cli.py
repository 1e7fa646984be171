"""Commands of the analytics area (registered on the main app by ``register``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    del app  # commands of this area are added by its issue

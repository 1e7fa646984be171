"""What several evaluation tests share: ``encore evaluate`` on a store, its JSON rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from encore.cli.main import app


def evaluate_json(db: Path, out: Path, *args: str, data: str = "jodie") -> list[dict[str, Any]]:
    """``encore evaluate --db DB --data DATA --out OUT --format json ARGS...``: checks that
    it exits 0 (else fails with its output) and returns the comparison's rows."""
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--db",
            str(db),
            "--data",
            data,
            "--out",
            str(out),
            "--format",
            "json",
            *args,
        ],
    )
    assert res.exit_code == 0, res.output
    rows: list[dict[str, Any]] = json.loads(res.stdout)
    return rows

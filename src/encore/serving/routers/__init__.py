"""One router per area; each calls the library functions the CLI calls."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-ready records (NaN -> null, times as ISO 8601)."""
    if frame.empty:
        return []
    out: list[dict[str, Any]] = json.loads(
        frame.to_json(orient="records", date_format="iso", force_ascii=False)
    )
    return out

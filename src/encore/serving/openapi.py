"""Write the service's OpenAPI document: ``python -m encore.serving.openapi [PATH]``.

The document checked into ``docs/openapi.json`` is regenerated with this; a test fails when
the two differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from encore.serving.app import openapi_text


def main(argv: list[str] | None = None) -> None:
    """Write the document to PATH (default docs/openapi.json)."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "docs/openapi.json")
    path.write_text(openapi_text(), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

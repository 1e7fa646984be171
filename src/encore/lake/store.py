"""DuckDB over the lake in place: a read-only :class:`~encore.data.store.Store` of views.

:func:`open_lake` opens an in-memory store with Encore's full schema, then replaces each
table the lake holds by a view over its Parquet files (``events`` over the date
partitions, the others over ``catalogue/<table>.parquet``). Nothing is copied: DuckDB reads
the files at query time, pruning row groups by the ``ts`` statistics of each day's file.
Every reader of a store (the analytics queries, ``encore info``, the ``plays`` view) runs
on it unchanged; a table the lake lacks (written by a newer Encore than the lake's
store) stays an empty table.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from encore.data.sources._toolkit import ident, sql_str
from encore.data.store import Store
from encore.lake.export import EVENTS_DIR, read_manifest

log = logging.getLogger(__name__)


class LakeStore(Store):
    """A store whose tables are views over a Parquet lake (see the module docstring).

    Attributes
    ----------
    lake:
        The lake folder.
    manifest:
        Its manifest (:func:`~encore.lake.export.read_manifest`).
    """

    def __init__(self, lake: str | Path) -> None:
        root = Path(lake)
        manifest = read_manifest(root)
        super().__init__(":memory:")
        self.lake = root
        self.manifest: dict[str, Any] = manifest
        try:
            for name, spec in manifest["tables"].items():
                self._view(name, f"read_parquet({sql_str(str(root / spec['path']))})")
            if manifest["events"].get("files"):
                pattern = str(root / EVENTS_DIR / "**" / "*.parquet")
                src = f"read_parquet({sql_str(pattern)}, hive_partitioning = true)"
                self._view("events", src, exclude=manifest["events"].get("partition_by"))
        except BaseException:
            self.con.close()
            raise
        self.read_only = True
        self.path = str(root)

    def _view(self, name: str, src: str, exclude: str | None = None) -> None:
        cols = "*" + (f" EXCLUDE ({ident(exclude)})" if exclude else "")
        self.con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
        self.con.execute(f"CREATE VIEW {ident(name)} AS SELECT {cols} FROM {src}")


def open_lake(lake: str | Path) -> LakeStore:
    """Open a lake for reading with DuckDB (use as a context manager).

    Raises
    ------
    DataError
        No lake at ``lake``, or its manifest is damaged or lists a missing file.
    SchemaError
        The lake is newer than this Encore.
    """
    return LakeStore(lake)

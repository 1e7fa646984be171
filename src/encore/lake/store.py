"""DuckDB over the lake in place: a read-only :class:`~encore.data.store.Store` of views.

:func:`open_lake` opens an in-memory store with Encore's full schema, then replaces each
table the lake holds by a view over its Parquet files (``events`` over the date
partitions, the others over ``catalogue/<table>.parquet``). Nothing is copied: DuckDB reads
the files at query time, pruning row groups by the ``ts`` statistics of each day's file.
Every reader of a store (the analytics queries, ``encore info``, the ``plays`` view) runs
on it unchanged; a table the lake lacks (written by a newer Encore than the lake's
store) stays an empty table. The lake may be on an object store
(:mod:`encore.lake.objectstore`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from encore.data.sources._toolkit import ident, sql_str
from encore.data.store import Store
from encore.lake.export import EVENTS_DIR
from encore.lake.objectstore import LakeLocation, parse_location, read_lake_manifest, register

log = logging.getLogger(__name__)


class LakeStore(Store):
    """A store whose tables are views over a Parquet lake (see the module docstring).

    Attributes
    ----------
    location:
        Where the lake is (:class:`~encore.lake.objectstore.LakeLocation`).
    lake:
        The lake folder, or its URI on an object store.
    manifest:
        Its manifest (:func:`~encore.lake.objectstore.read_lake_manifest`).
    """

    def __init__(self, lake: str | Path | LakeLocation) -> None:
        loc = parse_location(lake)
        manifest = read_lake_manifest(loc)
        super().__init__(":memory:")
        self.location = loc
        self.lake: Path | str = loc.local if loc.local is not None else loc.uri
        self.manifest: dict[str, Any] = manifest
        try:
            register(self.con, loc)
            for name, spec in manifest["tables"].items():
                self._view(name, f"read_parquet({sql_str(loc.join(spec['path']))})")
            if manifest["events"].get("files"):
                if loc.remote:
                    # exactly the listed files: an object store may hold unlisted ones
                    files = ", ".join(
                        sql_str(loc.join(f["path"])) for f in manifest["events"]["files"]
                    )
                    src = f"read_parquet([{files}], hive_partitioning = true)"
                else:
                    pattern = loc.join(f"{EVENTS_DIR}/**/*.parquet")
                    src = f"read_parquet({sql_str(pattern)}, hive_partitioning = true)"
                self._view("events", src, exclude=manifest["events"].get("partition_by"))
        except BaseException:
            self.con.close()
            raise
        self.read_only = True
        self.path = loc.uri

    def _view(self, name: str, src: str, exclude: str | None = None) -> None:
        cols = "*" + (f" EXCLUDE ({ident(exclude)})" if exclude else "")
        self.con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
        self.con.execute(f"CREATE VIEW {ident(name)} AS SELECT {cols} FROM {src}")


def open_lake(lake: str | Path | LakeLocation) -> LakeStore:
    """Open a lake for reading with DuckDB (use as a context manager).

    ``lake`` is a folder, a ``file://`` URI or an object-store URI (``s3://``, ``gs://``;
    see :mod:`encore.lake.objectstore`). On an object store, DuckDB reads through the
    fsspec client and only the files the manifest lists.

    Raises
    ------
    DataError
        No lake at ``lake``, or its manifest is damaged or lists a missing file.
    ConfigError
        An object store without credentials, unreachable, or refusing access.
    SchemaError
        The lake is newer than this Encore.
    """
    return LakeStore(lake)

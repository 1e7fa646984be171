"""JODIE "LastFM" temporal interactions (``jodie``): anonymised user -> song events.

The file (``lastfm_jodie_first10pct.tsv``; Kumar, Zhang & Leskovec, KDD 2019, derived from
Last.fm 1K) is tab separated with **no header** and three integer columns: ``user_idx``
(0-based), ``item_idx`` (song index) and ``t`` (seconds since the first event).

What the loader makes of it:

- users ``jodie:<user_idx>`` (no demographics);
- tracks referenced by ``track_ext`` = the item index and titled ``jodie song <idx>``; the
  artist is unknown (NULL). The ids are anonymised and cannot be joined to any other
  source, so these tracks match nothing else in the catalogue;
- one ``events`` row per line, ``ms_played`` unknown (NULL, so not a skip).

**Timestamps.** The file has only relative seconds. They are anchored at
:data:`JODIE_EPOCH` = 2005-02-14 00:00:00 UTC, the start of the Last.fm 1K collection
period the data comes from, so ``ts = JODIE_EPOCH + t seconds`` lies within the original's
span (2005-2009). Differences between events (sessions, gaps, ordering, time-window
splits) are real; calendar dates, weekdays and hours of day are not and must not be
analysed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._toolkit import Check, int_sql
from encore.data.sources._tsv import TsvTable, int_check
from encore.errors import ConfigError

log = logging.getLogger(__name__)

#: Anchor of JODIE's relative seconds (see the module docstring): Last.fm 1K starts 2005-02-14.
JODIE_EPOCH = datetime(2005, 2, 14)
COLUMNS = ["user_idx", "item_idx", "t"]
#: Largest relative time accepted (about 300 years): more is not a time in seconds.
MAX_SECONDS = 10**10


def _is_jodie(path: Path) -> bool:
    return (
        path.is_file() and "jodie" in path.name.lower() and path.suffix.lower() in (".tsv", ".txt")
    )


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*") if _is_jodie(p))


class JodieLoader(Loader):
    """Loader for the JODIE LastFM interaction file (see the module docstring)."""

    name = "jodie"
    description = (
        "JODIE LastFM: anonymised user -> song events with relative times (anchored 2005-02-14)"
    )
    priority = 60

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A ``*jodie*.tsv`` file, or a folder holding one."""
        return _is_jodie(path) or (path.is_dir() and bool(_files(path)))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Parse the interactions into ``users`` and ``events`` (tracks by ``track_ext``).

        Raises
        ------
        ConfigError
            No JODIE file at ``path``.
        DataError
            Empty file, undecodable text or (strict mode) a row that is not three integers.
        """
        files = _files(path)
        if not files:
            raise ConfigError(f"{path}: no *jodie*.tsv file here")
        staged = Staged()
        epoch = f"TIMESTAMP '{JODIE_EPOCH:%Y-%m-%d %H:%M:%S}'"
        events: list[str] = []
        for i, file in enumerate(files):
            ctx.step(f"jodie: {file.name}")
            t = TsvTable(ctx, file, "events", COLUMNS, header=False, name=f"_jodie_{i}", read=False)
            item = f"CAST({int_sql('item_idx')} AS VARCHAR)"
            t.load(
                [
                    int_check("user_idx", "user index is not an integer"),
                    Check(f"{int_sql('user_idx')} < 0", "user_idx", "negative user index"),
                    int_check("item_idx", "item index is not an integer"),
                    Check(f"{int_sql('item_idx')} < 0", "item_idx", "negative item index"),
                    int_check("t", "time is not a whole number of seconds"),
                    Check(
                        f"{int_sql('t')} NOT BETWEEN 0 AND {MAX_SECONDS}",
                        "t",
                        "time is not between 0 and 10^10 seconds",
                    ),
                ],
                {
                    "user_id": f"'jodie:' || CAST({int_sql('user_idx')} AS VARCHAR)",
                    "ts": f"{epoch} + to_seconds({int_sql('t')})",
                    "ms_played": "CAST(NULL AS BIGINT)",
                    "track_ext": item,
                    "track": f"'jodie song ' || {item}",
                },
                provenance=True,
            )
            events.append(t.query)
        union = " UNION ALL ".join(events)
        staged.add("events", ctx.con.sql(union))
        staged.fields["events"] = {"ts": "t"}
        staged.add("users", ctx.con.sql(f"SELECT DISTINCT user_id FROM ({union})"))
        return staged

"""LFM-1b user table (``lfm1b``): country, age, gender, play count and signup time.

``LFM-1b_users.tsv`` (M. Schedl, ICMR 2016) is tab separated with the header
``user_id, country, age, gender, playcount, registered_unixtime``. It fills ``users`` only
(the LFM-1b listening events are not part of this loader):

- ``user_id`` -> ``lfm1b:<user_id>`` (must be a unique integer);
- ``country``: ISO-3166 alpha-2 as given, except ``UK`` -> ``GB``; empty -> NULL. ``NA`` is
  Namibia and is kept (the file is read as text, never through a missing-value parser);
- ``age``: ``-1`` (unknown) -> NULL; other values are kept as given (the table has some
  implausible ages, 0-5 and over 100, which analyses should filter themselves);
- ``gender``: ``m`` / ``f``; ``n`` and empty mean *not given* in LFM-1b -> NULL;
- ``playcount`` -> ``declared_plays`` (``-1``, unknown for 25 users -> NULL);
- ``registered_unixtime`` (Unix seconds) -> ``registered_at`` (UTC).

Anything else (a non-integer, a country that is not two letters, another gender code, a
negative time, a repeated user id) is a bad row.
"""

from __future__ import annotations

import logging
from pathlib import Path

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._toolkit import Check, ident, int_sql, one_of
from encore.data.sources._tsv import TsvTable, Unique, int_check
from encore.errors import ConfigError

log = logging.getLogger(__name__)

FILE_NAME = "LFM-1b_users.tsv"
COLUMNS = ["user_id", "country", "age", "gender", "playcount", "registered_unixtime"]


def _find(path: Path) -> Path | None:
    if path.is_file():
        return path
    for name in (FILE_NAME, "LFM-1b_users.txt"):
        if (path / name).is_file():
            return path / name
    return None


class Lfm1bUsersLoader(Loader):
    """Loader for ``LFM-1b_users.tsv`` (a file, or the folder holding it)."""

    name = "lfm1b"
    description = "LFM-1b user table: country, age, gender, play count, registration time"
    priority = 20

    @classmethod
    def detect(cls, path: Path) -> bool:
        """``LFM-1b_users.tsv`` (or ``.txt``), or a folder holding it."""
        if path.is_file():
            return path.name.lower().startswith("lfm-1b_users")
        return _find(path) is not None

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Parse the user table into the ``users`` frame.

        Raises
        ------
        ConfigError
            No LFM-1b user table at ``path``.
        DataError
            Empty file, missing column, undecodable text or (strict mode) a bad row.
        """
        file = _find(path)
        if file is None:
            raise ConfigError(f"{path}: no {FILE_NAME} here")
        ctx.step(f"lfm1b: {file.name}")
        t = TsvTable(ctx, file, "users", COLUMNS, name="_lfm1b_users", read=False)
        c = ident("country")
        # the trimmed, upper-cased code; computed only for the rare values not already so
        country = (
            f"(CASE WHEN {c} = '' OR regexp_full_match({c}, '[A-Z]{{2}}') THEN {c} "
            f"ELSE upper(trim({c})) END)"
        )
        g = ident("gender")
        gender = f"(CASE WHEN {g} IN ('m', 'f', 'n', '') THEN {g} ELSE lower(trim({g})) END)"
        age = int_sql("age")
        plays = int_sql("playcount")
        reg = int_sql("registered_unixtime")
        frame = t.load(
            [
                int_check("user_id", "user id is not an integer"),
                Unique("user_id", "user id listed twice", key=int_sql("user_id")),
                Check(
                    f"{country} <> '' AND NOT regexp_full_match({country}, '[A-Z]{{2}}')",
                    "country",
                    "country is not a two-letter code",
                    fast=f"NOT regexp_full_match({c}, '(?:[A-Z]{{2}})?')",  # '' or 2 capitals
                ),
                int_check("age", "age is not an integer", optional=True),
                Check(f"{int_sql('age')} NOT BETWEEN -1 AND 32767", "age", "age out of range"),
                Check(
                    f"NOT {one_of('gender', ['m', 'f', 'n', ''])}",
                    "gender",
                    "gender is not m, f, n or empty",
                ),
                int_check("playcount", "play count is not an integer", optional=True),
                Check(f"{int_sql('playcount')} < -1", "playcount", "negative play count"),
                int_check(
                    "registered_unixtime",
                    "registration time is not an integer (Unix seconds)",
                    optional=True,
                ),
                Check(
                    f"{int_sql('registered_unixtime')} NOT BETWEEN 0 AND 32503680000",
                    "registered_unixtime",
                    "registration time out of range",
                ),
            ],
            {
                "user_id": f"'lfm1b:' || CAST({int_sql('user_id')} AS VARCHAR)",
                # the first three branches are shortcuts for the usual values
                "country": f"CASE WHEN {c} = 'UK' THEN 'GB' WHEN {c} = '' THEN NULL "
                f"WHEN regexp_full_match({c}, '[A-Z]{{2}}') THEN {c} "
                f"ELSE (CASE WHEN {country} = 'UK' THEN 'GB' ELSE NULLIF({country}, '') END) END",
                "age": f"CASE WHEN {age} >= 0 THEN {age} END",
                "gender": f"CASE WHEN {g} IN ('m', 'f') THEN {g} WHEN {g} IN ('n', '') THEN NULL "
                f"WHEN {gender} IN ('m', 'f') THEN {gender} END",
                "declared_plays": f"CASE WHEN {plays} >= 0 THEN {plays} END",
                "registered_at": f"CAST(make_timestamp({reg} * 1000000) AS TIMESTAMP)",
            },
        )
        staged = Staged()
        staged.add("users", frame)
        return staged

"""HetRec 2011 Last.fm 2K (``hetrec2011``): play counts, friends and dated tag assignments.

The folder holds five tab-separated files with a header line (GroupLens / HetRec 2011):

==========================  =========================================  =================
file                        columns read                               staged as
==========================  =========================================  =================
``artists.dat`` (UTF-8)     ``id``, ``name`` (``url``, ``pictureURL``  ``artists``
                            are not kept)
``user_artists.dat``        ``userID``, ``artistID``, ``weight``       ``playcounts``
``user_friends.dat``        ``userID``, ``friendID``                   ``friends``
``user_taggedartists.dat``  ``userID``, ``artistID``, ``tagID``,       ``artist_tags``
                            ``day``, ``month``, ``year``
``tags.dat`` (ISO-8859-1)   ``tagID``, ``tagValue``                    tag text
==========================  =========================================  =================

Users are ``hetrec:<userID>``: every id that appears in any file (1,892 in the release);
the dataset has no demographics. Artists keep their HetRec id as ``artist_ext`` and
their name, so other sources match them by name. Each tag assignment becomes one
``artist_tags`` row of weight 1 with the tagging user and ``tagged_at`` = midnight of the
given day (the dataset's dates are local calendar days).

Decisions (see also ``docs/data-model.md``):

- **Unknown artists.** ``user_taggedartists.dat`` has 1,538 assignments for 390 artist ids
  that ``artists.dat`` does not list (it lists only artists somebody listened to), so they
  have no name. They are not input errors: in either ``on_error`` mode they go to the
  ``rejects`` table (field ``artistID``) and are not loaded, so 184,941 of the 186,479
  assignments are. The same rule holds for play counts and for tag ids missing from
  ``tags.dat`` (none in the release).
- **Implausible dates.** 5 assignments are dated 1956, 1957 or 1979, before Last.fm
  existed. They are loaded with ``tagged_at`` NULL (the tag itself is real; the date is
  not); :data:`PLAUSIBLE_TAG_DATES` is the accepted range.
- **Invalid dates** (non-numeric parts, 31 April, month 13): the row is rejected (strict
  mode: :class:`~encore.errors.DataError` naming file, line and field).
- ``tags.dat`` is read as UTF-8 when it decodes as such, else as ISO-8859-1 (the release).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._toolkit import Check, blank, ident, int_sql, not_int
from encore.data.sources._tsv import TsvTable
from encore.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Tag dates outside [from, to) are kept as NULL: Last.fm (Audioscrobbler) started in 2002,
#: and the dataset was released in May 2011.
PLAUSIBLE_TAG_DATES = (datetime(2002, 1, 1), datetime(2012, 1, 1))

_PREFIX = "hetrec:"


def tag_date_sql(day: str = "day", month: str = "month", year: str = "year") -> str:
    """SQL: the DATE of a tag assignment from its text columns, NULL when it does not exist."""
    d, m, y = (int_sql(c) for c in (day, month, year))
    return (
        f"CASE WHEN {y} BETWEEN 1 AND 9999 AND {m} BETWEEN 1 AND 12 AND {d} BETWEEN 1 AND 31 "
        f"THEN CAST(try_strptime(printf('%04d-%02d-%02d', {y}, {m}, {d}), '%Y-%m-%d') AS DATE) END"
    )


def _user(col: str) -> str:
    return f"'{_PREFIX}' || CAST({int_sql(col)} AS VARCHAR)"


class HetRec2011Loader(Loader):
    """Loader for the HetRec 2011 Last.fm 2K folder (see the module docstring)."""

    name = "hetrec2011"
    description = "HetRec 2011 Last.fm 2K: user-artist play counts, friends, dated artist tags"
    priority = 40

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A folder holding ``user_artists.dat`` and ``artists.dat``."""
        return (
            path.is_dir()
            and (path / "user_artists.dat").is_file()
            and (path / "artists.dat").is_file()
        )

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Parse the folder into users, artists, playcounts, friends and artist_tags.

        Raises
        ------
        ConfigError
            ``path`` is not a HetRec folder.
        DataError
            A missing required file, an empty file, a missing column, undecodable text, or
            (strict mode) a malformed row.
        """
        if not self.detect(path):
            raise ConfigError(
                f"{path}: not a HetRec 2011 Last.fm folder (needs artists.dat and user_artists.dat)",
                hint="pass the folder, not one of its files",
            )
        con = ctx.con
        staged = Staged()

        ctx.step("hetrec2011: artists.dat")
        artists = TsvTable(
            ctx, path / "artists.dat", "artists", ["id", "name"], name="_hetrec_artists"
        )
        artists.validate(
            [
                Check(not_int("id"), "id", "artist id is not an integer"),
                *artists.unique("id", "artist id listed twice", key=int_sql("id")),
                Check(blank("name"), "name", "empty artist name"),
            ]
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _hetrec_artist_ids AS "
            f"SELECT {int_sql('id')} AS id, CAST({int_sql('id')} AS VARCHAR) AS artist_ext, name AS artist "
            f"FROM {artists.name}"
        )
        staged.add("artists", con.sql("SELECT artist_ext, artist FROM _hetrec_artist_ids"))
        known_artist = f"{int_sql('artistID')} NOT IN (SELECT id FROM _hetrec_artist_ids)"
        users: list[str] = []

        ctx.step("hetrec2011: user_artists.dat")
        plays = TsvTable(
            ctx,
            path / "user_artists.dat",
            "playcounts",
            ["userID", "artistID", "weight"],
            name="_hetrec_user_artists",
        )
        plays.validate(
            [
                Check(not_int("userID"), "userID", "user id is not an integer"),
                Check(not_int("artistID"), "artistID", "artist id is not an integer"),
                Check(not_int("weight"), "weight", "play count is not an integer"),
                Check(f"{int_sql('weight')} < 0", "weight", "negative play count"),
            ]
        )
        plays.drop(known_artist, "artistID", "artist id not in artists.dat (no name known)")
        staged.add(
            "playcounts",
            con.sql(
                f"SELECT {_user('userID')} AS user_id, a.artist_ext, a.artist, {int_sql('weight')} AS plays "
                f"FROM {plays.name} p JOIN _hetrec_artist_ids a ON a.id = {int_sql('artistID')}"
            ),
        )
        users.append(f"SELECT {_user('userID')} AS user_id FROM {plays.name}")

        friends_file = path / "user_friends.dat"
        if friends_file.exists():
            ctx.step("hetrec2011: user_friends.dat")
            friends = TsvTable(
                ctx, friends_file, "friends", ["userID", "friendID"], name="_hetrec_friends"
            )
            friends.validate(
                [
                    Check(not_int("userID"), "userID", "user id is not an integer"),
                    Check(not_int("friendID"), "friendID", "friend id is not an integer"),
                ]
            )
            staged.add(
                "friends",
                friends.select(f"{_user('userID')} AS user_id, {_user('friendID')} AS friend_id"),
            )
            users.append(f"SELECT {_user('userID')} FROM {friends.name}")
            users.append(f"SELECT {_user('friendID')} FROM {friends.name}")
        else:
            log.warning("%s: no user_friends.dat; friends not loaded", path)

        tagged_file = path / "user_taggedartists.dat"
        if tagged_file.exists():
            if not (path / "tags.dat").exists():
                raise DataError(
                    "tags.dat is missing: user_taggedartists.dat refers to its tag ids",
                    file=str(path / "tags.dat"),
                )
            ctx.step("hetrec2011: tags.dat")
            tags = TsvTable(
                ctx,
                path / "tags.dat",
                "artist_tags",
                ["tagID", "tagValue"],
                encodings=("utf-8", "iso-8859-1"),
                name="_hetrec_tags",
            )
            tags.validate(
                [
                    Check(not_int("tagID"), "tagID", "tag id is not an integer"),
                    *tags.unique("tagID", "tag id listed twice", key=int_sql("tagID")),
                    Check(blank("tagValue"), "tagValue", "empty tag"),
                ]
            )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _hetrec_tag_ids AS "
                f"SELECT {int_sql('tagID')} AS id, {ident('tagValue')} AS tag FROM {tags.name}"
            )
            ctx.step("hetrec2011: user_taggedartists.dat")
            cols = ["userID", "artistID", "tagID", "day", "month", "year"]
            tagged = TsvTable(ctx, tagged_file, "artist_tags", cols, name="_hetrec_tagged")
            date = tag_date_sql()
            tagged.validate(
                [
                    Check(not_int("userID"), "userID", "user id is not an integer"),
                    Check(not_int("artistID"), "artistID", "artist id is not an integer"),
                    Check(not_int("tagID"), "tagID", "tag id is not an integer"),
                    Check(not_int("year"), "year", "year is not an integer"),
                    Check(
                        f"{not_int('month')} OR {int_sql('month')} NOT BETWEEN 1 AND 12",
                        "month",
                        "month is not a number from 1 to 12",
                    ),
                    Check(
                        f"{not_int('day')} OR ({date}) IS NULL",
                        "day",
                        "no such day in that month and year",
                    ),
                ]
            )
            tagged.drop(known_artist, "artistID", "artist id not in artists.dat (no name known)")
            tagged.drop(
                f"{int_sql('tagID')} NOT IN (SELECT id FROM _hetrec_tag_ids)",
                "tagID",
                "tag id not in tags.dat",
            )
            lo, hi = PLAUSIBLE_TAG_DATES
            staged.add(
                "artist_tags",
                con.sql(
                    f"SELECT a.artist_ext, a.artist, g.tag, 1.0 AS weight, {_user('userID')} AS user_id, "
                    f"CASE WHEN d >= DATE '{lo:%Y-%m-%d}' AND d < DATE '{hi:%Y-%m-%d}' "
                    f"THEN CAST(d AS TIMESTAMP) END AS tagged_at "
                    f"FROM (SELECT *, {date} AS d FROM {tagged.name}) t "
                    f"JOIN _hetrec_artist_ids a ON a.id = {int_sql('artistID')} "
                    f"JOIN _hetrec_tag_ids g ON g.id = {int_sql('tagID')}"
                ),
            )
            users.append(f"SELECT {_user('userID')} FROM {tagged.name}")
        else:
            log.warning("%s: no user_taggedartists.dat; tag assignments not loaded", path)

        staged.add(
            "users", con.sql("SELECT DISTINCT user_id FROM (" + " UNION ALL ".join(users) + ")")
        )
        return staged

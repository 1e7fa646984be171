"""``msd``: the Million Song Dataset 10k-song subset, flattened to one CSV.

Expected file: a CSV with the columns of ``SongCSV.csv`` (``SongID, Title, AlbumName,
ArtistID, ArtistName, Duration, ArtistLocation, Tempo, Loudness, ..., Year``), as in
``shared/data/msd-subset-songs/``.

What goes where:

- ``tracks``: external id ``SongID``, title, artist (by name: ``ArtistID`` is not used, since
  440 Echo Nest artist ids in the subset stand for several different names, e.g. one id for
  "Spoonie Gee", "The Sugarhill Gang" and "Ice-T & Chuck D"), album (``AlbumName``), ``duration_ms`` = round(``Duration`` s x 1000), ``release_year`` =
  ``Year`` (0 or empty = unknown);
- ``albums``: the album's release year (the song's year);
- ``artists``: ``country`` (ISO alpha-2) when ``ArtistLocation`` names a country (whole
  string, or its last one or two words, e.g. ``London England``), a US state (``New Jersey``,
  ``Georgia`` is taken as the state) or ends in an upper-case US state code (``Sikeston MO``);
  other locations are not guessed;
- ``artist_features``: ``latitude`` and ``longitude`` where given;
- ``track_features``: ``tempo``, ``loudness`` (dB), ``hotttnesss`` (``Popularity``),
  ``key``, ``key_confidence``, ``mode``, ``mode_confidence``, ``time_signature``,
  ``time_signature_confidence``. ``Danceability`` and ``Energy`` are skipped: Echo Nest
  never filled them (0 for every song).

MusicBrainz artist ids and artist terms are not in this flattened file, so none are
loaded; a file that has a ``ArtistMBID`` column gets it used as ``artist_mbid``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from encore.data import bounds
from encore.data.countries import country_table
from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._csv import (
    arrow,
    csv_files_with,
    csv_inputs,
    feature_rows,
    read_raw,
    unpivot_numbers,
    validate,
)
from encore.data.sources._toolkit import (
    Check,
    ident,
    int_expr,
    is_int,
    is_number,
    num_expr,
    required,
    txt,
)

REQUIRED = ("SongID", "Title", "ArtistName", "Duration")

#: CSV column -> feature name in ``track_features``.
TRACK_FEATURES = {
    "Tempo": "tempo",
    "Loudness": "loudness",
    "Popularity": "hotttnesss",
    "KeySignature": "key",
    "KeySignatureConfidence": "key_confidence",
    "Mode": "mode",
    "ModeConfidence": "mode_confidence",
    "TimeSignature": "time_signature",
    "TimeSignatureConfidence": "time_signature_confidence",
}
ARTIST_FEATURES = {"ArtistLatitude": "latitude", "ArtistLongitude": "longitude"}

_US_STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "DC",
]
_US_STATE_NAMES = [
    "alabama",
    "alaska",
    "arizona",
    "arkansas",
    "california",
    "colorado",
    "connecticut",
    "delaware",
    "florida",
    "georgia",
    "hawaii",
    "idaho",
    "illinois",
    "indiana",
    "iowa",
    "kansas",
    "kentucky",
    "louisiana",
    "maine",
    "maryland",
    "massachusetts",
    "michigan",
    "minnesota",
    "mississippi",
    "missouri",
    "montana",
    "nebraska",
    "nevada",
    "new hampshire",
    "new jersey",
    "new mexico",
    "new york",
    "north carolina",
    "north dakota",
    "ohio",
    "oklahoma",
    "oregon",
    "pennsylvania",
    "rhode island",
    "south carolina",
    "south dakota",
    "tennessee",
    "texas",
    "utah",
    "vermont",
    "virginia",
    "washington",
    "west virginia",
    "wisconsin",
    "wyoming",
]


class MsdLoader(Loader):
    """Million Song Subset songs: catalogue metadata and Echo Nest features."""

    name: ClassVar[str] = "msd"
    description: ClassVar[str] = (
        "Million Song Subset (10k songs): titles, albums, years, tempo, loudness"
    )
    priority: ClassVar[int] = 20

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A CSV (or folder with one) whose header has ``SongID, Title, ArtistName, Duration``."""
        return bool(csv_files_with(path, REQUIRED))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read every matching CSV; bad numbers are rejected with their line."""
        files = csv_inputs(path, REQUIRED)
        staged = Staged()
        staged.fields["tracks"] = {"duration_ms": "Duration"}
        for file in files:
            self._load_file(file, ctx, staged)
        return staged

    def _load_file(self, file: Path, ctx: IngestContext, staged: Staged) -> None:
        con = ctx.con
        raw = read_raw(ctx, file, "tracks", label="msd", required=REQUIRED)
        try:
            for col in [
                *TRACK_FEATURES,
                *ARTIST_FEATURES,
                "AlbumName",
                "ArtistID",
                "ArtistLocation",
                "Year",
                "ArtistMBID",
            ]:
                if col not in raw.columns:
                    con.execute(f"ALTER TABLE {raw.name} ADD COLUMN {ident(col)} VARCHAR")
            validate(
                ctx,
                raw,
                "tracks",
                [
                    required("SongID"),
                    required("Duration"),
                    is_number("Duration"),
                    Check(
                        f"NOT ({num_expr('Duration')} >= 0 AND {num_expr('Duration')} * 1000 "
                        f"< {bounds.MAX_DURATION_MS})",
                        "Duration",
                        "out of bounds: a duration in seconds must be at least 0 and under 24 hours",
                    ),
                    is_int("Year", 0, 3000),
                    *[is_number(c) for c in [*TRACK_FEATURES, *ARTIST_FEATURES]],
                ],
            )
            ref = (
                f"{txt('SongID')} AS track_ext, {txt('Title')} AS track, {txt('ArtistName')} AS artist, "
                f"{txt('ArtistMBID')} AS artist_mbid, "
                f"{txt('AlbumName')} AS album"
            )
            year = f"CAST(NULLIF({int_expr('Year')}, 0) AS SMALLINT)"
            staged.add(
                "tracks",
                arrow(
                    con,
                    f"""
                SELECT {ref}, CAST(round({num_expr("Duration")} * 1000) AS BIGINT) AS duration_ms,
                       {year} AS release_year, {raw.provenance()} FROM {raw.name} ORDER BY _rec""",
                ),
            )
            staged.add(
                "albums",
                arrow(
                    con,
                    f"""
                SELECT {txt("AlbumName")} AS album, {txt("ArtistName")} AS artist,
                       {txt("ArtistMBID")} AS artist_mbid, max({year}) AS release_year
                FROM {raw.name} WHERE {txt("AlbumName")} IS NOT NULL GROUP BY ALL""",
                ),
            )
            staged.add("track_features", feature_rows(con, raw, ref, TRACK_FEATURES))
            aref = f"{txt('ArtistName')} AS artist, {txt('ArtistMBID')} AS artist_mbid"
            staged.add(
                "artist_features",
                arrow(
                    con,
                    f"""
                SELECT {aref}, u.feature, min(u.value) AS value FROM {raw.name},
                {unpivot_numbers(ARTIST_FEATURES)} WHERE u.value IS NOT NULL GROUP BY ALL""",
                ),
            )
            con.register("_msd_countries", country_table())
            try:
                states = ", ".join(f"'{s}'" for s in _US_STATES)
                state_names = ", ".join(f"'{s}'" for s in _US_STATE_NAMES)
                loc = f"lower(regexp_replace({txt('ArtistLocation')}, '\\s+', ' ', 'g'))"
                words = f"string_split({loc}, ' ')"
                staged.add(
                    "artists",
                    arrow(
                        con,
                        f"""
                    WITH l AS (
                        SELECT {aref}, {loc} AS loc, {words}[-1] AS w1,
                               CASE WHEN len({words}) > 1 THEN {words}[-2] || ' ' || {words}[-1] END AS w2,
                               string_split(trim({ident("ArtistLocation")}), ' ')[-1] AS last_word,
                               len({words}) AS n
                        FROM {raw.name} WHERE {txt("ArtistLocation")} IS NOT NULL
                    ), names AS (
                        SELECT key, iso2 FROM _msd_countries WHERE length(key) > 3
                          AND key NOT IN (SELECT unnest([{state_names}]))
                        UNION ALL SELECT unnest([{state_names}]), 'US'
                    )
                    SELECT artist, artist_mbid,
                           min(COALESCE(
                               (SELECT iso2 FROM names WHERE key = l.loc),
                               (SELECT iso2 FROM names WHERE key = l.w2),
                               (SELECT iso2 FROM names WHERE key = l.w1),
                               CASE WHEN n > 1 AND last_word IN ({states}) THEN 'US' END)) AS country
                    FROM l GROUP BY artist, artist_mbid HAVING country IS NOT NULL""",
                    ),
                )
            finally:
                con.unregister("_msd_countries")
        finally:
            raw.drop(con)

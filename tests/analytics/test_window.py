"""Window parsing, defaults and filters."""

from __future__ import annotations

from datetime import datetime

import pytest

from encore.analytics.genres import genre_popularity
from encore.analytics.window import parse_when, resolve_window
from encore.data.store import Store
from encore.errors import ConfigError, UnknownIdError


def test_parse_dates_and_timestamps() -> None:
    assert parse_when("2021-01-03", option="--to") == (datetime(2021, 1, 3), True)
    assert parse_when("2021-01-03T09:30", option="--to") == (datetime(2021, 1, 3, 9, 30), False)
    assert parse_when("2021-01-03 09:30:05", option="--to") == (
        datetime(2021, 1, 3, 9, 30, 5),
        False,
    )
    # an offset is converted to UTC
    assert parse_when("2021-01-03T10:00+02:00", option="--to") == (
        datetime(2021, 1, 3, 8, 0),
        False,
    )
    with pytest.raises(ConfigError, match="--from '3rd of May' is not a date"):
        parse_when("3rd of May", option="--from")


def test_default_window_is_last_365_days_of_data(tiny: Store) -> None:
    w = resolve_window(tiny)
    # last play 2021-02-10 10:00 -> window ends after that day, starts 365 days earlier
    assert w.end == datetime(2021, 2, 11)
    assert w.start == datetime(2020, 2, 12)
    assert w.label() == "2020-02-12 – 2021-02-10"
    assert set(w.defaulted) == {"from", "to"}
    assert w.data_span == (datetime(2021, 1, 1, 10), datetime(2021, 2, 10, 10))


def test_inclusive_dates_and_exact_timestamps(tiny: Store) -> None:
    by_day = genre_popularity(tiny, resolve_window(tiny, "2021-01-01", "2021-01-03"))
    assert by_day["plays"].sum() == 2  # 01-01 and 01-03 (01-02 is a skip)
    by_instant = genre_popularity(tiny, resolve_window(tiny, "2021-01-01", "2021-01-03T09:59"))
    assert by_instant["plays"].sum() == 1
    assert (
        genre_popularity(tiny, resolve_window(tiny, "2021-01-03T10:00", "2021-01-03T10:00"))[
            "plays"
        ].sum()
        == 1
    )


def test_from_after_to_is_a_clear_error(tiny: Store) -> None:
    with pytest.raises(ConfigError, match="--from 2021-02-01 is after --to 2021-01-01"):
        resolve_window(tiny, "2021-02-01", "2021-01-01")


def test_window_outside_data_says_the_span(tiny: Store) -> None:
    frame = genre_popularity(tiny, resolve_window(tiny, "2030-01-01", "2030-12-31"))
    assert frame.empty
    assert frame.attrs["empty"]
    (note,) = frame.attrs["notes"]
    assert "outside the data" in note and "2021-01-01 – 2021-02-10" in note


def test_empty_window_inside_data(tiny: Store) -> None:
    frame = genre_popularity(tiny, resolve_window(tiny, "2021-01-20", "2021-01-25"))
    assert frame.empty
    assert "no plays in the window 2021-01-20 – 2021-01-25" in frame.attrs["notes"][0]


def test_source_filter_and_unknown_source(tiny: Store) -> None:
    assert resolve_window(tiny, source="tinyplays").source == "tinyplays"
    with pytest.raises(UnknownIdError, match="unknown source: 'nope'") as err:
        resolve_window(tiny, source="nope")
    assert "tinyplays" in (err.value.hint or "")


def test_country_filter_takes_codes_and_names(tiny: Store) -> None:
    by_code = genre_popularity(tiny, resolve_window(tiny, country="DE"))
    by_name = genre_popularity(tiny, resolve_window(tiny, country="Germany"))
    assert by_code.equals(by_name)
    assert dict(zip(by_code["genre"], by_code["plays"], strict=True)) == {"rock": 3, "jazz": 1}
    with pytest.raises(ConfigError, match="unknown country 'Atlantis'"):
        resolve_window(tiny, country="Atlantis")


def test_segment_needs_segments(tiny: Store) -> None:
    with pytest.raises(ConfigError, match="segments") as err:
        resolve_window(tiny, segment=1)
    assert "encore segments fit" in (err.value.hint or "")


def test_segment_filter(tiny: Store) -> None:
    tiny.execute(
        "INSERT INTO user_segments VALUES ('t:u3', 1, 'x', 'm', NULL), ('t:u4', 1, 'x', 'm', NULL), "
        "('t:u1', 0, 'y', 'm', NULL), ('t:u2', 0, 'y', 'm', NULL)"
    )
    frame = genre_popularity(tiny, resolve_window(tiny, segment=1))
    assert dict(zip(frame["genre"], frame["plays"], strict=True)) == {
        "jazz": 3,
        "rock": 1,
        "(unknown)": 1,
    }
    with pytest.raises(UnknownIdError, match="unknown segment: 5"):
        resolve_window(tiny, segment=5)
    tiny.execute("INSERT INTO user_segments VALUES ('t:u1', 1, 'z', 'other', NULL)")
    with pytest.raises(ConfigError, match="several models"):
        resolve_window(tiny, segment=1)
    assert resolve_window(tiny, segment=1, segment_model="m").segment_model == "m"


def test_measure_auto_uses_tags_only_without_plays(tiny: Store) -> None:
    assert resolve_window(tiny).measure == "plays"
    w = resolve_window(tiny, measure="tags")
    assert w.measure == "tags"
    with pytest.raises(ConfigError, match="--measure"):
        resolve_window(tiny, measure="likes")

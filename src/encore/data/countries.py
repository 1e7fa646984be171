"""Country names and codes -> ISO 3166 alpha-2 and a world region.

Sources write countries differently: LFM-1b uses alpha-2 codes (``UK`` for the United
Kingdom), Last.fm 1K uses English names ("United Kingdom", "Russian Federation"),
Spotify uses alpha-2. ISO names come from ``pycountry``; the region (continent-level,
UN geoscheme simplified) is this module's own table, since pycountry has none.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

_REGIONS: dict[str, str] = {
    "Europe": "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE "
    "LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK",
    "North America": "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ "
    "MS MX NI PA PM PR SV SX TC TT US VC VG VI",
    "South America": "AR BO BR CL CO EC FK GF GY PE PY SR UY VE",
    "Asia": "AE AF AM AZ BD BH BN BT CN GE HK ID IL IN IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN MO "
    "MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
    "Africa": "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG "
    "ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
    "Oceania": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS",
    "Antarctica": "AQ BV GS HM TF IO CC CX",
}

REGION_OF: dict[str, str] = {
    code: region for region, codes in _REGIONS.items() for code in codes.split()
}

#: Spellings pycountry does not know.
_ALIASES: dict[str, str] = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united states": "US",
    "usa": "US",
    "russia": "RU",
    "south korea": "KR",
    "korea, republic of": "KR",
    "north korea": "KP",
    "iran": "IR",
    "vietnam": "VN",
    "syria": "SY",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "macedonia": "MK",
    "czech republic": "CZ",
    "taiwan": "TW",
    "laos": "LA",
    "cote d'ivoire": "CI",
    "ivory coast": "CI",
    "holy see (vatican city state)": "VA",
    "netherlands antilles": "CW",
    "yugoslavia": "RS",
    "serbia and montenegro": "RS",
    "palestinian territory": "PS",
    "libyan arab jamahiriya": "LY",
    "congo, the democratic republic of the": "CD",
    "micronesia, federated states of": "FM",
    "brunei darussalam": "BN",
    "turkey": "TR",  # pycountry now names it "Türkiye"
}


@lru_cache(maxsize=1)
def country_table() -> pd.DataFrame:
    """Every known spelling (lower case) -> ``iso2`` and ``region``; columns ``key, iso2, region``."""
    import pycountry

    rows: dict[str, str] = {}
    for c in pycountry.countries:
        code = c.alpha_2
        for name in (
            code,
            c.alpha_3,
            c.name,
            getattr(c, "official_name", None),
            getattr(c, "common_name", None),
        ):
            if name:
                rows.setdefault(name.lower(), code)
    for alias, code in _ALIASES.items():
        rows[alias] = code
    frame = pd.DataFrame({"key": list(rows), "iso2": list(rows.values())})
    frame["region"] = frame["iso2"].map(REGION_OF)
    return frame


def to_iso2(name: str | None) -> str | None:
    """One country name or code -> ISO alpha-2, or None when unknown."""
    if not name:
        return None
    table = country_table()
    hit = table.loc[table["key"] == name.strip().lower(), "iso2"]
    return None if hit.empty else str(hit.iloc[0])

"""The coarse genre vocabulary and the mapping from raw tags and genre names onto it.

Sources describe genre at very different grains: Last.fm crowd tags ("seen live",
"female vocalists", "90s", "alternative rock"), Spotify's 3,000+ micro-genres
("escape room", "dance pop", "vapor soul"), FMA's and GTZAN's small taxonomies.
Encore maps every raw string onto one vocabulary of 21 coarse genres so that plays
from all sources can be counted together. The raw strings are always kept
(``artist_tags``, ``track_tags``, ``tracks.genre_raw``).

The mapping is, in order:

1. an explicit table for strings the keyword rules would get wrong (``EXACT``);
2. keyword rules tried in priority order (``RULES``): the first rule whose
   pattern matches the normalised string wins, so "pop punk" is punk and
   "hip hop soul" is hip hop, "indie rock" is indie;
3. otherwise the string is no genre (``None``): "seen live", "favorites", "80s".

The order of ``RULES`` is the documented tie-break of the vocabulary.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: The coarse vocabulary: genre -> description (also stored in the ``genres`` table).
GENRES: dict[str, str] = {
    "pop": "pop, dance pop, teen pop, K-pop, J-pop and other national pop scenes",
    "rock": "rock, alternative, classic, hard, progressive, psychedelic rock, grunge, new wave",
    "indie": "indie rock, indie pop, indie folk, lo-fi and other independent scenes",
    "metal": "heavy, death, black, thrash, doom, nu metal, metalcore",
    "punk": "punk, pop punk, hardcore, emo, post-hardcore",
    "hip hop": "hip hop, rap, trap, grime, drill",
    "r&b": "R&B, soul, funk, neo soul, Motown",
    "electronic": "house, techno, trance, EDM, dubstep, drum and bass, IDM, synth-pop, disco",
    "ambient": "ambient, new age, chill-out, downtempo, lo-fi beats",
    "jazz": "jazz, bebop, swing, big band, smooth jazz, fusion",
    "blues": "blues, delta, Chicago and electric blues",
    "classical": "classical, baroque, opera, orchestral, chamber, contemporary classical",
    "country": "country, bluegrass, americana, honky tonk",
    "folk": "folk, singer-songwriter, acoustic",
    "reggae": "reggae, ska, dancehall, dub",
    "latin": "latin, reggaeton, salsa, bachata, cumbia, bossa nova, tango, MPB",
    "world": "regional scenes: Bollywood/filmi, Afrobeat, Arabic, Turkish, Celtic, Balkan, ...",
    "soundtrack": "film and game scores, musicals, show tunes",
    "religious": "gospel, Christian, worship",
    "experimental": "experimental, noise, avant-garde, industrial",
    "spoken word": "spoken word, comedy, poetry, podcasts, audiobooks",
}

#: Strings the rules would map wrongly, or that name a genre without a keyword.
EXACT: dict[str, str | None] = {
    "britpop": "rock",
    "k pop": "pop",
    "j pop": "pop",
    "c pop": "pop",
    "mandopop": "pop",
    "cantopop": "pop",
    "dance pop": "pop",
    "electropop": "pop",
    "teen pop": "pop",
    "boy band": "pop",
    "girl group": "pop",
    "chanson": "pop",
    "schlager": "pop",
    "disco": "electronic",
    "new wave": "rock",
    "grunge": "rock",
    "shoegaze": "rock",
    "alternative": "rock",
    "post rock": "rock",
    "lo fi": "indie",
    "lofi": "ambient",
    "emo rap": "hip hop",
    "soundtrack": "soundtrack",
    "trip hop": "electronic",
    "industrial": "experimental",
    "dub": "reggae",
    "motown": "r&b",
    "easy listening": "pop",
    "adult standards": "jazz",
    "vocal jazz": "jazz",
    "opm": "pop",
    "hi nrg": "electronic",
    "mellow gold": "rock",
    "soft rock": "rock",
    "album rock": "rock",
    "permanent wave": "rock",
    "escape room": "r&b",
    "vapor soul": "r&b",
    "afrobeats": "world",
    "seen live": None,
    "favorites": None,
    "favourite": None,
    "beautiful": None,
    "awesome": None,
    "female vocalists": None,
    "male vocalists": None,
    "singer songwriter": "folk",
    "post punk": "rock",
    "chamber pop": "indie",
    "trap latino": "latin",
    "latin hip hop": "latin",
}

_RAW_RULES: tuple[tuple[str, str], ...] = (
    ("spoken word", r"\b(spoken word|comedy|poetry|audiobook|podcast|stand up|hoerspiel)\b"),
    ("hip hop", r"\b(hip ?hop|rap|trap|grime|drill|boom bap|crunk|g funk|phonk)\b"),
    ("metal", r"metal|\b(grindcore|djent|deathcore|doom|sludge|thrash)\b"),
    ("punk", r"punk|\b(hardcore|emo|screamo|post hardcore|oi)\b"),
    ("religious", r"\b(gospel|christian|worship|ccm|praise)\b"),
    ("soundtrack", r"\b(soundtrack|score|ost|video game|musical|show tunes|broadway|anime)\b"),
    (
        "classical",
        r"classical|\b(baroque|opera|orchestra\w*|symphon\w*|chamber|early music|choral|composer|romantic era|requiem)\b",
    ),
    ("jazz", r"jazz|\b(bebop|swing|big band|bop|ragtime|dixieland)\b"),
    ("blues", r"blues"),
    ("reggae", r"reggae\b|\b(ska|dancehall|rocksteady|dub|roots)\b"),
    (
        "latin",
        r"latin|\b(reggaeton|salsa|bachata|cumbia|tango|bossa nova|samba|mpb|flamenco|mariachi|banda|corrido\w*|norteno|sertanejo|merengue|urbano|brazilian|mexican)\b",
    ),
    ("r&b", r"\b(r ?(and|n|&) ?b|rnb|soul|funk|motown|quiet storm|new jack swing)\b"),
    ("country", r"country|\b(bluegrass|americana|honky tonk|outlaw)\b"),
    (
        "electronic",
        r"electro|techno|house|trance|\b(edm|dubstep|drum and bass|dnb|idm|synth\w*|breakbeat|big room|garage|hardstyle|bass music|glitch|jungle|eurodance|electronica|chiptune|future bass|edm|rave|dance)\b",
    ),
    (
        "ambient",
        r"ambient|\b(new age|chill ?out|chill|downtempo|lounge|meditation|sleep|relax\w*)\b",
    ),
    ("experimental", r"experimental|\b(noise|avant garde|avantgarde|drone|musique concrete)\b"),
    ("indie", r"\bindie\b"),
    ("folk", r"folk|\b(singer songwriter|acoustic|celtic)\b"),
    (
        "world",
        r"\b(world|bollywood|filmi|desi|indian|punjabi|bhangra|hindi|tamil|telugu|arab\w*|turkish|afro\w*|highlife|balkan|klezmer|african|k indie|russian|persian|greek|fado|carnatic|qawwali|ghazal|sufi)\b",
    ),
    (
        "rock",
        r"rock|\b(alternative|grunge|shoegaze|britpop|psychedelic|prog|new wave|post punk|garage rock|surf)\b",
    ),
    ("pop", r"pop\b|\bpop"),
)

#: Compiled keyword rules in priority order (first match wins).
RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (genre, re.compile(pattern)) for genre, pattern in _RAW_RULES
)

_NON_ALNUM = re.compile(r"[^0-9a-z&]+")


def normalise_tag(tag: str) -> str:
    """Lower-case, strip accents, turn punctuation into spaces: ``"Hip-Hop"`` -> ``"hip hop"``."""
    text = unicodedata.normalize("NFKD", tag).encode("ascii", "ignore").decode("ascii")
    return " ".join(_NON_ALNUM.sub(" ", text.lower()).split())


@lru_cache(maxsize=65536)
def map_genre(tag: str) -> str | None:
    """Map one raw tag or genre name onto the coarse vocabulary.

    Parameters
    ----------
    tag:
        A raw string as a source gives it ("Alternative Rock", "dance pop", "seen live").

    Returns
    -------
    str or None
        A key of :data:`GENRES`, or ``None`` when the string names no genre.
    """
    norm = normalise_tag(tag)
    if not norm:
        return None
    if norm in GENRES:
        return norm
    if norm in EXACT:
        return EXACT[norm]
    for genre, pattern in RULES:
        if pattern.search(norm):
            return genre
    return None


def closest_genres(name: str, n: int = 3) -> list[str]:
    """The vocabulary genres whose names are closest to ``name`` (for error messages)."""
    import difflib

    mapped = map_genre(name)
    candidates = difflib.get_close_matches(normalise_tag(name), list(GENRES), n=n, cutoff=0.0)
    if mapped and mapped not in candidates:
        candidates = [mapped, *candidates][:n]
    return candidates

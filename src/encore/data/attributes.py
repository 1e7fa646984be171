"""The catalogue's attributes: release year, language, artist country and duration, with a basis.

``encore catalogue resolve`` (:func:`resolve_attributes`) fills two derived tables (schema
v6) in one transaction; it changes no catalogue row and no fact, and runs again after each
ingest. Every value says where it came from (its *basis*); ``encore info`` counts them as
**observed** (a source's own row says so), **derived** (Encore inferred it by a rule below)
or **unknown**.

Release year (``track_attributes.release_year``, ``year_basis``)
    Candidates for a track: its own ``tracks.release_year`` (``catalogue``: MSD year, tcc
    release date, Spotify moods release date, Billboard chart year, a generic catalogue),
    its album's year (``album``), and the years of every other track row that is the same
    *song*: the same artist resolution key (:func:`encore.data.resolve.key_sql`: case,
    accents, "The", "feat.", punctuation, "&" = "and") and the same normalised title
    (``tracks.title_norm``, the store's ``enc_norm``) (``matched``). A year is *credible*
    from :data:`MIN_YEAR` to the current year and not after the year of the song's first
    play (any of its rows; a song cannot be played before it exists). The **earliest** credible candidate
    wins (a re-issue or a compilation carries a later year than the original; a year-end
    chart year is the release year or the one after); on a tie the track's own year, then
    its album's. ``year_track_id`` names the row the year was read from.

Language (``track_attributes.language``, ``language_basis``, ``language_confidence``)
    ISO 639-1, identified by ``py3langid`` (a naive Bayes model over byte n-grams that
    ships in the package) restricted to :data:`LANGUAGES`, the languages a music catalogue
    mostly holds (over all 97 of its languages, short titles scatter into rare ones). In
    order, the first that decides:

    1. ``catalogue``: the source's own language column (a generic catalogue);
    2. ``lyrics``: the track's lyrics, at a probability of at least :data:`LYRICS_MIN`;
    3. ``title``: the title alone (brackets, "- Remastered ..." tails and digits removed),
       at least :data:`TITLE_MIN` (titles are short: most fall below it);
    4. ``artist``: every title of the track's artist (its resolution key) taken together,
       at least :data:`ARTIST_MIN` and from at least :data:`ARTIST_MIN_TITLES` titles;

    else unknown. Placeholder titles (``FMA track 12``, ``jodie song 3``, a clip file name)
    are not text and are not read.

Artist country (``artist_attributes.country``, ``country_basis``)
    ISO 3166 alpha-2: ``catalogue`` (``artists.country``: MSD's artist location mapped to a
    code at ingest, a generic catalogue's ``artist_country``), else ``matched`` (the most
    common catalogue country of other artist rows with the same resolution key), else
    ``genre_name`` (Spotify genre names that name a nation or a city, :data:`NATION_WORDS`:
    "swedish indie" -> SE, "k-pop" -> KR, "atl hip hop" -> US; counted over the genre
    lists of every row with the key, kept when one nation has more than half of the
    nation-naming names).

Duration (``track_attributes.duration_ms``, ``duration_basis``)
    The rule the minutes of plays use (:data:`encore.data.rules.DURATION_ESTIMATE`):
    ``catalogue`` (the track's own duration), else the estimate of ``encore genre resolve``
    (``track_minutes``) with its rule as the basis (``longest_play``, ``artist_median``,
    ``genre_median``, ``global_median``). Without a genre resolution, one is run first
    without the genre model (observed steps and minutes only).

Listener country (``users.country``, ``users.country_basis``) is set at ingest:
``profile`` (a declared country: ``Userdata.json``, Last.fm 1K and LFM-1b profiles) or
``plays`` (the most frequent ``conn_country`` of a Spotify extended export's music plays).

Language accuracy is measured against labels the data implies (:func:`evaluate_language`):
lyrics datasets are English, and Spotify genre names that name a language
(:data:`GENRE_LANGUAGE`: "k-pop", "russian rock", "french pop", "latin" ...).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from encore.data.resolve import key_sql
from encore.data.store import Store
from encore.errors import DataError, MissingDependencyError

log = logging.getLogger(__name__)

#: The earliest credible release year (recorded music for sale starts in the 1890s).
MIN_YEAR = 1900

#: Languages the identifier may answer (ISO 639-1).
LANGUAGES: tuple[str, ...] = (
    "en", "es", "pt", "fr", "de", "it", "nl", "sv", "no", "da", "fi", "is", "pl", "cs",
    "sk", "hu", "ro", "ru", "uk", "bg", "sr", "hr", "el", "tr", "ar", "he", "fa", "hi",
    "ja", "ko", "zh", "th", "vi", "id", "tl", "sw", "ca", "et", "lv", "lt",
)  # fmt: skip

#: Lowest probabilities at which lyrics, a title, and an artist's titles decide a language.
LYRICS_MIN = 0.5
TITLE_MIN = 0.9
ARTIST_MIN = 0.7
#: An artist's titles decide only when there are at least this many.
ARTIST_MIN_TITLES = 3
#: At most this many titles (in title order) are read per artist.
ARTIST_MAX_TITLES = 200

#: Titles that are catalogue placeholders, not words (FMA, JODIE, GTZAN clip names).
_PLACEHOLDER = re.compile(r"^(fma track|jodie song)\s+\d+$|\.(wav|mp3|au|flac|ogg)$", re.I)
#: Parts of a title that carry no language: brackets, "- Remastered 2009" tails, digits.
_TITLE_NOISE = re.compile(r"\([^)]*\)|\[[^\]]*\]|\s+-\s+.*$|\d+|feat\..*$|ft\..*$", re.I)

#: Spotify genre-name patterns that name a language (evaluation labels, never predictors).
#: Electronic, instrumental and metal names are left out: "french house", "italo disco",
#: "german metal" mostly have English or no words.
GENRE_LANGUAGE: tuple[tuple[str, str], ...] = (
    (r"\bk-?pop\b|\bk-?rap\b|\bk-?indie\b|\bk-?rock\b|\bkorean\b", "ko"),
    (r"\bj-?pop\b|\bj-?rock\b|\bj-?rap\b|\bj-?idol\b|\bjapanese\b|\banime\b|\bvisual kei\b", "ja"),
    (r"\bc-?pop\b|\bmandopop\b|\bcantopop\b|\bchinese\b|\btaiwan", "zh"),
    (r"\brussian\b|\brusrap\b", "ru"),
    (r"\bfrench\b|\bchanson\b|\bquebec", "fr"),
    (r"\bgerman\b|\bdeutsch|\bschlager\b", "de"),
    (r"\bitalian\b", "it"),
    (
        r"\blatin\b|\breggaeton\b|\bspanish\b|\bmexican\b|\bcumbia\b|\bbachata\b|\bsalsa\b"
        r"|\bargentine\b|\bcolombian\b|\bchilean\b|\bbanda\b|\branchera\b|\bnorteno\b"
        r"|\bflamenco\b|\btrap latino\b|\brock en espanol\b",
        "es",
    ),
    (
        r"\bbrazilian\b|\bmpb\b|\bsertanejo\b|\bfunk carioca\b|\bpagode\b|\bforro\b"
        r"|\bportuguese\b|\bfado\b",
        "pt",
    ),
    (r"\bturkish\b|\barabesk\b", "tr"),
    (r"\bpolish\b", "pl"),
    (r"\bgreek\b|\blaiko\b", "el"),
    (r"\bhindi\b|\bbollywood\b|\bfilmi\b", "hi"),
    (r"\barabic\b|\bkhaleeji\b", "ar"),
)
_GENRE_LANGUAGE_SKIP = re.compile(
    r"house|techno|electro|trance|edm|dubstep|drum and bass|jazz|classical|instrumental"
    r"|ambient|metal|italo|lounge|orchestra|soundtrack"
)

#: Words of Spotify genre names that name a nation (or a city of one) -> ISO alpha-2.
NATION_WORDS: dict[str, str] = {
    **dict.fromkeys(["swedish", "svensk"], "SE"),
    "norwegian": "NO",
    "danish": "DK",
    "finnish": "FI",
    "icelandic": "IS",
    **dict.fromkeys(["german", "deutsch", "deutschrap", "schlager"], "DE"),
    "austrian": "AT",
    "swiss": "CH",
    **dict.fromkeys(["french", "chanson"], "FR"),
    "belgian": "BE",
    **dict.fromkeys(["dutch", "nederpop"], "NL"),
    "italian": "IT",
    "spanish": "ES",
    "portuguese": "PT",
    **dict.fromkeys(["british", "uk", "english", "scottish", "welsh", "manchester"], "GB"),
    "irish": "IE",
    **dict.fromkeys(["australian", "aussie"], "AU"),
    "kiwi": "NZ",
    **dict.fromkeys(["canadian", "quebec", "quebecois", "toronto"], "CA"),
    **dict.fromkeys(
        [
            "atl",
            "chicago",
            "detroit",
            "houston",
            "memphis",
            "nyc",
            "brooklyn",
            "philly",
            "texas",
            "dfw",
            "oakland",
            "seattle",
            "nashville",
            "nola",
            "miami",
            "minneapolis",
        ],
        "US",
    ),
    **dict.fromkeys(["korean", "k-pop", "k-rap", "k-indie", "k-rock"], "KR"),
    **dict.fromkeys(["japanese", "j-pop", "j-rock", "j-rap", "j-idol"], "JP"),
    "chinese": "CN",
    "cantopop": "HK",
    "taiwan": "TW",
    **dict.fromkeys(["russian", "rusrap"], "RU"),
    "ukrainian": "UA",
    "polish": "PL",
    "czech": "CZ",
    "slovak": "SK",
    "hungarian": "HU",
    "romanian": "RO",
    "bulgarian": "BG",
    "serbian": "RS",
    "croatian": "HR",
    "greek": "GR",
    "turkish": "TR",
    "israeli": "IL",
    **dict.fromkeys(["indian", "bollywood", "filmi"], "IN"),
    "pakistani": "PK",
    **dict.fromkeys(["brazilian", "mpb", "sertanejo", "pagode"], "BR"),
    **dict.fromkeys(["mexican", "norteno", "banda"], "MX"),
    "argentine": "AR",
    "colombian": "CO",
    "chilean": "CL",
    "peruvian": "PE",
    "venezuelan": "VE",
    "cuban": "CU",
    "jamaican": "JM",
    "nigerian": "NG",
    "ghanaian": "GH",
    "kenyan": "KE",
    "egyptian": "EG",
    "thai": "TH",
    "indonesian": "ID",
    **dict.fromkeys(["filipino", "opm"], "PH"),
    "vietnamese": "VN",
    "malaysian": "MY",
}
_NATION_MULTI: dict[str, str] = {
    "south african": "ZA",
    "new zealand": "NZ",
    "puerto rican": "PR",
    "dominican": "DO",
    "regional mexican": "MX",
    "funk carioca": "BR",
    "bay area": "US",
    "la indie": "US",
}

#: Which bases count as observed (a source's own row); every other basis is derived.
OBSERVED_BASES: dict[str, tuple[str, ...]] = {
    "release_year": ("catalogue", "album"),
    "language": ("catalogue",),
    "country": ("catalogue",),
    "duration": ("catalogue",),
}


# ------------------------------------------------------------------------ language id
@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's bundled model with normalised probabilities, restricted to :data:`LANGUAGES`."""
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:  # pragma: no cover - the text extra is installed by make
        raise MissingDependencyError("py3langid", "text") from exc
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(LANGUAGES))
    return ident


def clean_title(title: str | None) -> str:
    """A title's words for language identification ('' for a placeholder or no words)."""
    if not title or _PLACEHOLDER.search(title.strip()):
        return ""
    text = _TITLE_NOISE.sub(" ", title)
    text = re.sub(r"[\s\"'“”‘’.,!?:;/&+*#~_()\[\]-]+", " ", text).strip()
    return text if any(ch.isalpha() for ch in text) else ""


def identify(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Language (ISO 639-1, '' for empty text) and probability of each text."""
    ident = _identifier()
    langs = np.empty(len(texts), dtype=object)
    probs = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        if not text:
            langs[i] = ""
            continue
        lang, p = ident.classify(text)
        langs[i], probs[i] = lang, p
    return langs, probs


# ------------------------------------------------------------------------ release year
def _years(store: Store) -> pd.DataFrame:
    """Every track's release year and its basis: ``track_id, release_year, year_basis, year_track_id``."""
    now = datetime.now(UTC).year
    return store.df(
        f"""
        WITH t AS (
            SELECT t.track_id, {key_sql("a.name")} || '|' || t.title_norm AS song,
                   t.release_year AS own, al.release_year AS album_year,
                   year(fp.first_ts) AS first_play_year
            FROM tracks t
            LEFT JOIN artists a ON a.artist_id = t.artist_id
            LEFT JOIN albums al ON al.album_id = t.album_id
            LEFT JOIN (SELECT track_id, min(ts) AS first_ts FROM events
                       WHERE track_id IS NOT NULL GROUP BY track_id) fp ON fp.track_id = t.track_id
        ), song_first AS (
            -- the first play of any row of the song (a year after it is not credible)
            SELECT t.track_id,
                   CASE WHEN t.song IS NULL OR t.song LIKE '|%' THEN t.first_play_year
                        ELSE min(t.first_play_year) OVER (PARTITION BY t.song) END AS first_year
            FROM t
        ), cand AS (
            -- (track, year, basis rank, row it came from); rank 0 own, 1 album, 2 matched
            SELECT track_id, own AS y, 0 AS rk, track_id AS src FROM t WHERE own IS NOT NULL
            UNION ALL
            SELECT track_id, album_year, 1, track_id FROM t WHERE album_year IS NOT NULL
            UNION ALL
            SELECT u.track_id, COALESCE(o.own, o.album_year), 2, o.track_id
            FROM t u JOIN t o ON o.song = u.song AND o.track_id <> u.track_id
            WHERE u.song IS NOT NULL AND u.song NOT LIKE '|%'
              AND COALESCE(o.own, o.album_year) IS NOT NULL
        ), ok AS (
            SELECT c.* FROM cand c JOIN song_first f USING (track_id)
            WHERE c.y BETWEEN {MIN_YEAR} AND {now}
              AND (f.first_year IS NULL OR c.y <= f.first_year)
        )
        SELECT track_id, CAST(arg_min(y, y * 10 + rk) AS SMALLINT) AS release_year,
               CASE arg_min(rk, y * 10 + rk) WHEN 0 THEN 'catalogue' WHEN 1 THEN 'album'
                    ELSE 'matched' END AS year_basis,
               arg_min(src, (y * 10 + rk) * 1e12 + src) AS year_track_id
        FROM ok GROUP BY track_id
        """
    )


# ------------------------------------------------------------------------ language
def _language(
    store: Store, tick: Callable[[str, int, int], None]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Track and artist languages (see the module docstring) and the evaluation report.

    Returns ``(tracks, artists, evaluation)``: ``tracks`` has ``track_id, language,
    language_basis, language_confidence``; ``artists`` has ``artist_id, language,
    language_confidence, titles``.
    """
    tracks = store.df(
        f"""
        SELECT t.track_id, t.artist_id, t.title, lower(trim(t.language)) AS own,
               {key_sql("a.name")} AS ak, ly.text AS lyrics, ly.source AS lyrics_source
        FROM tracks t LEFT JOIN artists a ON a.artist_id = t.artist_id
        LEFT JOIN (SELECT track_id, arg_min(text, (processed::INT, source)) AS text,
                          arg_min(source, (processed::INT, source)) AS source
                   FROM lyrics GROUP BY track_id) ly ON ly.track_id = t.track_id
        ORDER BY t.track_id
        """
    )
    n = len(tracks)
    tick("identifying the language of titles", 0, n)
    cleaned = [clean_title(t) for t in tracks["title"]]
    title_lang = np.empty(n, dtype=object)
    title_p = np.zeros(n)
    step = 5000
    for lo in range(0, n, step):
        title_lang[lo : lo + step], title_p[lo : lo + step] = identify(cleaned[lo : lo + step])
        tick("identifying the language of titles", min(lo + step, n), n)
    has_lyrics = tracks["lyrics"].notna().to_numpy()
    lyr_lang = np.full(n, "", dtype=object)
    lyr_p = np.zeros(n)
    idx = np.flatnonzero(has_lyrics)
    tick("identifying the language of lyrics", 0, len(idx))
    if len(idx):
        texts = [str(t)[:3000] for t in tracks["lyrics"].to_numpy()[idx]]
        lyr_lang[idx], lyr_p[idx] = identify(texts)
    tick("identifying the language of lyrics", len(idx), len(idx))

    # an artist's titles together, per resolution key (distinct cleaned titles, sorted)
    frame = pd.DataFrame({"ak": tracks["ak"], "text": cleaned})
    frame = frame[(frame["text"] != "") & frame["ak"].notna() & (frame["ak"] != "")]
    frame = frame.drop_duplicates().sort_values(["ak", "text"])
    groups = frame.groupby("ak", sort=True)["text"]
    keys = list(groups.groups)
    joined = [
        "\n".join(v.iloc[:ARTIST_MAX_TITLES]) for _, v in groups
    ]  # groupby order = sorted keys
    counts = groups.size().reindex(keys).to_numpy()
    tick("identifying artists' languages from their titles", 0, len(keys))
    a_lang, a_p = np.empty(len(keys), dtype=object), np.zeros(len(keys))
    for lo in range(0, len(keys), step):
        a_lang[lo : lo + step], a_p[lo : lo + step] = identify(joined[lo : lo + step])
        tick(
            "identifying artists' languages from their titles", min(lo + step, len(keys)), len(keys)
        )
    by_key = pd.DataFrame(
        {"ak": keys, "a_lang": a_lang, "a_p": a_p, "titles": np.minimum(counts, ARTIST_MAX_TITLES)}
    )
    tracks = tracks.merge(by_key, on="ak", how="left")
    tracks["title_lang"], tracks["title_p"] = title_lang, title_p
    tracks["lyr_lang"], tracks["lyr_p"] = lyr_lang, lyr_p
    lang, basis, conf = _decide(tracks, use_lyrics=True)
    out_tracks = pd.DataFrame(
        {
            "track_id": tracks["track_id"].to_numpy(np.int64),
            "language": lang,
            "language_basis": basis,
            "language_confidence": conf,
        }
    )
    artists = store.df(f"SELECT artist_id, {key_sql('name')} AS ak FROM artists").merge(
        by_key, on="ak", how="left"
    )
    ok = (artists["a_p"] >= ARTIST_MIN) & (artists["titles"] >= ARTIST_MIN_TITLES)
    out_artists = pd.DataFrame(
        {
            "artist_id": artists["artist_id"].to_numpy(np.int64),
            "language": artists["a_lang"].where(ok, None),
            "language_confidence": artists["a_p"].where(artists["a_lang"].notna(), np.nan),
            "titles": artists["titles"].fillna(0).astype("int64"),
        }
    )
    evaluation = evaluate_language(store, tracks)
    return out_tracks, out_artists, evaluation


def _decide(
    tracks: pd.DataFrame,
    *,
    use_lyrics: bool,
    title_min: float = TITLE_MIN,
    artist_min: float = ARTIST_MIN,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The language rule over the identified columns: (language, basis, confidence) per row."""
    n = len(tracks)
    lang = np.full(n, None, dtype=object)
    basis = np.full(n, None, dtype=object)
    conf = np.full(n, np.nan)

    def take(mask: np.ndarray, values: Any, probs: Any, name: str) -> None:
        m = mask & (basis == None)  # noqa: E711 - elementwise on an object array
        lang[m] = np.asarray(values, dtype=object)[m]
        conf[m] = np.asarray(probs, dtype=float)[m]
        basis[m] = name

    own = tracks["own"].to_numpy(dtype=object)
    has_own = np.array([isinstance(v, str) and len(v) >= 2 for v in own])
    take(has_own, [v[:2] if isinstance(v, str) else v for v in own], np.ones(n), "catalogue")
    if use_lyrics:
        lyr_ok = (tracks["lyr_p"].to_numpy() >= LYRICS_MIN) & (tracks["lyr_lang"] != "").to_numpy()
        take(lyr_ok, tracks["lyr_lang"], tracks["lyr_p"], "lyrics")
    t_ok = (tracks["title_p"].to_numpy() >= title_min) & (tracks["title_lang"] != "").to_numpy()
    take(t_ok, tracks["title_lang"], tracks["title_p"], "title")
    a_p = tracks["a_p"].fillna(0).to_numpy()
    a_ok = (a_p >= artist_min) & (tracks["titles"].fillna(0).to_numpy() >= ARTIST_MIN_TITLES)
    take(a_ok, tracks["a_lang"], a_p, "artist")
    return lang, basis, conf


def genre_language_labels(store: Store) -> pd.DataFrame:
    """Artists whose Spotify genre names name exactly one language: ``artist_id, label``."""
    tags = store.df(
        "SELECT DISTINCT artist_id, lower(tag) AS tag FROM artist_tags "
        "WHERE source = 'spotify_artist_genres'"
    )
    if tags.empty:
        return pd.DataFrame(columns=["artist_id", "label"])
    found = pd.Series(None, index=tags.index, dtype=object)
    for pattern, code in GENRE_LANGUAGE:
        hit = tags["tag"].str.contains(pattern, regex=True) & ~tags["tag"].str.contains(
            _GENRE_LANGUAGE_SKIP, regex=True
        )
        found = found.where(~(hit & found.isna()), code)
    tags["label"] = found
    labelled = tags.dropna(subset=["label"]).groupby("artist_id")["label"].agg(set)
    one = labelled[labelled.map(len) == 1].map(lambda s: next(iter(s)))
    return pd.DataFrame({"artist_id": one.index.astype(np.int64), "label": one.to_numpy()})


def evaluate_language(store: Store, tracks: pd.DataFrame) -> dict[str, Any]:
    """Accuracy and coverage of the language rule against labels the data implies.

    ``tracks`` is the identified frame of :func:`_language`. Two label sets:

    - ``lyrics_datasets``: tracks with lyrics from ``tcc_ceds`` or ``billboard_lyrics``
      (English-language datasets) are labelled ``en``; the rule runs **without** their
      lyrics (title, then artist), so this measures what titles alone give.
    - ``genre_names``: tracks of artists whose Spotify genre names name one language
      (:func:`genre_language_labels`); the rule without lyrics, per track, and the
      artist-level language alone, per artist.

    For each: per label language, the items, the share the rule decides (coverage) and the
    share of those it gets right (accuracy); and a sweep of the title and artist
    thresholds (coverage and accuracy at each).
    """
    report: dict[str, Any] = {"languages": list(LANGUAGES)}
    english = tracks["lyrics_source"].isin(["tcc_ceds", "billboard_lyrics"]).to_numpy()
    labels = genre_language_labels(store)
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if english.any():
        sets["lyrics_datasets"] = (english, np.full(len(tracks), "en", dtype=object))
    if not labels.empty:
        lab = tracks["artist_id"].map(labels.set_index("artist_id")["label"]).to_numpy(dtype=object)
        mask = np.array([isinstance(v, str) for v in lab]) & ~english
        sets["genre_names"] = (mask, lab)
    for name, (mask, lab) in sets.items():
        sub = tracks[mask]
        truth = lab[mask]
        lang, basis, _ = _decide(sub, use_lyrics=False)
        report[name] = _score(truth, lang, basis)
        sweep = []
        for tmin, amin in (
            (0.5, 0.5),
            (0.7, 0.6),
            (0.8, 0.7),
            (TITLE_MIN, ARTIST_MIN),
            (0.95, 0.9),
        ):
            lg, _, _ = _decide(sub, use_lyrics=False, title_min=tmin, artist_min=amin)
            s = _score(truth, lg, None)["all"]
            sweep.append({"title_min": tmin, "artist_min": amin, **s})
        report[name]["threshold_sweep"] = sweep
    if not labels.empty:
        art = tracks.drop_duplicates("ak")[["artist_id", "ak", "a_lang", "a_p", "titles"]]
        by_artist = labels.merge(
            store.df(f"SELECT artist_id, {key_sql('name')} AS ak FROM artists"), on="artist_id"
        ).merge(art.drop(columns="artist_id"), on="ak", how="inner")
        ok = (by_artist["a_p"] >= ARTIST_MIN) & (by_artist["titles"] >= ARTIST_MIN_TITLES)
        pred = by_artist["a_lang"].where(ok, None).to_numpy(dtype=object)
        report["genre_names_artists"] = _score(
            by_artist["label"].to_numpy(dtype=object), pred, None
        )
    return report


def _score(truth: np.ndarray, pred: np.ndarray, basis: np.ndarray | None) -> dict[str, Any]:
    """Coverage and accuracy per label language (and overall, and per basis)."""
    decided = np.array([isinstance(p, str) and p != "" for p in pred], dtype=bool)
    right = decided & (pred == truth)

    def cell(m: np.ndarray) -> dict[str, Any]:
        n, d = int(m.sum()), int((m & decided).sum())
        return {
            "items": n,
            "coverage": round(d / n, 4) if n else None,
            "accuracy": round(int((m & right).sum()) / d, 4) if d else None,
        }

    out: dict[str, Any] = {"all": cell(np.ones(len(truth), dtype=bool))}

    def confused(m: np.ndarray) -> str:
        wrong = pd.Series(pred[m & decided & ~right]).value_counts()
        return ", ".join(f"{k} {v}" for k, v in wrong.iloc[:3].items())

    out["by_language"] = [
        {"label": str(lang), **cell(truth == lang), "read_instead": confused(truth == lang)}
        for lang in sorted(set(truth.tolist()))
    ]
    if basis is not None:
        out["by_basis"] = [
            {"basis": str(b), **cell(basis == b)} for b in ("title", "artist") if (basis == b).any()
        ]
    return out


# ------------------------------------------------------------------------ country
def nation_of(tag: str) -> str | None:
    """The nation (ISO alpha-2) a genre name names, or None ("swedish indie" -> SE)."""
    t = tag.lower().strip()
    for phrase, code in _NATION_MULTI.items():
        if re.search(rf"\b{re.escape(phrase)}\b", t):
            return code
    for word in re.split(r"\s+", t):
        if word in NATION_WORDS:
            return NATION_WORDS[word]
    return None


def _countries(store: Store) -> pd.DataFrame:
    """Every artist's country and basis: ``artist_id, country, country_basis``."""
    from encore.data.countries import country_table

    con = store.con
    tags = store.df("SELECT DISTINCT tag FROM artist_tags WHERE source = 'spotify_artist_genres'")
    nation = pd.DataFrame(
        {"tag": tags["tag"], "nation": [nation_of(str(t)) for t in tags["tag"]]}
    ).dropna()
    con.register("_a_nation", nation)
    con.register("_a_countries", country_table())
    try:
        return store.df(
            f"""
            WITH a AS (
                SELECT ar.artist_id, {key_sql("ar.name")} AS k,
                       COALESCE(CASE WHEN regexp_full_match(upper(trim(ar.country)), '[A-Z]{{2}}')
                                     THEN upper(trim(ar.country)) END, c.iso2) AS own
                FROM artists ar
                LEFT JOIN _a_countries c ON c.key = lower(trim(ar.country))
            ), matched AS (
                SELECT k, arg_min(own, (-n, own)) AS country FROM (
                    SELECT k, own, count(*) AS n FROM a WHERE own IS NOT NULL AND k <> ''
                    GROUP BY k, own) GROUP BY k
            ), votes AS (
                SELECT a.k, n.nation, count(*) AS n
                FROM a JOIN artist_tags t ON t.artist_id = a.artist_id
                     AND t.source = 'spotify_artist_genres'
                JOIN _a_nation n ON n.tag = t.tag
                WHERE a.k <> '' GROUP BY a.k, n.nation
            ), genre AS (
                SELECT k, arg_min(nation, (-n, nation)) AS country, max(n) AS top, sum(n) AS total
                FROM votes GROUP BY k
            )
            SELECT a.artist_id,
                   COALESCE(a.own, m.country, CASE WHEN g.top * 2 > g.total THEN g.country END)
                       AS country,
                   CASE WHEN a.own IS NOT NULL THEN 'catalogue'
                        WHEN m.country IS NOT NULL THEN 'matched'
                        WHEN g.top * 2 > g.total THEN 'genre_name' END AS country_basis
            FROM a LEFT JOIN matched m ON m.k = a.k LEFT JOIN genre g ON g.k = a.k
            """
        )
    finally:
        con.unregister("_a_nation")
        con.unregister("_a_countries")


def evaluate_country(store: Store) -> dict[str, Any]:
    """Genre-name countries against MSD locations, on artists (keys) that have both."""
    from encore.data.countries import country_table

    tags = store.df("SELECT DISTINCT tag FROM artist_tags WHERE source = 'spotify_artist_genres'")
    nation = pd.DataFrame(
        {"tag": tags["tag"], "nation": [nation_of(str(t)) for t in tags["tag"]]}
    ).dropna()
    store.con.register("_e_nation", nation)
    store.con.register("_e_countries", country_table())
    try:
        frame = store.df(
            f"""
            WITH a AS (
                SELECT ar.artist_id, {key_sql("ar.name")} AS k,
                       COALESCE(CASE WHEN regexp_full_match(upper(trim(ar.country)), '[A-Z]{{2}}')
                                     THEN upper(trim(ar.country)) END, c.iso2) AS own
                FROM artists ar LEFT JOIN _e_countries c ON c.key = lower(trim(ar.country))
            ), v AS (
                SELECT a.k, n.nation, count(*) AS n FROM a
                JOIN artist_tags t ON t.artist_id = a.artist_id AND t.source = 'spotify_artist_genres'
                JOIN _e_nation n ON n.tag = t.tag WHERE a.k <> '' GROUP BY ALL
            ), g AS (
                SELECT k, arg_min(nation, (-n, nation)) AS nation, max(n) * 2 > sum(n) AS clear
                FROM v GROUP BY k
            )
            SELECT DISTINCT a.k, a.own, g.nation FROM a JOIN g USING (k)
            WHERE a.own IS NOT NULL AND g.clear
            """
        )
    finally:
        store.con.unregister("_e_nation")
        store.con.unregister("_e_countries")
    if frame.empty:
        return {"artists": 0}
    agree = frame["own"] == frame["nation"]
    return {
        "artists": int(frame["k"].nunique()),
        "agreement": round(float(agree.mean()), 4),
        "by_country": [
            {
                "country": c,
                "artists": len(g),
                "agreement": round(float((g["own"] == g["nation"]).mean()), 4),
            }
            for c, g in frame.groupby("own")
            if len(g) >= 3
        ],
    }


# ------------------------------------------------------------------------ coverage
def has_attributes(store: Store) -> bool:
    """Whether the store has the attribute tables and a run of ``encore catalogue resolve``."""
    row = store.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'attribute_runs'"
    ).fetchone()
    if not row or not row[0]:
        return False
    n = store.execute("SELECT count(*) FROM attribute_runs").fetchone()
    return bool(n and n[0])


def _shares(n: int, observed: int, derived: int) -> dict[str, Any]:
    d = max(n, 1)
    return {
        "count": n,
        "observed": observed,
        "derived": derived,
        "unknown": n - observed - derived,
        "observed_share": round(observed / d, 4),
        "derived_share": round(derived / d, 4),
        "unknown_share": round((n - observed - derived) / d, 4),
    }


def catalogue_coverage(store: Store) -> list[dict[str, Any]]:
    """What the catalogue's own columns cover (before ``encore catalogue resolve``).

    One row per (attribute, entity): tracks or artists, and the plays of them.
    """
    row = store.execute(
        """
        SELECT count(*), count(release_year), count(language),
               count(*) FILTER (WHERE duration_ms > 0) FROM tracks
        """
    ).fetchone()
    assert row is not None
    a = store.execute("SELECT count(*), count(country) FROM artists").fetchone()
    assert a is not None
    p = store.execute(
        """
        SELECT count(*), count(t.release_year), count(t.language),
               count(*) FILTER (WHERE t.duration_ms > 0), count(a.country)
        FROM plays p LEFT JOIN tracks t ON t.track_id = p.track_id
        LEFT JOIN artists a ON a.artist_id = p.artist_id
        """
    ).fetchone()
    assert p is not None
    return [
        {"attribute": "release_year", "entity": "tracks", **_shares(row[0], row[1], 0)},
        {"attribute": "language", "entity": "tracks", **_shares(row[0], row[2], 0)},
        {"attribute": "duration", "entity": "tracks", **_shares(row[0], row[3], 0)},
        {"attribute": "country", "entity": "artists", **_shares(a[0], a[1], 0)},
        {"attribute": "release_year", "entity": "plays", **_shares(p[0], p[1], 0)},
        {"attribute": "language", "entity": "plays", **_shares(p[0], p[2], 0)},
        {"attribute": "duration", "entity": "plays", **_shares(p[0], p[3], 0)},
        {"attribute": "country", "entity": "plays", **_shares(p[0], p[4], 0)},
    ]


def attribute_coverage(store: Store) -> list[dict[str, Any]] | None:
    """Observed / derived / unknown counts and shares per attribute, of tracks or artists
    and of plays (what ``encore info`` shows); None before ``encore catalogue resolve``.

    Also the listeners' country by basis (``profile``, ``plays``)."""
    if not has_attributes(store):
        return None

    def obs(attr: str, col: str) -> str:
        bases = ", ".join(f"'{b}'" for b in OBSERVED_BASES[attr])
        return f"{col} IN ({bases})"

    t = store.execute(
        f"""
        SELECT count(*),
          count(*) FILTER (WHERE {obs("release_year", "year_basis")}),
          count(*) FILTER (WHERE year_basis IS NOT NULL AND NOT {obs("release_year", "year_basis")}),
          count(*) FILTER (WHERE {obs("language", "language_basis")}),
          count(*) FILTER (WHERE language_basis IS NOT NULL AND NOT {obs("language", "language_basis")}),
          count(*) FILTER (WHERE {obs("duration", "duration_basis")}),
          count(*) FILTER (WHERE duration_basis IS NOT NULL AND NOT {obs("duration", "duration_basis")})
        FROM track_attributes
        """
    ).fetchone()
    a = store.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE {obs("country", "country_basis")}),
               count(*) FILTER (WHERE country_basis IS NOT NULL AND NOT {obs("country", "country_basis")})
        FROM artist_attributes
        """
    ).fetchone()
    p = store.execute(
        f"""
        SELECT count(*),
          count(*) FILTER (WHERE {obs("release_year", "ta.year_basis")}),
          count(*) FILTER (WHERE ta.year_basis IS NOT NULL AND NOT {obs("release_year", "ta.year_basis")}),
          count(*) FILTER (WHERE {obs("language", "ta.language_basis")}),
          count(*) FILTER (WHERE ta.language_basis IS NOT NULL AND NOT {obs("language", "ta.language_basis")}),
          count(*) FILTER (WHERE {obs("duration", "ta.duration_basis")}),
          count(*) FILTER (WHERE ta.duration_basis IS NOT NULL AND NOT {obs("duration", "ta.duration_basis")}),
          count(*) FILTER (WHERE {obs("country", "aa.country_basis")}),
          count(*) FILTER (WHERE aa.country_basis IS NOT NULL AND NOT {obs("country", "aa.country_basis")})
        FROM plays p LEFT JOIN track_attributes ta ON ta.track_id = p.track_id
        LEFT JOIN artist_attributes aa ON aa.artist_id = p.artist_id
        """
    ).fetchone()
    u = store.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE country_basis = 'profile'),
               count(*) FILTER (WHERE country_basis = 'plays'),
               count(*) FILTER (WHERE country IS NOT NULL AND country_basis IS NULL)
        FROM users WHERE user_id IN (SELECT DISTINCT user_id FROM events)
        """
    ).fetchone()
    assert t is not None and a is not None and p is not None and u is not None
    return [
        {"attribute": "release_year", "entity": "tracks", **_shares(t[0], t[1], t[2])},
        {"attribute": "language", "entity": "tracks", **_shares(t[0], t[3], t[4])},
        {"attribute": "duration", "entity": "tracks", **_shares(t[0], t[5], t[6])},
        {"attribute": "country", "entity": "artists", **_shares(a[0], a[1], a[2])},
        {"attribute": "release_year", "entity": "plays", **_shares(p[0], p[1], p[2])},
        {"attribute": "language", "entity": "plays", **_shares(p[0], p[3], p[4])},
        {"attribute": "duration", "entity": "plays", **_shares(p[0], p[5], p[6])},
        {"attribute": "country", "entity": "plays", **_shares(p[0], p[7], p[8])},
        # a declared country is observed; the most frequent connection country is derived
        {
            "attribute": "listener_country",
            "entity": "listeners",
            **_shares(u[0], u[1] + u[3], u[2]),
        },
    ]


def basis_counts(store: Store) -> list[dict[str, Any]]:
    """Tracks (or artists) and plays per attribute and basis (after a run)."""
    frame = store.df(
        """
        SELECT 'release_year' AS attribute, COALESCE(ta.year_basis, '(unknown)') AS basis,
               count(DISTINCT ta.track_id) AS items, count(p.track_id) AS plays
        FROM track_attributes ta LEFT JOIN plays p ON p.track_id = ta.track_id GROUP BY ALL
        UNION ALL
        SELECT 'language', COALESCE(ta.language_basis, '(unknown)'),
               count(DISTINCT ta.track_id), count(p.track_id)
        FROM track_attributes ta LEFT JOIN plays p ON p.track_id = ta.track_id GROUP BY ALL
        UNION ALL
        SELECT 'duration', COALESCE(ta.duration_basis, '(unknown)'),
               count(DISTINCT ta.track_id), count(p.track_id)
        FROM track_attributes ta LEFT JOIN plays p ON p.track_id = ta.track_id GROUP BY ALL
        UNION ALL
        SELECT 'country', COALESCE(aa.country_basis, '(unknown)'),
               count(DISTINCT aa.artist_id), count(p.artist_id)
        FROM artist_attributes aa LEFT JOIN plays p ON p.artist_id = aa.artist_id GROUP BY ALL
        ORDER BY 1, 3 DESC
        """
    )
    return frame.to_dict(orient="records")  # type: ignore[return-value]


def last_attribute_run(store: Store) -> dict[str, Any] | None:
    """The last ``encore catalogue resolve``: ``resolved_at`` and its report (None if never)."""
    if not has_attributes(store):
        return None
    row = store.execute(
        "SELECT resolved_at, report FROM attribute_runs ORDER BY resolved_at DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    return {"resolved_at": row[0], "report": json.loads(row[1]) if row[1] else {}}


# ------------------------------------------------------------------------ the run
def resolve_attributes(
    store: Store,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Derive every track's release year, language and duration and every artist's country.

    Parameters
    ----------
    store:
        A writable store (schema v6 or later).
    progress:
        Called with ``(step, done, total)`` as the work advances (the CLI draws a bar;
        ``total`` 0 for a step without a count).

    Returns
    -------
    dict
        ``before`` and ``after`` (:func:`catalogue_coverage`, :func:`attribute_coverage`),
        ``bases`` (:func:`basis_counts`), ``language_evaluation``
        (:func:`evaluate_language`), ``country_evaluation`` (:func:`evaluate_country`),
        ``genre_resolution`` (whether a genre resolution was run first for the minutes).

    Raises
    ------
    DataError
        The store has no tracks.
    MissingDependencyError
        ``py3langid`` is not installed (the ``text`` extra).
    """
    tick = progress or (lambda _s, _d, _t: None)
    if not store.scalar("SELECT count(*) FROM tracks"):
        raise DataError(
            "the store has no tracks to describe",
            hint="ingest data first, e.g. `encore ingest --all ../shared/data`",
        )
    _identifier()  # fail before any work when the package is missing
    from encore.data.resolve import has_resolution, resolve

    report: dict[str, Any] = {"before": catalogue_coverage(store)}
    report["genre_resolution"] = "existing"
    if not has_resolution(store):
        tick("estimating durations (encore genre resolve --no-predict)", 0, 0)
        resolve(store, predict=False)
        report["genre_resolution"] = "ran without the genre model"
    tick("release years across sources", 0, 0)
    years = _years(store)
    tick("artist countries", 0, 0)
    countries = _countries(store)
    lang_tracks, lang_artists, evaluation = _language(store, tick)
    report["language_evaluation"] = evaluation
    report["country_evaluation"] = evaluate_country(store)
    tick("writing", 0, 0)
    con = store.con
    with store.transaction():
        con.execute("DELETE FROM track_attributes")
        con.execute("DELETE FROM artist_attributes")
        con.execute("DELETE FROM attribute_runs")
        con.register("_at_years", years)
        con.register("_at_lang", lang_tracks)
        con.register("_at_country", countries)
        con.register("_at_alang", lang_artists)
        try:
            con.execute(
                """
                INSERT INTO track_attributes
                SELECT t.track_id, y.release_year, y.year_basis, y.year_track_id,
                       l.language, l.language_basis, l.language_confidence,
                       COALESCE(NULLIF(t.duration_ms, 0), tm.est_ms),
                       CASE WHEN NULLIF(t.duration_ms, 0) IS NOT NULL THEN 'catalogue'
                            ELSE tm.rule END
                FROM tracks t
                LEFT JOIN _at_years y ON y.track_id = t.track_id
                LEFT JOIN _at_lang l ON l.track_id = t.track_id
                LEFT JOIN track_minutes tm ON tm.track_id = t.track_id
                """
            )
            con.execute(
                """
                INSERT INTO artist_attributes
                SELECT a.artist_id, c.country, c.country_basis, l.language,
                       l.language_confidence, l.titles
                FROM artists a
                LEFT JOIN _at_country c ON c.artist_id = a.artist_id
                LEFT JOIN _at_alang l ON l.artist_id = a.artist_id
                """
            )
        finally:
            for name in ("_at_years", "_at_lang", "_at_country", "_at_alang"):
                con.unregister(name)
        con.execute(
            "INSERT INTO attribute_runs VALUES (?, NULL)",
            [datetime.now(UTC).replace(tzinfo=None)],
        )
        report["after"] = attribute_coverage(store)
        report["bases"] = basis_counts(store)
        con.execute("UPDATE attribute_runs SET report = ?", [json.dumps(report, default=str)])
    log.info("catalogue attributes: %s", report["after"])
    return report

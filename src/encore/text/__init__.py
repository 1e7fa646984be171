"""Words of a song: mood from sound and lyrics, and chorus-aware lyrics summaries.

``tokenize`` (regex words and lines; no NLTK data needed), ``embed`` (the bundled
all-MiniLM-L6-v2 sentence encoder, loaded lazily), ``mood`` (valence-arousal quadrants from
audio features, lyrics, or both; stored in ``track_moods``), ``lyrics`` (chorus detection and
the extractive summary), ``evaluate`` (the cross-validated measurements in
docs/mood-and-lyrics.md).
"""

"""``make demo`` step of the text area: moods from sound, a mood filter, a lyrics summary.

A short, real step (seconds): every track with audio valence and energy (spotify_moods,
tcc_ceds) gets its quadrant into ``track_moods`` from sound alone (the lyrics model, which
embeds every lyric, is `encore moods compute`: minutes on 2 cores); the listener with the
most plays of such tracks gets ``for_you``'s list with ``--mood happy`` (the model saved by
the recommenders' step); the moods of what they played, by month, are charted; one
Billboard lyric is summarised with its chorus kept once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from encore.cli.console import console

#: The listener whose list and plays are shown: of the 20, the one with the largest share
#: of plays of tracks with audio features (about 1 %; the chart says so).
DEMO_LISTENER = "lh:user_20"
#: A Billboard 1965 title to summarise.
DEMO_SONG = "downtown"


def run(db: Path, out: Path, data: Path) -> list[Path]:
    """Write sound moods, show a mood-filtered list, chart moods by month, summarise a lyric.

    Returns
    -------
    list of Path
        The mood chart (PNG and HTML).
    """
    del data
    from encore.cli.common import OutputFormat, emit
    from encore.data.store import Store
    from encore.recommenders import recommend as rec
    from encore.text import mood as moodlib
    from encore.text.charts import mood_by_month, save_mood_chart
    from encore.text.lyrics import summarize

    started = time.perf_counter()
    folder = out / "text"
    written: list[Path] = []
    with Store(db) as store:
        audio = moodlib.audio_features(store)
        if audio.empty:
            console.print("no track has audio features: mood step skipped")
            return written
        rows = moodlib.mood_rows(audio, pd.DataFrame(columns=["valence", "arousal"]))
        moodlib.write_moods(store, rows)
    counts = rows["mood"].value_counts()
    console.print(
        f"moods from sound for {len(rows):,} tracks: "
        + ", ".join(f"{m} {int(counts.get(m, 0)):,}" for m in moodlib.QUADRANTS)
        + " (words too: `encore moods compute`)"
    )
    with Store(db, read_only=True) as store:
        model_path = rec.model_file(db, rec.DEFAULT_TRACK_MODEL, "track")
        if model_path.exists():
            model = rec.load_model(model_path)
            answer = rec.recommend_for_user(store, model, DEMO_LISTENER, 5, mood="happy")
            cols = ["rank", "name", "artist", "genre", "mood", "because"]
            emit(
                answer.table[[c for c in cols if c in answer.table]],
                OutputFormat.table,
                title=f"for_you --mood happy for {DEMO_LISTENER}",
            )
            for note in answer.notes:
                console.print(f"[dim]{note}[/]")
        frame = mood_by_month(store, DEMO_LISTENER)
        for suffix in (".png", ".html"):
            written.append(save_mood_chart(frame, folder / f"mood_by_month{suffix}"))
        known = frame.loc[frame["mood"] != "unknown", "plays"].sum()
        console.print(
            f"moods of {DEMO_LISTENER}'s plays by month: {known:,} of "
            f"{int(frame['plays'].sum()):,} plays have a stored mood"
        )
        lyric = store.df(
            """SELECT t.title, l.text FROM lyrics l JOIN tracks t USING (track_id)
               WHERE NOT l.processed AND lower(t.title) = ? LIMIT 1""",
            [DEMO_SONG],
        )
    if not lyric.empty:
        summary = summarize(str(lyric["text"].iloc[0]), max_words=50)
        console.print(
            f"lyrics summary of {lyric['title'].iloc[0]!r}: {summary.words} of "
            f"{summary.source_words} words, chorus kept once"
        )
        for unit, kind in zip(summary.units, summary.kinds, strict=True):
            text = unit.replace("\n", "\n          ")
            console.print(
                f"  [{'bold' if kind == 'chorus' else 'dim'}]{kind:>6}[/]  {text}", highlight=False
            )
    for path in written:
        console.print(f"  chart: {path}")
    console.print(f"text step in {time.perf_counter() - started:.1f} s")
    return written

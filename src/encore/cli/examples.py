"""Examples at the foot of every command's ``--help``.

One table, command path -> (command line, what it does). :func:`apply_examples` writes
them into the Typer app as each command's (and each command group's) epilog, so
``encore recommend --help`` ends with lines a person can copy. Every line here is parsed
against the real command tree by ``tests/cli/test_help_examples.py``: an example naming
an option that does not exist, or missing a required argument, fails the suite, and so
does a command without examples.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape

#: Examples by command path ("" is the root ``encore``; "analytics" a group).
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "": (
        ("encore ingest --all ../shared/data", "build a store from every dataset found"),
        ("encore ingest ~/Downloads/my_spotify_data --user me", "your own export, as downloaded"),
        ("encore recommend me -n 20", "new tracks for you, with a reason each"),
        ("encore analytics trend --every month --chart trend.png", "genre trend chart"),
    ),
    # --- data ---------------------------------------------------------------------
    "ingest": (
        ("encore ingest ~/Downloads/my_spotify_data --user me", "an export; formats detected"),
        ("encore ingest --all ../shared/data", "every dataset under a folder"),
        ("encore ingest generic ./service_logs --on-error skip", "a service's CSV/Parquet logs"),
        (
            "encore ingest parquet encore.duckdb.lake --from 2024-01-01 --to 2024-01-31",
            "a lake's January back into a store",
        ),
    ),
    "info": (
        ("encore info", "rows per table, time spans, genre coverage, match rate"),
        ("encore info --format json", "the same, for scripts"),
        ("encore --db other.duckdb info", "another store"),
    ),
    "doctor": (("encore doctor", "what is installed, the loaders, where the store is"),),
    "data": (("encore data list", "the public datasets and whether they are cached"),),
    "data list": (("encore data list --format csv", "the datasets as CSV"),),
    "data download": (
        ("encore data download hetrec2011-lastfm-2k", "fetch and verify one dataset"),
        ("encore data download jodie-lastfm --dest /data/encore", "into another cache folder"),
    ),
    "catalogue": (("encore catalogue resolve", "release year, language, country, duration"),),
    "catalogue resolve": (
        ("encore catalogue resolve", "fill the attributes, each with its basis"),
    ),
    "catalogue show": (("encore catalogue show 36335", "one track's attributes and bases"),),
    # --- recommendations and evaluation -------------------------------------------
    "why": (
        ("encore why me 36335", "why for_you would (or would not) recommend track 36335"),
        ('encore why me "Karma Police" -n 20', "by title, against a list of 20"),
    ),
    "recommend": (
        ("encore recommend me -n 20", "named tracks new to you, with reasons"),
        ("encore recommend me --new-artists-only", "only artists you never played"),
        ("encore recommend me --mood calm", "only calm tracks (after `encore moods compute`)"),
        (
            "encore recommend hetrec:2 -n 10 --level artist --model ease --explain",
            "another model and level",
        ),
        (
            "encore recommend --all-users --model als --level artist --data hetrec2011 "
            "--out recs.parquet",
            "every user in one batch",
        ),
    ),
    "train": (
        ("encore train", "fit for_you on the store and save it beside it"),
        ("encore train --model sasrec --data jodie", "a sequence model on one source"),
        ("encore train --model als --model ease --level artist", "several models at once"),
    ),
    "evaluate": (
        (
            "encore evaluate --data hetrec2011 --level artist --split random --models all --k 10 "
            "--out out/cf",
            "every CF model on one split",
        ),
        (
            "encore evaluate --data listening-histories --split user-time --min-item 2",
            "each person's own last 20 % by time",
        ),
        (
            "encore evaluate --data jodie --task next-new --models ease,session_knn,sasrec",
            "every next new track",
        ),
        (
            "encore evaluate --train train.csv --test test.csv --models ease",
            "a split made elsewhere",
        ),
        (
            "encore evaluate --data hetrec2011 --level artist --save-split out/split",
            "write the split made",
        ),
    ),
    "evaluate-listeners": (
        ("encore evaluate-listeners --out out/listeners", "each listener cut at their 80 % point"),
        ("encore evaluate-listeners --fraction 0.7 -k 20", "an earlier cut, longer lists"),
    ),
    # --- analytics ----------------------------------------------------------------
    "analytics": (
        ("encore analytics genres --by minutes --chart genres.html", "genre popularity"),
        ("encore analytics top-tracks -n 10 --genre rock", "top tracks inside a genre"),
        ("encore analytics trend --user me --chart my-genres.png", "your own genre chart"),
    ),
    "analytics genres": (
        (
            "encore analytics genres --from 2025-01-01 --to 2025-12-31 --by minutes "
            "--chart genres.html",
            "a year by minutes, interactive chart",
        ),
        ("encore analytics genres --genres observed --minutes observed", "no predictions"),
        ("encore analytics genres --user me --format csv", "one listener's genres as CSV"),
        ("encore analytics genres --lake encore.duckdb.lake --engine spark", "on Spark"),
    ),
    "analytics top-tracks": (
        ("encore analytics top-tracks -n 10 --genre rock", "the 10 most played rock tracks"),
        (
            "encore analytics top-tracks --from 2024-01-01 --to 2024-03-31 --format json",
            "a quarter, as JSON",
        ),
        ("encore analytics top-tracks --country DE --chart top.png", "one country, charted"),
    ),
    "analytics top-artists": (
        ("encore analytics top-artists --by listeners --country DE", "by listeners"),
        ("encore analytics top-artists -n 5 --genre jazz --user me", "your own top jazz artists"),
        ("encore analytics top-artists --group decade", "inside each release decade"),
    ),
    "analytics trend": (
        ("encore analytics trend --every month --chart trend.png", "monthly shares, PNG"),
        (
            "encore analytics trend --every week --genre rock --genre pop --from 2024-01-01",
            "two genres by week",
        ),
        ("encore analytics trend --group language --chart languages.png", "by language"),
    ),
    "export": (("encore export events", "the store's events and catalogue as a Parquet lake"),),
    "export events": (
        ("encore export events", "write <store>.lake/"),
        ("encore export events --to s3://bucket/encore-lake", "to an object store"),
    ),
    # --- genre, segments ------------------------------------------------------------
    "genre": (
        ("encore genre resolve", "genres for unknown artists (observed, then predicted)"),
        ("encore genre predict --artist 'Noel Gallagher'", "one artist's genre"),
    ),
    "genre train": (
        ("encore genre train --dataset hetrec", "the default classifier, saved beside the store"),
        ("encore genre train --model vae --dataset all-artists", "the VAE on every artist"),
    ),
    "genre evaluate": (
        ("encore genre evaluate --dataset hetrec", "baselines, classifiers and VAEs compared"),
        ("encore genre evaluate --dataset msd --split time --out out/genre", "by release year"),
    ),
    "genre predict": (
        ("encore genre predict --artist 'Noel Gallagher'", "a store artist, from its listeners"),
        (
            "encore genre predict --artist 'Unknown Band' --title 'First Song' --new",
            "from the names alone",
        ),
        ("encore genre predict --unlabelled --write", "every unlabelled item, stored"),
    ),
    "genre resolve": (
        ("encore genre resolve", "observed, then predicted genres; minutes for scrobbles"),
        ("encore genre resolve --no-predict", "observed evidence only"),
    ),
    "segments": (
        ("encore segments fit", "cluster the listeners"),
        ("encore segments show", "what each segment plays and how it listens"),
    ),
    "segments fit": (
        ("encore segments fit", "k-means, k chosen by silhouette"),
        ("encore segments fit --users hetrec --method gmm --name hetrec-gmm", "one namespace"),
    ),
    "segments show": (
        ("encore segments show", "every segment's profile"),
        ("encore segments show --segment 2 --format json", "one segment, as JSON"),
    ),
    "segments assign": (
        ("encore segments assign me", "which segment a listener falls in"),
        ("encore segments assign lh:user_05 --save", "and store it"),
    ),
    "segments map": (
        ("encore segments map --out segments.html", "the interactive map"),
        ("encore segments map --method tsne --out segments.png", "a t-SNE map, as PNG"),
    ),
    # --- service ------------------------------------------------------------------
    "serve": (
        ("encore serve", "API and dashboard on http://127.0.0.1:8000"),
        ("encore serve --host 0.0.0.0 --port 8080 --close-reads", "reads need a key too"),
    ),
    "keys": (("encore keys create importer", "a key for POST /events (shown once)"),),
    "keys create": (("encore keys create importer", "a key named importer (shown once)"),),
    "keys list": (("encore keys list", "the keys, never their secrets"),),
    "keys revoke": (
        ("encore keys revoke a671ae0d", "revoke a key (its id from `encore keys list`)"),
    ),
    # --- mood, lyrics, audio --------------------------------------------------------
    "mood": (
        ("encore mood 'Prince - 1999'", "a track's mood, with the evidence"),
        ("encore mood 36335 --format json", "by track id, as JSON"),
    ),
    "moods": (("encore moods compute", "every track's mood quadrant"),),
    "moods compute": (
        ("encore moods compute", "moods from sound and words, stored"),
        ("encore moods compute --refit", "refit the lyrics model first"),
    ),
    "moods evaluate": (("encore moods evaluate --out out/text", "agreement with labelled moods"),),
    "moods chart": (
        ("encore moods chart me --chart my-moods.png", "your moods by month"),
        ("encore moods chart --from 2024-01-01 --chart moods.html", "every listener"),
    ),
    "lyrics": (("encore lyrics summarize downtown --words 50", "a 50-word summary"),),
    "lyrics summarize": (
        ("encore lyrics summarize downtown --words 50", "chorus once + the central lines"),
        ("encore lyrics summarize --file song.txt --ratio 0.2", "a lyrics file"),
        ("encore lyrics summarize downtown --method textrank", "a baseline"),
    ),
    "lyrics evaluate": (("encore lyrics evaluate --out out/text", "summaries scored by proxy"),),
    "audio": (
        ("encore audio train --data ../shared/data/genre-audio", "the CNN on labelled clips"),
        ("encore audio similar clip.mp3 -n 10", "stored tracks that sound alike"),
    ),
    "audio train": (
        ("encore audio train --data ../shared/data/genre-audio", "train and save the CNN"),
        ("encore audio train --epochs 5 --threads 2", "shorter, on two threads"),
    ),
    "audio evaluate": (
        ("encore audio evaluate --folds 5 --out out/audio", "grouped CV against baselines"),
    ),
    "audio ingest": (
        ("encore audio ingest ~/music/new", "embed a folder of clips nobody has played"),
        ("encore audio ingest ~/music/new --on-error skip", "skip unreadable files"),
    ),
    "audio predict": (("encore audio predict clip.mp3", "a clip's genre and mood"),),
    "audio similar": (("encore audio similar clip.mp3 -n 10", "the 10 closest stored tracks"),),
    # --- reinforcement learning -------------------------------------------------------
    "rl": (("encore rl evaluate --small --out out/rl", "bandit and REINFORCE against CF"),),
    "rl ope-check": (("encore rl ope-check", "the estimators on synthetic logs"),),
    "rl simulate": (("encore rl simulate --small", "the listener simulator's fit"),),
    "rl evaluate": (
        ("encore rl evaluate --small --out out/rl", "off-policy estimates and simulator"),
        ("encore rl evaluate --policies bandit,als --small", "two policies"),
    ),
    "rl train": (("encore rl train --policy reinforce --small --out out/rl", "fit and save"),),
    "rl recommend": (
        ("encore rl recommend lh:user_13 --model bandit --log served.csv", "with propensities"),
    ),
}


def _epilog(path: str) -> str:
    """The examples as Rich markup: each one's purpose as a dim comment, then the line."""
    lines = EXAMPLES.get(path)
    if not lines:
        return ""
    rows = [f"  [dim]# {escape(what)}[/]\n  [cyan]{escape(cmd)}[/]" for cmd, what in lines]
    return "[bold]Examples[/]\n" + "\n".join(rows)


def _command_name(info: Any) -> str:
    from typer.main import get_command_name

    return str(info.name or get_command_name(info.callback.__name__))


def apply_examples(app: Any, path: str = "") -> None:
    """Set every command's and group's epilog from :data:`EXAMPLES` (recursively)."""
    if not path:
        app.info.epilog = _epilog("") or app.info.epilog
    for command in app.registered_commands:
        name = _command_name(command)
        full = f"{path} {name}".strip()
        command.epilog = _epilog(full) or command.epilog
    for group in app.registered_groups:
        sub = group.typer_instance
        name = group.name or sub.info.name
        full = f"{path} {name}".strip()
        epilog = _epilog(full)
        if epilog:
            group.epilog = epilog
            sub.info.epilog = epilog
        apply_examples(sub, full)

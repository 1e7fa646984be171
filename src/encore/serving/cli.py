"""Commands of the service: ``encore serve`` and ``encore keys create | list | revoke``."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from encore.cli.common import (
    OutputFormat,
    State,
    emit,
    err_console,
    sub_app,
    with_state,
)

keys_app = sub_app("API keys of the service (writes need one).")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``keys`` sub-app to the main app."""
    app.command("serve")(serve_cmd)
    app.add_typer(keys_app, name="keys")


@with_state
def serve_cmd(
    st: State,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    close_reads: Annotated[
        bool,
        typer.Option(
            "--close-reads",
            help="Reads need an API key too (also ENCORE_API_READ_KEY_REQUIRED=true).",
        ),
    ] = False,
    workers_threads: Annotated[
        int, typer.Option("--threads", min=1, max=256, help="Threads answering reads.")
    ] = 40,
    answer_cache: Annotated[
        int | None,
        typer.Option(
            "--answer-cache",
            min=0,
            help="Recommendation answers kept per user until their next events "
            "(default 4096, also ENCORE_API_ANSWER_CACHE; 0 turns the cache off).",
        ),
    ] = None,
    refresh_answers: Annotated[
        bool,
        typer.Option(
            "--refresh-answers/--no-refresh-answers",
            help="After a user's events are written, compute their cached answers again at "
            "once, in the background (off by default: one computation per write).",
        ),
    ] = False,
    compute_threads: Annotated[
        int | None,
        typer.Option(
            "--compute-threads",
            min=1,
            max=256,
            help="Recommendations computed at once on a cache miss (default: the CPU cores).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API and the dashboard (http://HOST:PORT/dashboard) over the store."""
    from encore.errors import MissingDependencyError

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "fastapi", "serve") from exc

    from encore.data.store import Store
    from encore.serving.app import create_app
    from encore.serving.state import ServeSettings

    Store(st.db, read_only=True).close()  # a clear error before binding when there is no store
    settings = ServeSettings.from_env(
        st.db,
        read_key_required=True if close_reads else None,
        threads=workers_threads,
        answer_cache=answer_cache,
        compute_threads=compute_threads,
        refresh_answers=refresh_answers,
    )
    app = create_app(settings)
    err_console.print(
        f"Encore serving {st.db} on http://{host}:{port} (dashboard /dashboard, API docs /docs)"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning" if st.verbose == 0 else "info",
        access_log=st.verbose > 0,
    )


@keys_app.command("create")
@with_state
def create_cmd(
    st: State,
    name: Annotated[str, typer.Argument(help="Who or what uses the key.")],
) -> None:
    """Create a key; it is printed once (only its hash is kept)."""
    from encore.serving.auth import create_key

    entry, secret = create_key(st.db, name)
    if st.fmt is OutputFormat.table:
        err_console.print(f"key {entry.key_id} ({entry.name}); shown only now, keep it safe:")
        typer.echo(secret)
        return
    emit({"key_id": entry.key_id, "name": entry.name, "key": secret}, st.fmt)


@keys_app.command("list")
@with_state
def list_cmd(
    st: State,
) -> None:
    """The store's keys (ids, names, dates; never the keys)."""
    from encore.serving.auth import load_keys

    keys = load_keys(st.db)
    frame = pd.DataFrame(
        [
            {
                "key_id": k.key_id,
                "name": k.name,
                "created_at": k.created_at,
                "revoked_at": k.revoked_at,
                "active": k.active,
            }
            for k in keys
        ],
        columns=["key_id", "name", "created_at", "revoked_at", "active"],
    )
    emit(frame, st.fmt, title="API keys")


@keys_app.command("revoke")
@with_state
def revoke_cmd(
    st: State,
    key_id: Annotated[str, typer.Argument(help="The key's id (see `encore keys list`).")],
) -> None:
    """Revoke a key; a running service refuses it from its next request."""
    from encore.serving.auth import revoke_key

    entry = revoke_key(st.db, key_id)
    emit({"key_id": entry.key_id, "name": entry.name, "revoked_at": entry.revoked_at}, st.fmt)

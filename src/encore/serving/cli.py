"""Commands of the service: ``encore serve`` and ``encore keys create | list | revoke``."""

from __future__ import annotations

import errno
import socket
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
    """Serve the HTTP API and the dashboard (http://HOST:PORT/dashboard) over the store.

    The address is taken before anything is announced: a port another process holds is
    refused with exit 75 (EX_TEMPFAIL: free it, or choose another with --port), a host that
    is not this machine's with exit 64.
    """
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
    # bound here, before anything is announced; uvicorn serves on this very socket (no race)
    sock = _bind(host, port)
    try:
        app = create_app(settings)
        err_console.print(
            f"Encore serving {st.db} on http://{_authority(host, port)} "
            "(dashboard /dashboard, API docs /docs)"
        )
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning" if st.verbose == 0 else "info",
            access_log=st.verbose > 0,
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _authority(host: str, port: int) -> str:
    """``host:port`` as a URL writes it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a clear error when it cannot be had.

    Raises
    ------
    AddressInUseError
        Another process listens there (exit 75, EX_TEMPFAIL).
    ConfigError
        ``host`` is no address of this machine or cannot be resolved, or the port needs
        privileges (exit 64).
    """
    from encore.errors import AddressInUseError, ConfigError

    where = _authority(host, port)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"cannot listen on {where}: the host {host!r} cannot be resolved ({exc.strerror})",
            hint="give an address of this machine with --host (e.g. 127.0.0.1 or 0.0.0.0)",
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(
                f"cannot listen on {where}: the address is already in use "
                "(another server, or an earlier `encore serve`, is listening there)",
                hint=f"choose another port with --port (e.g. --port {_next(port)}), "
                "or stop the process that holds it",
            ) from None
        if exc.errno == errno.EACCES:
            raise ConfigError(
                f"cannot listen on {where}: permission denied (ports below 1024 need privileges)",
                hint="choose a port from 1024 up with --port (e.g. --port 8000)",
            ) from None
        raise ConfigError(
            f"cannot listen on {where}: {exc.strerror or exc}",
            hint="give an address of this machine with --host (e.g. 127.0.0.1 or 0.0.0.0)",
        ) from None
    return sock


def _next(port: int) -> int:
    """A port to suggest instead of ``port``."""
    return port + 1 if port < 65535 else 8000


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

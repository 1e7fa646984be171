"""Encore as a service: the HTTP API, live events and the dashboard (``encore serve``).

- :mod:`~encore.serving.app`: the app factory, problem details (RFC 9457) for every error;
- :mod:`~encore.serving.state`: the store connections (one writer, readers on cursors) and
  the cache of saved models;
- :mod:`~encore.serving.answers`: recommendation answers cached per user until that user's
  next events;
- :mod:`~encore.serving.events`: ``POST /events`` through the ingest path, one writer thread;
- :mod:`~encore.serving.auth`: API keys (stored hashed beside the store);
- :mod:`~encore.serving.routers`: one router per area, each calling the library functions
  the CLI calls;
- ``static/``: the dashboard (plotly.js is served from the installed plotly package, offline).

FastAPI and uvicorn are imported only here, so ``encore --help`` stays instant.
"""

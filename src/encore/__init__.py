"""Encore: music recommendation and listening analytics on an embedded DuckDB store."""

__version__ = "0.1.0"

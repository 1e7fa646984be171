"""The music store: schema, DuckDB access, ingest and the interaction dataset."""

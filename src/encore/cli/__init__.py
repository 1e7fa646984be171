"""The ``encore`` command line: one Typer sub-app per capability."""

"""The one hierarchy of errors Encore raises.

The CLI turns each into a message and its exit code.
"""

from __future__ import annotations

from collections.abc import Iterable


class EncoreError(Exception):
    """Base class of every error Encore raises on purpose.

    Parameters
    ----------
    message:
        What went wrong, in words a user can act on.
    hint:
        Optional advice on how to fix it.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHint: {self.hint}"
        return self.message


class DataError(EncoreError):
    """Bad input data: malformed row, wrong type, missing column, empty file.

    Carries the file, line (1-based) and field where known, so messages name them.
    """

    exit_code = 65  # EX_DATAERR

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.field = field
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason, hint=hint)


class SchemaError(EncoreError):
    """The store's schema is missing, newer than this Encore, or damaged."""

    exit_code = 70  # EX_SOFTWARE


class StoreNotFoundError(SchemaError):
    """The store file a reader was pointed at does not exist.

    Exit 66 (EX_NOINPUT, "an input file did not exist"), not SchemaError's 70, so a script
    can tell a wrong ``--db`` from a damaged store or a crash. A subclass of
    :class:`SchemaError`: code that catches "no usable store" (the HTTP API's 503) still does.
    """

    exit_code = 66  # EX_NOINPUT


class UnknownIdError(EncoreError, KeyError):
    """One or more ids are not known (users, tracks, artists, models, genres)."""

    exit_code = 66

    def __init__(self, kind: str, ids: Iterable[object], *, hint: str | None = None) -> None:
        self.kind = kind
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:10])
        more = f" (and {len(self.ids) - 10} more)" if len(self.ids) > 10 else ""
        EncoreError.__init__(self, f"unknown {kind}: {shown}{more}", hint=hint)

    def __str__(self) -> str:
        return EncoreError.__str__(self)


class NotFittedError(EncoreError):
    """A model was asked for output before `fit` was called."""

    exit_code = 70


class ConfigError(EncoreError, ValueError):
    """An invalid option, argument or configuration value."""

    exit_code = 64  # EX_USAGE


class MissingDependencyError(EncoreError):
    """An optional dependency (torch, lightgbm, openTSNE, ...) is not installed."""

    exit_code = 69

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the optional package {package!r}",
            hint=f"install it with: pip install 'encore[{extra}]'",
        )


class AddressInUseError(EncoreError):
    """A server's host:port is taken by another process (``encore serve``).

    Exit 75 (EX_TEMPFAIL, "a temporary failure; the user is invited to retry"): the port
    may be free later, or another one can be given at once.
    """

    exit_code = 75  # EX_TEMPFAIL

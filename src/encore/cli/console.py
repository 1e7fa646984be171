"""The one home of Encore's Rich consoles, and how wide their output is.

On a terminal, output fits the terminal (Rich's own behaviour). When the output is not a
terminal (a pipe, a file, a CI log) Rich lays everything out at 80 columns, folding and
ellipsising table cells, so ``encore analytics top-tracks > out.txt`` or ``encore
recommend me | less`` would show mangled rows. An :class:`EncoreConsole` writing to
something that is not a terminal instead gives each print its *natural width*, as git, gh
or psql do when piped: a table as wide as its widest cells (every cell whole), a line of
text whole on one line. Something with no natural width (a rule across the page) keeps the
width Rich would use, and nothing is laid out narrower than that. An explicit ``COLUMNS``
(or a console made with a ``width``) is honoured as Rich honours it.

Every command, the logging handler and every ``demo.py`` print through :data:`console`
(stdout) or :data:`err_console` (stderr); a new area imports them from here (or from
``encore.cli.common``, which re-exports them) rather than making its own ``Console()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleDimensions, JustifyMethod, OverflowMethod
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table

#: Widest layout a print measures at; a renderable measured this wide has no natural width
#: of its own (a rule or anything that fills what it is given).
_UNBOUNDED = 1_000_000


class EncoreConsole(Console):
    """A Rich console that prints at natural width when its file is not a terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Rich fixes the width and height from COLUMNS / LINES as they are when the console
        # is made (at import); read them at each print instead (Rich's size does when none
        # is fixed), so that a COLUMNS set or unset later counts, and one present at import
        # (pytest-xdist's workers export COLUMNS=80) does not fix every later print at 80
        if kwargs.get("width") is None:
            self._width = None
        if kwargs.get("height") is None:
            self._height = None
        # the width one print is laid out at, per thread (a log line from another thread
        # while a table prints keeps its own width)
        self._print_width = threading.local()

    @property
    def natural_width(self) -> bool:
        """Whether prints take their natural width: the file is not a terminal, and neither
        ``COLUMNS`` nor a width given to the console fixes the width."""
        if self._width is not None or self.is_jupyter:
            return False
        columns = self._environ.get("COLUMNS")  # as Rich reads it, at each print
        if columns is not None and columns.isdigit():
            return False
        return not _isatty(self.file)

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        width = getattr(self._print_width, "width", None)
        return dims if width is None else ConsoleDimensions(width, dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def measure_natural(
        self,
        objects: Iterable[Any],
        *,
        sep: str = " ",
        end: str = "\n",
        justify: JustifyMethod | None = None,
        emoji: bool | None = None,
        markup: bool | None = None,
        highlight: bool | None = None,
    ) -> int:
        """The width to lay ``print(*objects)`` out at so that nothing in it folds: the
        widest of its measurable parts (a table's row, a text's longest line), and at least
        the width Rich would use (so a rule or a narrow table looks as it always has). Tables
        alone, which never grow past their natural width, get all the room there is."""
        base = super().size.width
        renderables = self._collect_renderables(
            objects, sep, end, justify=justify, emoji=emoji, markup=markup, highlight=highlight
        )
        if all(isinstance(r, Table) and not r.expand and r.width is None for r in renderables):
            # a table that does not expand is as wide as its widest cells whatever room it
            # has: no need to measure every cell once more (40 % of printing a long table)
            return _UNBOUNDED
        options = self.options.update(markup=markup, highlight=highlight).update_width(_UNBOUNDED)
        widest = base
        for renderable in renderables:
            measured = Measurement.get(self, options, renderable).maximum
            if measured < _UNBOUNDED:
                widest = max(widest, measured)
        return widest

    def print(
        self,
        *objects: Any,
        sep: str = " ",
        end: str = "\n",
        style: str | Style | None = None,
        justify: JustifyMethod | None = None,
        overflow: OverflowMethod | None = None,
        no_wrap: bool | None = None,
        emoji: bool | None = None,
        markup: bool | None = None,
        highlight: bool | None = None,
        width: int | None = None,
        height: int | None = None,
        crop: bool = True,
        soft_wrap: bool | None = None,
        new_line_start: bool = False,
    ) -> None:
        """Rich's ``print``; when :attr:`natural_width` holds (and no ``width`` is given),
        laid out at :meth:`measure_natural`'s width instead of the 80 columns Rich
        assumes for a file."""
        natural = (
            self.measure_natural(
                objects,
                sep=sep,
                end=end,
                justify=justify,
                emoji=emoji,
                markup=markup,
                highlight=highlight,
            )
            if width is None and objects and self.natural_width
            else None
        )
        outer = getattr(self._print_width, "width", None)
        if natural is not None:
            self._print_width.width = natural
        try:
            super().print(
                *objects,
                sep=sep,
                end=end,
                style=style,
                justify=justify,
                overflow=overflow,
                no_wrap=no_wrap,
                emoji=emoji,
                markup=markup,
                highlight=highlight,
                width=width,
                height=height,
                crop=crop,
                soft_wrap=soft_wrap,
                new_line_start=new_line_start,
            )
        finally:
            self._print_width.width = outer


def _isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (a closed or file-less stream is not)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # closed (e.g. at the end of a test run)
        return False


def make_console(*, stderr: bool = False) -> EncoreConsole:
    """A console on stdout (or stderr) that follows the width rules above; the file is
    looked up at each print, so a test's captured stdout is what it writes to."""
    return EncoreConsole(stderr=stderr)


#: Results (tables, ``wrote PATH``) go to stdout.
console = make_console()
#: Errors, hints, notes, logs and progress go to stderr.
err_console = make_console(stderr=True)

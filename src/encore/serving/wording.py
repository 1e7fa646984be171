"""Errors and notes in the API's language, not the command line's.

Library code raises one :class:`~encore.errors.EncoreError` for every caller, and its
message and hint are written for the CLI: ``--from 'x' is not a date``, ``hint: run
`encore segments fit```. An HTTP client can use neither a flag nor a command, so the
service rewrites both at its edge (:func:`for_client`, called by the problem handler and on
the notes of an answer):

* **flags** become the route's own parameters, read from the route itself (FastAPI's
  dependant: query and path parameters, aliases such as ``from``), not from a hand list:
  ``--from 2024-12-31`` -> ``from=2024-12-31``, ``-n must be positive`` -> ``the n
  parameter must be positive``, ``e.g. --model item_knn --level artist`` -> ``e.g.
  model=item_knn&level=artist``; a flag the route has no parameter for is said to be a
  command-line option this route does not take.
* **commands** (``encore analytics top-artists``) become the route that answers the same
  question (``GET /analytics/top-artists``), matched by their words against the app's
  paths; a command no route answers (``encore segments fit``, ``encore train``: work that
  writes models or the store, which no request may start) is kept, written as what it is:
  a step for an operator of the service, on the server (``an operator must run `encore
  segments fit```).
* **server paths** (the store's folder, the model folders, the home directory) are not
  the client's business and are replaced by "on the server".

The problem document keeps its fields; only the words change.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: A flag of the command line: ``--from``, ``--new-artists-only``, ``-n`` (not a word's
#: hyphen, not a negative number, not a date's dash).
_FLAG = re.compile(r"(?<![\w/.-])(--?[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w-])")
#: A command in backticks: ``` `encore segments fit --name x` ```.
_TICKED = re.compile(r"`(encore(?: [^`]*)?)`")
#: A command written without backticks: ``run: encore audio ingest FOLDER``.
_BARE = re.compile(r"(?<![\w`'-])encore(?= [a-z])")
#: A verb that asks the reader to run the command just after it (rewritten by _tidy).
_RUN = re.compile(r"(?:\b(?:re-)?run|\bcall|\bsee)\s*:?\s*$", re.IGNORECASE)
#: A value just after a flag: a quoted text, or one token.
_VALUE = re.compile(r" ('[^']*'|\"[^\"]*\"|[^\s,;:()`]+)")
#: Query pairs written one after another (``model=a level=b``) join as a query string.
_PAIRS = re.compile(r"(\b[a-z_]+=[^\s&]+) (?=[a-z_]+=\S)")


@dataclass(frozen=True)
class Param:
    """One parameter of a route, as a client names it."""

    name: str
    boolean: bool = False
    numeric: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """What a client can say to one route: its method and path, its parameters."""

    method: str
    path: str
    params: tuple[Param, ...] = ()

    def param(self, flag: str) -> Param | None:
        """The parameter a command-line flag stands for (``--from``: ``from``;
        ``--new-artists-only``: ``new_artists_only``; ``--genre``: ``genres`` on a route
        that takes a list of them), else None."""
        word = flag.lstrip("-").replace("-", "_")
        by_name = {p.name: p for p in self.params}
        for candidate in (word, word + "s", word.removesuffix("s")):
            if candidate in by_name:
                return by_name[candidate]
        return None


def _annotation_facts(annotation: Any) -> tuple[bool, bool, tuple[str, ...]]:
    """(boolean, numeric, literal choices) of a parameter's type, through Optional/list."""
    boolean = numeric = False
    choices: list[str] = []
    stack = [annotation]
    while stack:
        t = stack.pop()
        origin = typing.get_origin(t)
        if origin is typing.Literal:
            choices.extend(str(a) for a in typing.get_args(t))
        elif origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
            stack.extend(a for a in typing.get_args(t) if a is not type(None))
        elif t is bool:
            boolean = True
        elif t in (int, float):
            numeric = True
    return boolean, numeric, tuple(choices)


def route_of(route: Any) -> Route | None:
    """The :class:`Route` of a FastAPI ``APIRoute`` (``request.scope["route"]``), with
    every query and path parameter of the route and of its dependencies."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    hit = _ROUTES.get(id(route))
    if hit is None or hit[0] is not route:
        params: dict[str, Param] = {}
        stack = [dependant]
        while stack:
            d = stack.pop()
            for field in [*d.path_params, *d.query_params]:
                boolean, numeric, choices = _annotation_facts(field.field_info.annotation)
                params.setdefault(field.alias, Param(field.alias, boolean, numeric, choices))
            stack.extend(d.dependencies)
        method = sorted(getattr(route, "methods", None) or {"GET"})[0]
        hit = (route, Route(method, route.path, tuple(params.values())))
        _ROUTES[id(route)] = hit
    return hit[1]


def routes_of_openapi(document: dict[str, Any]) -> tuple[Route, ...]:
    """Every operation of an OpenAPI document as a :class:`Route` (its path and query
    parameters, booleans, numbers and enums): what a command can be matched against."""
    out = []
    for path, operations in document.get("paths", {}).items():
        for method, op in operations.items():
            params = []
            for p in op.get("parameters", []):
                kinds, choices = _schema_facts(p.get("schema", {}))
                params.append(
                    Param(
                        p["name"],
                        "boolean" in kinds,
                        bool(kinds & {"integer", "number"}),
                        choices,
                    )
                )
            out.append(Route(method.upper(), path, tuple(params)))
    return tuple(out)


def _schema_facts(schema: dict[str, Any]) -> tuple[set[str], tuple[str, ...]]:
    kinds: set[str] = set()
    choices: list[str] = []
    stack = [schema]
    while stack:
        s = stack.pop()
        if "type" in s:
            kinds.add(str(s["type"]))
        choices.extend(str(v) for v in s.get("enum", []))
        if "const" in s:
            choices.append(str(s["const"]))
        stack.extend(s.get("anyOf", []))
        if isinstance(s.get("items"), dict):
            stack.append(s["items"])
    return kinds, tuple(choices)


#: Routes read so far (by the id of the app's route object; an app's routes live as long
#: as it does).
_ROUTES: dict[int, tuple[Any, Route]] = {}


@dataclass(frozen=True)
class Wording:
    """The rewriting of one app: its routes (to match commands against) and the server
    paths to hide.

    Parameters
    ----------
    routes:
        Every route of the app (method and path; parameters for the query of a command
        that a route answers).
    server_paths:
        Folders on the server whose paths a client is not shown.
    values:
        Known values of a free-text parameter (``model``: the registry's names), so
        ``--model ease`` reads as ``model=ease`` and not as the flag and a word.
    """

    routes: tuple[Route, ...] = ()
    server_paths: tuple[str, ...] = ()
    values: Callable[[str], Iterable[str]] | None = None

    def for_client(self, text: str | None, route: Route | None) -> str | None:
        """``text`` (a message, hint or note) in the words of ``route``'s client."""
        if not text:
            return text
        text = self._hide_paths(text)
        out: list[str] = []
        pos = 0
        for start, end, command in _commands(text):
            out.append(self._flags(text[pos:start], route))
            out.append(self._command(command, "".join(out), route))
            pos = end
        out.append(self._flags(text[pos:], route))
        return _tidy("".join(out))

    # -- commands -------------------------------------------------------------------------

    def _command(self, command: str, before: str, route: Route | None) -> str:
        words = command.split()[1:]
        path_words = []
        for w in words:
            if w.startswith("-") or not re.fullmatch(r"[a-z][a-z0-9-]*", w):
                break
            path_words.append(w)
        target = self._route("/" + "/".join(path_words)) if path_words else None
        if target is not None:
            query = self._query(words[len(path_words) :], target)
            return f"{target.method} {target.path}{query}"
        # no route answers it: an operator's step, said as such
        sentence = re.split(r"(?<=[.;!?])\s", before)[-1]
        if _RUN.search(before) or "operator" in sentence:
            return f"`{command}`"  # a verb before it is rewritten by _tidy
        return f"an operator's `{command}` on the server"

    def route(self, path: str, method: str = "GET") -> Route | None:
        """The route of ``method`` and ``path`` (``/analytics/genres``), else None."""
        for r in self.routes:
            if r.path == path and r.method == method:
                return r
        return None

    def _route(self, path: str) -> Route | None:
        for r in self.routes:
            if r.path == path and r.method == "GET":
                return r
        return None

    def _query(self, rest: Sequence[str], target: Route) -> str:
        pairs: list[str] = []
        i = 0
        while i < len(rest):
            token = rest[i]
            p = target.param(token) if token.startswith("-") else None
            if p is not None and not p.boolean and i + 1 < len(rest):
                pairs.append(f"{p.name}={rest[i + 1]}")
                i += 2
                continue
            if p is not None and p.boolean:
                pairs.append(f"{p.name}=true")
            i += 1
        return ("?" + "&".join(pairs)) if pairs else ""

    # -- flags ----------------------------------------------------------------------------

    def _flags(self, text: str, route: Route | None) -> str:
        out: list[str] = []
        pos = 0
        for m in _FLAG.finditer(text):
            out.append(text[pos : m.start()])
            flag = m.group(1)
            p = route.param(flag) if route is not None else None
            pos = m.end()
            if p is None:
                out.append(f"the command-line option {flag.lstrip('-')!r} (no parameter here)")
                continue
            value = _VALUE.match(text, pos)
            if value is not None and self._is_value(p, value.group(1)):
                out.append(f"{p.name}={_unquote(value.group(1))}")
                pos = value.end()
            elif re.search(r"\b(?:the|a|an|same)\s$", "".join(out)):
                out.append(f"{p.name} parameter")  # "pass the same --name"
            else:
                out.append(f"the {p.name} parameter")
        out.append(text[pos:])
        return "".join(out)

    def _is_value(self, p: Param, token: str) -> bool:
        if p.boolean:
            return False
        if token[:1] in "'\"":
            return True
        token = token.rstrip(".")
        if token in p.choices or token[:1].isdigit():
            return True
        return self.values is not None and token in set(self.values(p.name))

    # -- paths ----------------------------------------------------------------------------

    def _hide_paths(self, text: str) -> str:
        for root in sorted(self.server_paths, key=len, reverse=True):
            if not root or root not in text:
                continue
            path = re.escape(root) + r"[^\s'\",;)]*"
            text = re.sub(r"\s(?:in|at|from|under)\s" + path, " on the server", text)
            text = re.sub(path, "a path on the server", text)
        return text


def _commands(text: str) -> list[tuple[int, int, str]]:
    """Each command in ``text``: (start, end, the command), backticked or bare."""
    found = [(m.start(), m.end(), m.group(1)) for m in _TICKED.finditer(text)]
    taken = [(s, e) for s, e, _ in found]
    for m in _BARE.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        end = _bare_end(text, m.start())
        found.append((m.start(), end, text[m.start() : end].rstrip()))
    return sorted(found)


def _bare_end(text: str, start: int) -> int:
    """Where a command written without backticks ends: after its command words (the CLI's
    own tree) and the flags, values and PLACEHOLDERS that follow them."""
    tree = _command_tree()
    tokens = list(re.finditer(r"[^\s,;()]+", text[start:]))
    end = tokens[0].end()
    node: dict[str, Any] | None = tree
    i = 1
    while i < len(tokens) and node is not None and tokens[i].group() in node:
        node = node[tokens[i].group()]
        end = tokens[i].end()
        i += 1
    while i < len(tokens):
        word = tokens[i].group()
        if word.startswith("-") or word.isupper() or "/" in word or "=" in word:
            end = tokens[i].end()
            i += 1
            continue
        break
    return start + end


@lru_cache(maxsize=1)
def _command_tree() -> dict[str, Any]:
    """The CLI's command words as a tree (``{"segments": {"fit": {}, ...}, ...}``), from
    the Typer app itself (imported only when a hint names a command without backticks)."""
    import typer

    from encore.cli.main import app

    def walk(group: Any) -> dict[str, Any]:
        return {
            name: (walk(sub) if hasattr(sub, "commands") else {})
            for name, sub in getattr(group, "commands", {}).items()
        }

    return walk(typer.main.get_command(app))


def _unquote(value: str) -> str:
    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        if re.fullmatch(r"[\w:.+-]+", inner):
            return inner
    return value


def _tidy(text: str) -> str:
    """Say who runs a kept command, and join query pairs written side by side."""
    text = re.sub(
        r"(?<!must )(?<!can )(?<!to )(?:\b(?:re-)?run|\bcall)\s*:?\s*(?=`encore[ `])",
        "an operator must run ",
        text,
        flags=re.IGNORECASE,
    )
    text = re.sub(
        r"\bsee\s*:?\s*(?=`encore[ `])", "an operator can look it up with ", text, flags=re.I
    )
    return _PAIRS.sub(r"\1&", text)

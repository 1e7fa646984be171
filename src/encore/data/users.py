"""Listeners of the store by id: the one place an id given by a person is checked."""

from __future__ import annotations

import difflib

from encore.data.store import Store
from encore.errors import UnknownIdError


def resolve_user(store: Store, user: str) -> str:
    """``user`` when the store has it.

    Raises
    ------
    UnknownIdError
        No such user; the hint names the closest ids (``user_05`` -> ``lh:user_05``).
    """
    if not isinstance(user, str) or not user.strip():
        raise UnknownIdError("user", [user], hint="give a user id, e.g. lh:user_05")
    found = store.con.execute("SELECT 1 FROM users WHERE user_id = ?", [user]).fetchone()
    if found is not None:
        return user
    ids = [str(r[0]) for r in store.con.execute("SELECT user_id FROM users").fetchall()]
    if not ids:
        raise UnknownIdError("user", [user], hint="the store has no users: run `encore ingest`")
    tail = user.lower().rsplit(":", 1)[-1]
    suffix = [i for i in ids if i.lower().rsplit(":", 1)[-1] == tail]
    matches = suffix[:5] or difflib.get_close_matches(user, ids, n=5, cutoff=0.6)
    hint = (
        "no such user in the store; did you mean " + ", ".join(matches) + "?"
        if matches
        else "no such user in the store (see `encore info`; ids look like namespace:id)"
    )
    raise UnknownIdError("user", [user], hint=hint)

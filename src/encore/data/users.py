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
    if store.con.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None:
        raise UnknownIdError("user", [user], hint="the store has no users: run `encore ingest`")
    # the closest ids are looked up in the store, not by fetching every id: the same id in
    # another namespace first (user_05 -> lh:user_05), else the ids most like it (DuckDB's
    # Jaro-Winkler picks candidates, difflib ranks them); a few ms on 100,000 users
    tail = user.lower().rsplit(":", 1)[-1]
    suffix = [
        str(r[0])
        for r in store.con.execute(
            "SELECT user_id FROM users WHERE lower(user_id) = $t OR suffix(lower(user_id), "
            "':' || $t) ORDER BY rowid LIMIT 5",
            {"t": tail},
        ).fetchall()
    ]
    matches = suffix
    if not matches:
        like = [
            str(r[0])
            for r in store.con.execute(
                "SELECT user_id FROM users ORDER BY jaro_winkler_similarity(user_id, $u) DESC, "
                "rowid LIMIT 200",
                {"u": user},
            ).fetchall()
        ]
        matches = difflib.get_close_matches(user, like, n=5, cutoff=0.6)
    hint = (
        "no such user in the store; did you mean " + ", ".join(matches) + "?"
        if matches
        else "no such user in the store (see `encore info`; ids look like namespace:id)"
    )
    raise UnknownIdError("user", [user], hint=hint)

"""An unknown user's "did you mean" hint is looked up in the store (the same id in another
namespace, else the closest ids) rather than by fetching every id: the service answers an
unknown user's 404 from it. The hint must name the ids the full difflib search over every id
names. Real data: the 20 listening histories and HetRec's 1,892 users."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from encore.data.store import Store
from encore.data.users import resolve_user
from encore.errors import UnknownIdError


def _full_search(ids: list[str], user: str) -> list[str]:
    """The hint's ids as resolve_user found them before: every id, in the table's order."""
    tail = user.lower().rsplit(":", 1)[-1]
    suffix = [i for i in ids if i.lower().rsplit(":", 1)[-1] == tail]
    return suffix[:5] or difflib.get_close_matches(user, ids, n=5, cutoff=0.6)


@pytest.mark.parametrize(
    "user",
    [
        "user_05",
        "LH:USER_05",
        "lh:user_5",
        "lh:usr_05",
        "hetrec:2x",
        "hetrec2",
        "2",
        "nobody",
        "me",
    ],
)
def test_hint_names_the_ids_a_search_of_every_id_names(listeners_db: Path, user: str) -> None:
    with Store(listeners_db, read_only=True) as store:
        ids = [
            str(r[0]) for r in store.execute("SELECT user_id FROM users ORDER BY rowid").fetchall()
        ]
        with pytest.raises(UnknownIdError) as err:
            resolve_user(store, user)
    hint = err.value.hint or ""
    expected = _full_search(ids, user)
    if expected:
        assert hint.endswith("did you mean " + ", ".join(expected) + "?"), (hint, expected)
    else:
        assert "did you mean" not in hint and "namespace:id" in hint

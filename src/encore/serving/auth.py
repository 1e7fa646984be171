"""API keys: created, listed and revoked by ``encore keys``, checked by the service.

Keys live beside the store in ``<store>.keys.json``; only the SHA-256 of each key is kept
(a key is 32 random bytes, so a plain hash cannot be reversed by guessing). A client
sends ``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``). Writes always need a
key; reads need one only when the service is started with reads closed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from encore.errors import ConfigError, DataError, UnknownIdError

PREFIX = "enc_"
_lock = threading.Lock()


@dataclass
class ApiKey:
    """One key as stored: never the key itself."""

    key_id: str
    name: str
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


def keys_file(db: str | Path) -> Path:
    """Where the keys of store ``db`` are kept."""
    p = Path(db)
    return p.with_name(p.name + ".keys.json")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_keys(db: str | Path) -> list[ApiKey]:
    """Every key of the store, revoked ones included.

    Raises
    ------
    DataError
        The keys file is not what ``encore keys`` writes.
    """
    path = keys_file(db)
    if not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [ApiKey(**entry) for entry in raw["keys"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"not a keys file of Encore ({exc})", file=str(path)) from exc


def _save(db: str | Path, keys: list[ApiKey]) -> None:
    path = keys_file(db)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"keys": [asdict(k) for k in keys]}, indent=2), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def create_key(db: str | Path, name: str) -> tuple[ApiKey, str]:
    """A new key called ``name``: ``(stored entry, the key)``; the key is shown only now.

    Raises
    ------
    ConfigError
        ``name`` is blank.
    """
    if not name or not name.strip():
        raise ConfigError("give the key a name (who or what uses it)")
    secret = PREFIX + secrets.token_urlsafe(32)
    with _lock:
        keys = load_keys(db)
        entry = ApiKey(
            key_id=secrets.token_hex(4),
            name=name.strip(),
            sha256=_hash(secret),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        keys.append(entry)
        _save(db, keys)
    return entry, secret


def revoke_key(db: str | Path, key_id: str) -> ApiKey:
    """Revoke the key ``key_id`` (it stays listed, marked revoked).

    Raises
    ------
    UnknownIdError
        No key has that id.
    """
    with _lock:
        keys = load_keys(db)
        for entry in keys:
            if entry.key_id == key_id:
                if entry.revoked_at is None:
                    entry.revoked_at = datetime.now(UTC).isoformat(timespec="seconds")
                    _save(db, keys)
                return entry
    raise UnknownIdError(
        "API key", [key_id], hint="`encore keys list` shows the ids of the store's keys"
    )


class KeyRing:
    """The active keys' hashes, re-read when the keys file changes (revocation is live)."""

    def __init__(self, db: str | Path) -> None:
        self.db = db
        self._stamp: float | None = None
        self._hashes: dict[str, str] = {}

    def _refresh(self) -> None:
        path = keys_file(self.db)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = -1
        if stamp != self._stamp:
            keys = load_keys(self.db) if stamp != -1 else []
            self._hashes = {k.sha256: k.key_id for k in keys if k.active}
            self._stamp = stamp

    def check(self, key: str | None) -> str | None:
        """The id of the active key ``key``, else None."""
        if not key:
            return None
        self._refresh()
        digest = _hash(key)
        for stored, key_id in self._hashes.items():
            if hmac.compare_digest(stored, digest):
                return key_id
        return None

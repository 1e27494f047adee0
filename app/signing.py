"""HMAC signatures for links that must work without an API key (attachment downloads)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from app.config import Settings


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(self, signature: str, *parts: str) -> bool:
        return hmac.compare_digest(self.sign(*parts), signature)


def load_signer(settings: Settings) -> Signer:
    """The configured secret, else one kept in `secret_file` (made once, readable by us only)."""
    if settings.secret_key is not None:
        return Signer(settings.secret_key.get_secret_value().encode())
    return Signer(_secret_from_file(settings.secret_file))


def _secret_from_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker won the race: use its key
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key

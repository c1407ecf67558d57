"""Opaque secrets handed to clients (refresh, verification, reset): random, stored as SHA-256.

They carry 256 bits of entropy, so a fast hash is enough: nobody can brute-force the preimage,
and a leaked table gives nothing usable.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> tuple[str, str]:
    """(secret for the client, hash to store)."""
    secret = secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()

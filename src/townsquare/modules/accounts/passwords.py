"""Password hashing with argon2id (pwdlib), off the event loop.

Hashes made with bcrypt (imported accounts) still verify and are upgraded to argon2id at the
next successful login.
"""

from __future__ import annotations

from functools import lru_cache

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

MIN_LENGTH = 10
MAX_LENGTH = 1024


class PasswordHasher:
    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._hash = PasswordHash(
            (Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib), BcryptHasher())
        )
        # Verified against when the account does not exist, so timing does not tell.
        self._decoy = self._hash.hash("decoy password that matches nothing")

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """(matches, upgraded hash to store or None)."""
        target = password_hash or self._decoy
        valid, updated = await anyio.to_thread.run_sync(
            self._hash.verify_and_update, password, target
        )
        if password_hash is None:
            return False, None
        return valid, updated


@lru_cache
def password_hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    """One hasher per parameter set and process (building one hashes the decoy)."""
    return PasswordHasher(time_cost=time_cost, memory_kib=memory_kib)

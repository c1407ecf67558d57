"""Input rules shared by every module's request schemas.

PostgreSQL text cannot hold the NUL character (U+0000): a value with one fails in the database
(a 500) instead of being refused as invalid input (a 422). Free text a client sends that is
stored or looked up carries ``NoNul``: ``Annotated[str, StringConstraints(...), NoNul]``.
Strings already held to a pattern or a stricter type (usernames, emails, URLs) need not.
"""

from __future__ import annotations

from pydantic import AfterValidator


def refuse_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


NoNul = AfterValidator(refuse_nul)

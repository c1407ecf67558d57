"""Input rules shared by every module's request schemas.

PostgreSQL text cannot hold the NUL character (U+0000): a value with one fails in the database
(a 500) instead of being refused as invalid input (a 422). Free text a client sends that is
stored or looked up carries ``NoNul``: ``Annotated[str, StringConstraints(...), NoNul]``.
Strings already held to a pattern or a stricter type (usernames, emails, URLs) need not.
"""

from __future__ import annotations

from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema


def refuse_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


#: The same rule as a JSON Schema pattern, so the contract says so too.
NO_NUL_PATTERN = r"^[^\x00]*$"


class _NoNul:
    """``AfterValidator(refuse_nul)`` that also documents itself as ``NO_NUL_PATTERN``."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(refuse_nul, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if "pattern" in json_schema:  # one pattern per schema: the second goes in an allOf
            json_schema.setdefault("allOf", []).append({"pattern": NO_NUL_PATTERN})
        else:
            json_schema["pattern"] = NO_NUL_PATTERN
        return json_schema


NoNul = _NoNul()

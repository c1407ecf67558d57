"""Input rules shared by every module's request schemas.

PostgreSQL text cannot hold the NUL character (U+0000): a value with one fails in the database
(a 500) instead of being refused as invalid input (a 422). Free text a client sends that is
stored or looked up carries ``NoNul``: ``Annotated[str, StringConstraints(...), NoNul]``.
Strings already held to a pattern or a stricter type (usernames, emails, URLs) need not.

Names, titles and bios shown to other people also carry ``Visible``, after the constraints:
``Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
NoNul, Visible(100)]``. It strips control, bidirectional and invisible characters
(``kit.text.clean_text``) and refuses a required value left with nothing visible (422 on the
field). Profiles, conversations, bookmark collections, post locations, poll options and
attachment file names use it; groups, when they come, reuse it for their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from townsquare.kit.text import clean_text, visible_pattern


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
        return _add_pattern(handler(schema), NO_NUL_PATTERN)


def _add_pattern(json_schema: JsonSchemaValue, pattern: str) -> JsonSchemaValue:
    if "pattern" in json_schema:  # one pattern per schema: the second goes in an allOf
        json_schema.setdefault("allOf", []).append({"pattern": pattern})
    else:
        json_schema["pattern"] = pattern
    return json_schema


NoNul = _NoNul()


@dataclass(frozen=True, slots=True)
class Visible:
    """Annotation: clean a human-visible text (see the module's docstring).

    ``max_length`` is checked again after cleaning (NFC may lengthen a few rare sequences; the
    column must still hold the value); ``required`` refuses an empty result; ``multiline``
    keeps line breaks (bios, descriptions)."""

    max_length: int
    required: bool = True
    multiline: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.clean, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # A required value must keep something visible: the contract says so, so a client (and
        # the schema fuzz) knows that "\u200b" alone is refused like "".
        json_schema = handler(schema)
        if not self.required:
            return json_schema
        if json_schema.get("pattern") == NO_NUL_PATTERN:
            # One pattern saying both (no NUL, something visible): schema fuzzers and clients
            # honour a top-level pattern more reliably than a second one in an allOf.
            json_schema["pattern"] = rf"^[^\x00]*{visible_pattern()}[^\x00]*$"
            return json_schema
        return _add_pattern(json_schema, visible_pattern())

    def clean(self, value: str) -> str:
        cleaned = clean_text(value, multiline=self.multiline)
        if self.required and not cleaned:
            raise ValueError("must contain visible characters")
        if len(cleaned) > self.max_length:
            raise ValueError(f"must have at most {self.max_length} characters")
        return cleaned

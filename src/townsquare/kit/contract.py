"""Request-schema helpers that keep the documented contract equal to what validation does.

``omittable_not_null``: fields a client may omit but not set to ``null``. A partial update
(``PATCH``) types such a field ``X | None = None`` so that "omitted" can be told apart, and a
validator refuses an explicit ``null``. Pydantic still documents the ``None`` branch, so the
schema promised ``null`` the server then refused. ``omittable_not_null(...)`` goes in the model's
``json_schema_extra``: it drops the ``null`` branch and the ``null`` default of those fields
from the JSON schema, so the contract says what the validator does.

``HttpUrlIn``: an http(s) URL whose documented length is the length accepted.

``WholeNumber``: a strict integer (no ``"5"``, no ``true``) takes ``5.0``, as JSON Schema does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, HttpUrl, UrlConstraints

NULL = {"type": "null"}


def _without_null(prop: dict[str, Any]) -> None:
    branches = prop.get("anyOf")
    if isinstance(branches, list) and NULL in branches:
        rest = [branch for branch in branches if branch != NULL]
        del prop["anyOf"]
        if len(rest) == 1:
            prop.update(rest[0])
        else:
            prop["anyOf"] = rest
    if "default" in prop and prop["default"] is None:
        del prop["default"]


def omittable_not_null(*names: str) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` for a model whose ``names`` (all its fields if none are given) may
    be omitted but not null."""

    def strip(schema: dict[str, Any]) -> None:
        properties: dict[str, Any] = schema.get("properties", {})
        for name, prop in properties.items():
            if not names or name in names:
                _without_null(prop)

    return strip


#: Stored URLs fit a ``String(2048)`` column once normalized.
URL_COLUMN_LENGTH = 2048


def _fits_column(url: HttpUrl) -> HttpUrl:
    if len(str(url)) > URL_COLUMN_LENGTH:  # an IDN host grows when converted to punycode
        raise ValueError(f"is longer than {URL_COLUMN_LENGTH} characters once normalized")
    return url


#: An http(s) URL of at most 2,047 characters as sent: normalizing may add the ``/`` of an empty
#: path, and what is stored must fit 2,048. (A ``max_length`` on ``HttpUrl`` measured the
#: normalized URL, so a documented-valid 2,048-character URL was refused.)
HttpUrlIn = Annotated[
    HttpUrl, UrlConstraints(max_length=URL_COLUMN_LENGTH - 1), AfterValidator(_fits_column)
]


def _whole_float_to_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: JSON Schema's ``integer`` is any number with no fractional part, ``5.0`` included; strict mode
#: alone refused it. Last in the annotation, after the constraints:
#: ``Annotated[int, Strict(), Field(ge=0), WholeNumber]``. Strings and booleans stay refused.
WholeNumber = BeforeValidator(_whole_float_to_int)

"""Answers already serialized: hot read paths build their JSON as plain dicts and encode it
once with orjson, instead of validating and serializing a pydantic model per item.

The route keeps its ``response_model`` for the OpenAPI document; FastAPI sends a returned
``Response`` as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import Response
from pydantic import TypeAdapter


def json_response(content: Any, status_code: int = 200) -> Response:
    """``content`` (JSON-ready: strings, numbers, booleans, None, lists, dicts) as JSON."""
    return Response(
        content=orjson.dumps(content), status_code=status_code, media_type="application/json"
    )


_MOMENT = TypeAdapter(datetime)


def json_moment(moment: datetime | None) -> str | None:
    """A datetime written exactly as the API's models write it (pydantic's JSON mode)."""
    return None if moment is None else _MOMENT.dump_python(moment, mode="json")

"""The OpenAPI document says what the server does: methods, refusals and failure answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures import problems

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def _concrete(path: str) -> str:
    """A request path for a template: each ``{param}`` replaced by a plausible value."""
    return path.replace("{", "").replace("}", "").replace("_id", "-0190b3b0")


async def test_405_allow_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    # A path served by GET and PATCH is two routes; its 405 used to name the first one's only.
    schema = await _schema(client)
    checked = 0
    for path, item in schema["paths"].items():
        declared = sorted(method.upper() for method in item if method in HTTP_METHODS)
        missing = [m for m in HTTP_METHODS if m.upper() not in declared]
        if len(declared) < 2 or not missing:
            continue
        url = _concrete(path)
        response = await client.request(missing[0].upper(), url)
        problems.assert_problem(response, 405, "method_not_allowed")
        allowed = sorted(m.strip() for m in response.headers["allow"].split(","))
        assert allowed == declared, f"{missing[0].upper()} {url}: Allow {allowed} != {declared}"
        checked += 1
    assert checked >= 20  # the document has dozens of such paths


@pytest.mark.parametrize("method", ["PUT", "TRACE", "OPTIONS", "HEAD"])
async def test_405_on_a_shared_path_names_its_three_methods(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/api/v1/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    if method != "HEAD":
        problems.assert_problem(response, 405, "method_not_allowed")


async def test_every_api_operation_documents_503_overloaded(client: httpx.AsyncClient) -> None:
    # A full connection pool (or SQLite's busy timeout) answers 503 ``overloaded`` anywhere a
    # request opens a unit of work, which is every API operation.
    schema = await _schema(client)
    undocumented = []
    for path, item in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            answer = operation["responses"].get("503")
            if answer is None or "Retry-After" not in answer.get("headers", {}):
                undocumented.append(f"{method.upper()} {path}")
            else:
                content = answer["content"]["application/problem+json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Problem"}
    assert not undocumented

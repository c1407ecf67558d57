"""The OpenAPI document says what the server does: methods, refusals and failure answers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import jsonschema_rs
import pytest

from tests.fixtures import problems
from tests.fixtures.users import signed_in_user
from townsquare.kit.errors import REQUEST_VALIDATION_DETAIL

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


def _properties(schema: dict[str, Any], model: str) -> dict[str, Any]:
    properties: dict[str, Any] = schema["components"]["schemas"][model]["properties"]
    return properties


def _nullable(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(b.get("type") == "null" for b in prop.get("anyOf", []))


async def test_fields_that_refuse_null_are_not_documented_nullable(
    client: httpx.AsyncClient,
) -> None:
    schema = await _schema(client)
    refuse_null = {
        "ProfileUpdate": ["username", "display_name", "account_type", "is_private"],
        "PrivacyUpdate": list(_properties(schema, "PrivacyUpdate")),
        "SettingsUpdate": list(_properties(schema, "SettingsUpdate")),
        "PostUpdate": ["content", "visibility", "allow_reactions", "comment_permission"],
        "TopicUpdate": ["is_featured"],
    }
    for model, fields in refuse_null.items():
        properties = _properties(schema, model)
        for name in fields:
            assert not _nullable(properties[name]), f"{model}.{name}"
            assert properties[name].get("default", "omitted") is not None, f"{model}.{name}"
    # Fields that null clears stay nullable.
    assert _nullable(_properties(schema, "ProfileUpdate")["bio"])
    assert _nullable(_properties(schema, "TopicUpdate")["color"])


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        # The validator refuses each: the schema must refuse it too.
        ("RegisterRequest", "email", "someone@example.test"),
        ("RegisterRequest", "email", "someone@mail.LOCALHOST"),
        ("RegisterRequest", "email", "someone@hidden.onion"),
        ("LoginRequest", "identifier", " \t "),
        ("LoginRequest", "identifier", "\u3000"),
        ("LoginRequest", "identifier", "ann\x00"),
        ("ProfileUpdate", "bio", "a\x00b"),
        ("ProfileUpdate", "website", "https://example.org/" + "a" * 2028),  # 2,048 characters
        ("SettingsUpdate", "timezone", "Mars/Olympus_Mons"),
        ("PollIn", "options", ["yes", "yes"]),
    ],
)
async def test_schema_refuses_what_validation_refuses(
    client: httpx.AsyncClient, model: str, field: str, value: object
) -> None:
    schema = await _schema(client)
    prop = _properties(schema, model)[field]
    assert not jsonschema_rs.validator_for(prop).is_valid(value), (model, field, value)


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("RegisterRequest", "email", "someone@example.org"),
        ("RegisterRequest", "email", "someone@testing.com"),
        ("LoginRequest", "identifier", " ann "),
        ("ProfileUpdate", "website", "https://example.org/" + "a" * 2027),
        ("SettingsUpdate", "timezone", "Europe/Paris"),
        ("PollIn", "options", ["yes", "no"]),
    ],
)
async def test_schema_allows_what_validation_allows(
    client: httpx.AsyncClient, model: str, field: str, value: object
) -> None:
    schema = await _schema(client)
    prop = _properties(schema, model)[field]
    assert jsonschema_rs.validator_for(prop).is_valid(value), (model, field, value)


async def test_cursor_is_documented_as_what_the_server_hands_out(
    client: httpx.AsyncClient,
) -> None:
    schema = await _schema(client)
    cursors = [
        parameter["schema"]
        for item in schema["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "cursor"
    ]
    assert len(cursors) > 20
    for cursor in cursors:
        (string,) = [branch for branch in cursor["anyOf"] if branch.get("type") == "string"]
        assert string["pattern"] == "^[A-Za-z0-9_-]+$"
        assert string["minLength"] == 1


async def test_whole_numbers_written_as_floats_are_integers(client: httpx.AsyncClient) -> None:
    # JSON Schema's integer includes 90.0; strict mode refused it, and still refuses "90".
    user = await signed_in_user(client)
    response = await client.patch(
        "/api/v1/me/settings", json={"daily_time_limit_minutes": 90.0}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["daily_time_limit_minutes"] == 90
    for value in ("90", True, 90.5):
        response = await client.patch(
            "/api/v1/me/settings", json={"daily_time_limit_minutes": value}, headers=user.headers
        )
        problems.assert_problem(response, 422, "validation_failed")


async def test_a_birth_date_out_of_range_is_refused_by_the_use_case(
    client: httpx.AsyncClient,
) -> None:
    # The schema cannot say "today": the refusal is the use case's 422, with its own detail.
    user = await signed_in_user(client)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    for value in (tomorrow, "1899-12-31"):
        response = await client.patch(
            "/api/v1/me/profile", json={"birth_date": value}, headers=user.headers
        )
        body = problems.assert_problem(response, 422, "validation_failed")
        assert body["detail"] != REQUEST_VALIDATION_DETAIL
        assert [(e["field"], e["type"]) for e in body["errors"]] == [
            ("body.birth_date", "out_of_range")
        ]

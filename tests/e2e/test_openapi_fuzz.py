"""Fuzz every operation of the live API against its own OpenAPI document, with Schemathesis.

A real uvicorn server serves the app on a free loopback port, in a background thread with its
own event loop, once per test backend (SQLite; PostgreSQL + Redis when configured). Schemathesis
loads ``/openapi.json`` from it and, for each operation, sends the schema's examples, coverage
cases (boundary values, missing and invalid fields, wrong types, missing credentials) and fuzzed
requests, valid and invalid alike. Every answer must pass ``CHECKS``.

Secured operations are sent with the bearer token of a registered user whose email is verified,
so their authenticated code paths run, not only their 401. ``/admin`` operations, and any other
that answers the user ``403 forbidden`` (staff only), are sent as an admin. A case that ends its
session (logout, deactivation, deletion) makes the harness log in again before the next one.
Every other valid case names real things (the account's credentials, a live refresh token,
existing usernames, users and sessions), so success paths run too: logging in, changing the
password or deleting the account would otherwise only ever be refused.

Coverage is enforced, not assumed: after the run, every operation of the served schema must have
been called, and every secured one must have answered the harness's token at least once with
something other than 401.

Deeper local runs: ``TOWNSQUARE_FUZZ_MAX_EXAMPLES=300 TOWNSQUARE_FUZZ_SEED=7 pytest tests/e2e``.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.core.failures import FailureGroup, as_reported_failure
from schemathesis.core.result import Err, Ok
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.conftest import CONTENT_LIMITS, Backend, _clean, make_settings
from tests.fixtures import users
from tests.fixtures.mailbox import Mailbox
from townsquare.kit.errors import PROBLEM_CONTENT_TYPE, REQUEST_VALIDATION_DETAIL
from townsquare.main import create_app
from townsquare.modules.accounts.admin import create_admin

pytestmark = pytest.mark.filterwarnings(
    # Raised from inside Schemathesis' own strategies, not from anything this file does.
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)

#: What a schema-valid request may be answered, besides success: what Schemathesis allows by
#: default (401/403: credentials and staff-only operations; 404: a generated id or username that
#: names nothing; 409: a conflict with what exists, e.g. a username taken; 429; 5xx, which
#: ``not_a_server_error`` fails anyway). A 400 or a 422 from a use case is also fine: see
#: ``refused_by_a_rule``.
ACCEPTANCE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def refused_by_a_rule(response: schemathesis.Response) -> bool:
    """Whether the server refused a schema-valid request by a rule the schema cannot state.

    Well-formed is not the same as acceptable: a token or cursor this server never handed out
    (400 ``invalid_token``, 422 ``invalid_cursor``), a wrong current password, "write something
    or attach media", a follow of oneself. These answers are the app's own problems: a 400 (request
    parsing never answers 400) or a 422 raised by a use case, which carries its own ``detail``.
    A 422 with ``REQUEST_VALIDATION_DETAIL`` is request parsing refusing what the schema allows:
    exactly what ``positive_data_acceptance`` is there to catch (``account_type: null``, special-use
    email domains, a whitespace-only identifier).
    """
    if not response.headers.get("content-type", [""])[0].startswith(PROBLEM_CONTENT_TYPE):
        return False
    body = response.json()
    if response.status_code == 400:
        return True
    return response.status_code == 422 and body.get("detail") != REQUEST_VALIDATION_DETAIL


@schemathesis.check
def positive_data_accepted(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """``positive_data_acceptance``, letting through refusals by a rule the schema cannot state."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if refused_by_a_rule(response):
            return None
        raise


@schemathesis.check
def allow_lists_the_path(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A 405 names in ``Allow`` every method the schema declares for the path, and nothing that
    no matching path declares (``/topics/trending`` also matches ``/topics/{name}``, which has
    PATCH: ``PATCH /topics/trending`` is routed, so listing it is right)."""
    if response.status_code != 405:
        return None
    paths: dict[str, Any] = case.operation.schema.raw_schema["paths"]
    declared = {m.upper() for m in paths[case.operation.path] if m in HTTP_METHODS}
    sent_path = urlsplit(response.request.url).path
    routable = {
        m.upper()
        for template, item in paths.items()
        if re.fullmatch(re.sub(r"\{[^}/]+\}", "[^/]+", template), sent_path)
        for m in item
        if m in HTTP_METHODS
    }
    header = ", ".join(response.headers.get("allow", []))
    allow = {m.strip() for m in header.split(",") if m.strip()}
    if not declared <= allow <= routable:
        raise AssertionError(
            f"405 to {response.request.method} {sent_path}: Allow {sorted(allow)}; the schema "
            f"declares {sorted(declared)} for {case.operation.path}, {sorted(routable)} in all"
        )
    return None


#: Fuzzed (random) cases per operation, on top of the schema examples and coverage cases.
#: CI keeps the defaults; raise the count and change the seed locally to dig deeper.
MAX_EXAMPLES = int(os.environ.get("TOWNSQUARE_FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("TOWNSQUARE_FUZZ_SEED", "20240613"))
CHECKS = [
    # No 5xx, whatever the request.
    not_a_server_error,
    # Nothing that breaks the documented contract.
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # Requests that break the schema are refused. Not noise: it caught Pydantic's lax mode
    # taking 0.0 for false, "5" for 5 and a number of seconds for a date.
    negative_data_rejection,
    # Secured operations refuse requests without valid credentials. It probes (twice) after a
    # success; once per operation is enough, as in Schemathesis' own runner.
    ignored_auth,
    # Requests that keep to the schema are not refused for their shape (see
    # ``positive_data_accepted``), and a method the path lacks answers 405 naming the path's
    # methods in ``Allow`` (``unsupported_method`` wants the header; ``allow_lists_the_path``
    # checks what it says).
    positive_data_accepted,
    unsupported_method,
    allow_lists_the_path,
]
#: What counts as refusing an invalid request: Schemathesis' default list plus 413, which it
#: lacks. An invalid body can also be too large (100,000 characters of emoji are 1.2 MB of
#: escaped JSON), and the size limit answers before validation does. (5xx is in the default
#: list; ``not_a_server_error`` fails those anyway.)
REJECTION_STATUSES = [
    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"),
    "5xx",
]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
#: Methods the coverage phase tries on each path where they are not declared (expecting 405).
#: One safe, one unsafe: all eight would add ~10% to the run for the same framework answer.
UNEXPECTED_METHODS = ["trace", "put"]
#: Message framing is the HTTP layer's business: a generated ``Content-Length: abc`` is refused by
#: uvicorn itself (a plain-text 400) before the application sees the request. Such headers are
#: dropped from the generated ones; every other header is sent as generated.
FRAMING_HEADERS = {"content-length", "transfer-encoding", "connection", "host", "expect", "te"}
#: Thousands of requests from one address within seconds. The limiter still runs (in memory or
#: on Redis) but never trips: a 429 would hide what the case was testing.
UNREACHABLE_LIMITS = {
    name: "1000000/minute"
    for name in (
        "rate_limit_register_per_ip",
        "rate_limit_login_per_ip",
        "rate_limit_password_per_ip",
        "rate_limit_password_per_account",
        "rate_limit_login_failures_per_account",
        "rate_limit_login_failures_per_source",
        *CONTENT_LIMITS,
    )
}
#: Operations whose success ends the session the request was made with.
ENDS_SESSION = {"POST /api/v1/auth/logout", "POST /api/v1/me/deactivate", "DELETE /api/v1/me"}
PASSWORD_FIELDS = ("password", "current_password")


# --- a real server, in a thread of its own


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port; its own thread, its own event loop."""

    def __init__(self, app: FastAPI) -> None:
        # Bound here and handed to uvicorn, so no other process can take the port in between.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="uvicorn-openapi-fuzz",
            daemon=True,
        )

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("uvicorn stopped during start-up; see the captured log")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start in time")
            time.sleep(0.02)

    def stop(self, timeout: float = 30.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()
        assert not self._thread.is_alive(), "uvicorn did not shut down"


# --- who the requests act as


@dataclass
class Account:
    """A real account; its token is re-issued whenever a case ended its session."""

    user_id: str
    username: str
    password: str
    token: str | None = None
    logins: int = 0

    def login(self, base_url: str, http: requests.Session) -> dict[str, Any]:
        """A new session: its tokens and id."""
        response = http.post(
            f"{base_url}/api/v1/auth/login",
            json={"identifier": self.username, "password": self.password},
            timeout=30,
        )
        assert response.status_code == 200, f"login as {self.username} failed: {response.text}"
        self.logins += 1
        tokens: dict[str, Any] = response.json()
        return tokens

    def bearer(self, base_url: str, http: requests.Session) -> str:
        if self.token is None:
            self.token = self.login(base_url, http)["access_token"]
        return self.token


@dataclass
class LiveApi:
    url: str
    #: Verified user: sends every secured request that is not for staff.
    user: Account
    #: Sends the staff-only requests.
    admin: Account
    #: Another user, whom the staff requests may suspend and reinstate.
    target: Account


@dataclass(repr=False)
class FuzzRun:
    """Sends each case as the right account, keeps the accounts usable, records what ran."""

    api: LiveApi
    http: requests.Session = field(default_factory=requests.Session)
    calls: Counter[str] = field(default_factory=Counter)
    #: operation label -> statuses answered to requests that carried one of our tokens
    authenticated: defaultdict[str, Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    #: requests refused because their session had ended without the harness noticing
    stale_tokens: list[str] = field(default_factory=list)
    #: operations that ignored_auth has confirmed refuse requests without credentials
    auth_enforced: set[str] = field(default_factory=set)
    #: operations that answered the user "403 forbidden": sent as the admin from then on
    staff_only: set[str] = field(default_factory=set)
    _valid_cases: Counter[str] = field(default_factory=Counter)

    def __repr__(self) -> str:
        # Hypothesis prints the test's arguments with a failure: the whole state here would
        # push the failure itself out of CI's excerpt of the log.
        return f"FuzzRun({sum(self.calls.values())} calls, stale tokens: {self.stale_tokens})"

    def run(self, case: schemathesis.Case) -> None:
        operation = case.operation
        label = operation.label
        self.calls[label] += 1
        staff = operation.path.startswith("/api/v1/admin/") or label in self.staff_only
        account = self.api.admin if staff else self.api.user
        # Cases that deliberately leave the credentials out (negative testing) go without them,
        # and so does every other request where authentication is optional.
        sends_token = (
            is_secured(operation)
            and not operation.schema.is_security_param_negated(case)
            and not (is_auth_optional(operation) and self.calls[label] % 2 == 0)
        )
        headers = None
        if sends_token:
            headers = {"Authorization": f"Bearer {account.bearer(self.api.url, self.http)}"}
        self._use_real_values(case, account)
        if isinstance(case.headers, dict) and FRAMING_HEADERS & {h.lower() for h in case.headers}:
            case.headers = {
                name: value
                for name, value in case.headers.items()
                if name.lower() not in FRAMING_HEADERS
            }
        response = case.call(session=self.http, headers=headers)
        if sends_token:
            self._after_authenticated_call(case, response, account)
        confirmed = label in self.auth_enforced
        case.validate_response(
            response,
            checks=[check for check in CHECKS if not (confirmed and check is ignored_auth)],
            headers=headers,
            transport_kwargs={"session": self.http, "headers": headers},
        )
        if sends_token and 200 <= response.status_code < 300:
            self.auth_enforced.add(label)  # ignored_auth probed it and passed

    def _use_real_values(self, case: schemathesis.Case, account: Account) -> None:
        """Every other valid case names real things instead of random ones."""
        if not is_positive(case):
            return  # invalid cases stay exactly as generated: they must be refused
        self._valid_cases[case.operation.label] += 1
        count = self._valid_cases[case.operation.label]
        if count % 2:
            return
        target = self.api.target
        path = case.path_parameters
        if isinstance(path, dict) and path:
            path = dict(path)
            if "username" in path:  # oneself, then someone else (follow, block, view...)
                path["username"] = account.username if count % 4 else target.username
            if "user_id" in path:
                path["user_id"] = target.user_id
            if "session_id" in path:  # a spare session, not the one in use
                path["session_id"] = account.login(self.api.url, self.http)["session_id"]
            case.path_parameters = path
        body = case.body
        if isinstance(body, dict):
            body = dict(body)
            for name in PASSWORD_FIELDS:
                if isinstance(body.get(name), str):
                    body[name] = account.password
            if isinstance(body.get("identifier"), str):  # login
                body["identifier"] = account.username
            if isinstance(body.get("refresh_token"), str):
                body["refresh_token"] = account.login(self.api.url, self.http)["refresh_token"]
            case.body = body

    def _after_authenticated_call(
        self, case: schemathesis.Case, response: schemathesis.Response, account: Account
    ) -> None:
        label = case.operation.label
        status = response.status_code
        self.authenticated[label][status] += 1
        if status == 401:
            self.stale_tokens.append(f"{label}: {response.text[:200]}")
            account.token = None
            return
        if status == 403 and account is self.api.user and problem_code(response) == "forbidden":
            self.staff_only.add(label)
            return
        if not 200 <= status < 300:
            return
        if label in ENDS_SESSION:
            account.token = None
        elif label == "POST /api/v1/auth/password/change":
            account.password = case.body["new_password"]
        elif label == "PATCH /api/v1/me/profile":
            account.username = response.json()["username"]


def security_requirements(operation: schemathesis.APIOperation) -> list[dict[str, Any]]:
    security = operation.definition.raw.get("security")
    if security is None:
        security = operation.schema.raw_schema.get("security", [])
    return list(security)


def is_secured(operation: schemathesis.APIOperation) -> bool:
    """Whether the operation takes credentials (required or optional)."""
    return any(security_requirements(operation))


def is_auth_optional(operation: schemathesis.APIOperation) -> bool:
    return {} in security_requirements(operation)


def is_positive(case: schemathesis.Case) -> bool:
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


def problem_code(response: schemathesis.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def schema_operations(raw_schema: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in raw_schema["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


# --- fixtures


@pytest.fixture(scope="module")
async def live_api(backend: Backend, mailbox_server: Mailbox) -> AsyncIterator[LiveApi]:
    settings = make_settings(backend, mailbox_server, **UNREACHABLE_LIMITS)
    mailbox_server.clear()
    server = LiveServer(create_app(settings))
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            user = await users.register(client, users.unique_username("fuzz"))
            await users.verify_email(client, mailbox_server, user["email"])
            target = await users.register(client, users.unique_username("fuzz_target"))
        admin_name = users.unique_username("fuzz_admin")
        admin_id = await create_admin(
            settings, f"{admin_name}@example.org", admin_name, users.PASSWORD, "Fuzz Admin"
        )
        yield LiveApi(
            url=server.url,
            user=Account(user["id"], user["username"], users.PASSWORD),
            admin=Account(str(admin_id), admin_name, users.PASSWORD),
            target=Account(target["id"], target["username"], users.PASSWORD),
        )
    finally:
        server.stop()
        await _clean(backend, settings)


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> schemathesis.BaseSchema:
    # An explicit config: no schemathesis.toml lying around can change what CI runs.
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": live_api.url,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}},
            "checks": {
                "negative_data_rejection": {"expected-statuses": REJECTION_STATUSES},
                "positive_data_acceptance": {"expected-statuses": ACCEPTANCE_STATUSES},
            },
        }
    )
    return schemathesis.openapi.from_url(f"{live_api.url}/openapi.json", config=config)


# --- the test


def fuzz_case(case: schemathesis.Case, fuzz_run: FuzzRun) -> None:
    """The body of each operation's Hypothesis test: one generated case, sent and checked."""
    fuzz_run.run(case)


def test_api_honours_its_openapi_contract(
    api_schema: schemathesis.BaseSchema, live_api: LiveApi, subtests: pytest.Subtests
) -> None:
    # One Hypothesis test per operation (examples, coverage and fuzzing phases), built by the
    # function ``schemathesis.pytest.from_fixture(...).parametrize()`` uses, each run as a
    # pytest subtest. Not ``from_fixture`` itself: Schemathesis 4.32 sets
    # ``request.node._nodeid`` there, an attribute pytest 9.2 no longer has.
    load_all_checks()
    run = FuzzRun(live_api)
    built = list(
        get_all_tests(schema=api_schema, test_func=fuzz_case, settings=None, given_kwargs=None)
    )
    try:
        for result in built:
            if isinstance(result, Err):
                error = result.err()
                with subtests.test(msg=f"invalid schema: {error.method} {error.path}"):
                    raise error
                continue
            operation, operation_test = result.ok()
            with subtests.test(msg=operation.label):
                try:
                    operation_test(fuzz_run=run)
                except FailureGroup as exc:
                    raise as_reported_failure(exc) from None
    finally:
        run.http.close()

    # Proof of coverage: every operation of the served schema was called, and every secured one
    # answered one of our tokens at least once with something other than 401.
    expected = schema_operations(api_schema.raw_schema)
    assert len(built) == len(expected), "Schemathesis did not build a test for every operation"
    assert set(run.calls) == expected, f"never fuzzed: {sorted(expected - set(run.calls))}"
    secured = {
        result.ok()[0].label
        for result in built
        if isinstance(result, Ok) and is_secured(result.ok()[0])
    }
    assert secured, "no secured operation found: is the bearer scheme still declared?"
    not_past_auth = sorted(label for label in secured if set(run.authenticated[label]) <= {401})
    assert not not_past_auth, f"never got past authentication: {not_past_auth}"
    assert not run.stale_tokens, f"requests sent with an ended session: {run.stale_tokens}"

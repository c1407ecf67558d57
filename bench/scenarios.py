"""The requests of each scenario, built once from the dataset's manifest and the minted tokens."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from bench.dataset import REACTION_TYPES, WORDS, Manifest


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str | None = None
    body: dict[str, Any] | None = None

    def render(self, host: str) -> str:
        """The raw HTTP/1.1 request (latin-1 text: tokens, paths and JSON bodies are ASCII)."""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        payload = b""
        if self.body is not None:
            payload = orjson.dumps(self.body)
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        return "\r\n".join(lines) + "\r\n\r\n" + payload.decode("ascii")


@dataclass
class Scenario:
    name: str
    description: str
    expect: list[int]
    requests: list[Request] = field(default_factory=list)
    #: Writes leave work to the outbox; the search waits for it between steps.
    writes: bool = False


def mint_tokens(manifest: Manifest, secret: str) -> dict[str, str]:
    """An access token (2 hours) for every user with a session: user id -> token."""
    from townsquare.kit.auth import issue_access_token

    tokens = {}
    for user in [*manifest.load_users, manifest.author, manifest.celebrity]:
        if "session_id" not in user:
            continue
        token, _ = issue_access_token(
            secret=secret,
            user_id=uuid.UUID(user["id"]),
            session_id=uuid.UUID(user["session_id"]),
            ttl=timedelta(hours=2),
        )
        tokens[user["id"]] = token
    return tokens


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high))).capitalize() + "."


def build(name: str, manifest: Manifest, tokens: dict[str, str], seed: int = 5) -> Scenario:
    rng = random.Random(seed)
    viewers = [tokens[u["id"]] for u in manifest.load_users if u["id"] in tokens]
    posts = manifest.recent_public_posts
    if name == "healthz":
        return Scenario(
            name,
            "GET /healthz: bare JSON through the whole middleware stack (framework ceiling)",
            [200],
            [Request("GET", "/healthz")],
        )
    if name in ("feed", "feed_ranked"):
        order = "ranked" if name == "feed_ranked" else "chronological"
        return Scenario(
            name,
            f"GET /api/v1/feed?order={order}&limit=20, first page, random load user",
            [200],
            [Request("GET", f"/api/v1/feed?order={order}&limit=20", t) for t in viewers],
        )
    if name == "profile":
        usernames = manifest.profile_usernames
        return Scenario(
            name,
            "GET /api/v1/users/{username}/posts?limit=20, random author, random viewer",
            [200],
            [
                Request(
                    "GET",
                    f"/api/v1/users/{rng.choice(usernames)}/posts?limit=20",
                    rng.choice(viewers),
                )
                for _ in range(4000)
            ],
        )
    if name == "post_create":
        author = tokens[manifest.author["id"]]
        return Scenario(
            name,
            f"POST /api/v1/posts, public text post by the author with "
            f"{manifest.author_followers} followers (fan-out in the outbox handler)",
            [201],
            [
                Request(
                    "POST",
                    "/api/v1/posts",
                    author,
                    {"type": "text", "content": _sentence(rng, 5, 40), "visibility": "public"},
                )
                for _ in range(4000)
            ],
            writes=True,
        )
    if name == "reaction":
        return Scenario(
            name,
            "PUT /api/v1/posts/{id}/reaction (replaces any previous one), random user, "
            "random recent public post, random type",
            [200],
            [
                Request(
                    "PUT",
                    f"/api/v1/posts/{rng.choice(posts)}/reaction",
                    rng.choice(viewers),
                    {"type": rng.choice(REACTION_TYPES)},
                )
                for _ in range(8000)
            ],
            writes=True,
        )
    if name == "comment":
        return Scenario(
            name,
            "POST /api/v1/posts/{id}/comments, random user, random recent public post",
            [201],
            [
                Request(
                    "POST",
                    f"/api/v1/posts/{rng.choice(posts)}/comments",
                    rng.choice(viewers),
                    {"content": _sentence(rng, 3, 25)},
                )
                for _ in range(8000)
            ],
            writes=True,
        )
    raise ValueError(f"unknown scenario {name}")

"""Polls: one vote per user, changing it while open, closed polls, exact counts under races."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.posts.helpers import API, act, assert_422_on, assert_problem, new_post
from townsquare.modules.posts.models import Poll, PollVote


async def _poll_post(client, author: SignedIn, *, multiple: bool = False, **extra: Any) -> dict:
    return await new_post(
        client,
        author,
        type="poll",
        content="Which one?",
        poll={"options": ["red", "green", "blue"], "allows_multiple": multiple},
        **extra,
    )


def _option_ids(post: dict) -> list[str]:
    return [option["id"] for option in post["poll"]["options"]]


async def _vote(client, post_id: str, user: SignedIn, *option_ids: str):
    return await act(client, post_id, "poll/votes", user, option_ids=list(option_ids))


def _counts(poll: dict) -> list[int]:
    return [option["votes_count"] for option in poll["options"]]


async def _results(client, post_id: str, viewer: SignedIn | None = None) -> dict:
    response = await client.get(
        f"{API}/posts/{post_id}/poll", headers=viewer.headers if viewer else None
    )
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


async def test_single_choice_vote_and_change(client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await _poll_post(client, alice)
    red, green, _blue = _option_ids(post)
    response = await _vote(client, post["id"], bob, red)
    assert response.status_code == 200, response.text
    assert _counts(response.json()) == [1, 0, 0]
    assert response.json()["viewer_choices"] == [red]
    changed = (await _vote(client, post["id"], bob, green)).json()
    assert _counts(changed) == [0, 1, 0]
    assert changed["total_votes"] == 1
    assert (await _vote(client, post["id"], alice, green)).json()["total_votes"] == 2
    # Anyone who may see the post reads the results; only voters have choices.
    anonymous = await _results(client, post["id"])
    assert _counts(anonymous) == [0, 2, 0]
    assert anonymous["viewer_choices"] == []
    shown = (await client.get(f"{API}/posts/{post['id']}", headers=bob.headers)).json()
    assert shown["poll"]["viewer_choices"] == [green]


async def test_multiple_choice(client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await _poll_post(client, alice, multiple=True)
    red, green, blue = _option_ids(post)
    assert _counts((await _vote(client, post["id"], bob, red, blue)).json()) == [1, 0, 1]
    result = (await _vote(client, post["id"], bob, green)).json()
    assert _counts(result) == [0, 1, 0]
    assert result["viewer_choices"] == [green]


async def test_bad_votes_are_refused_and_change_nothing(client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    single = await _poll_post(client, alice)
    red, green, _ = _option_ids(single)
    await _vote(client, single["id"], bob, red)
    other = _option_ids(await _poll_post(client, alice))[0]
    for option_ids, code in (
        ([red, green], "single_choice"),
        ([red, red], "duplicate"),
        ([other], "unknown_option"),
        ([str(uuid.uuid4())], "unknown_option"),
    ):
        response = await _vote(client, single["id"], bob, *option_ids)
        assert_422_on(response, "body.option_ids")
        assert response.json()["errors"][0]["type"] == code
    assert_422_on(await _vote(client, single["id"], bob), "body.option_ids")
    assert_422_on(await _vote(client, single["id"], bob, "not-a-uuid"), "body.option_ids.0")
    result = await _results(client, single["id"], bob)
    assert _counts(result) == [1, 0, 0]
    assert result["viewer_choices"] == [red]
    response = await client.post(
        f"{API}/posts/{single['id']}/poll/votes", json={"option_ids": [red]}
    )
    assert response.status_code == 401


async def test_posts_without_a_poll(client):
    alice = await signed_in_user(client)
    post = await new_post(client, alice)
    response = await _vote(client, post["id"], alice, str(uuid.uuid4()))
    assert_problem(response, 404, "poll_not_found")
    assert_problem(await client.get(f"{API}/posts/{post['id']}/poll"), 404, "poll_not_found")


async def _close(app: FastAPI, post_id: str) -> None:
    async with app.state.platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(Poll)
            .where(Poll.post_id == uuid.UUID(post_id))
            .values(closes_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await uow.commit()


async def test_a_closed_poll_takes_no_votes(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await _poll_post(client, alice)
    red, green, _ = _option_ids(post)
    await _vote(client, post["id"], bob, red)
    await _close(app, post["id"])
    response = await _vote(client, post["id"], bob, green)
    assert_problem(response, 409, "poll_closed")
    assert_problem(await _vote(client, post["id"], alice, green), 409, "poll_closed")
    result = await _results(client, post["id"], bob)
    assert result["is_closed"] is True
    assert _counts(result) == [1, 0, 0]
    assert result["viewer_choices"] == [red]


async def test_closing_time_in_the_future_is_open(client):
    alice = await signed_in_user(client)
    closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    post = await new_post(
        client,
        alice,
        type="poll",
        content="",
        poll={"options": ["a", "b"], "closes_at": closes},
    )
    result = (await _vote(client, post["id"], alice, _option_ids(post)[0])).json()
    assert result["is_closed"] is False
    assert datetime.fromisoformat(result["closes_at"]) == datetime.fromisoformat(closes)


async def test_draft_polls_take_no_votes(client):
    alice = await signed_in_user(client)
    post = await _poll_post(client, alice, draft=True)
    response = await _vote(client, post["id"], alice, _option_ids(post)[0])
    assert_problem(response, 409, "post_not_published")


async def test_concurrent_votes_leave_exact_counts(client, app):
    alice = await signed_in_user(client)
    voters = [await signed_in_user(client) for _ in range(8)]
    post = await _poll_post(client, alice)
    red, green, blue = _option_ids(post)
    choices = [red, green, blue]
    # Everyone votes at once, and one voter sends two different votes at once.
    responses = await asyncio.gather(
        *(_vote(client, post["id"], v, choices[i % 3]) for i, v in enumerate(voters)),
        _vote(client, post["id"], voters[0], blue),
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    result = await _results(client, post["id"])
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.execute(
            select(PollVote.option_id, func.count())
            .where(PollVote.post_id == uuid.UUID(post["id"]))
            .group_by(PollVote.option_id)
        )
        stored = {str(option_id): count for option_id, count in rows}
        voted = await uow.session.scalar(
            select(func.count(func.distinct(PollVote.user_id))).where(
                PollVote.post_id == uuid.UUID(post["id"])
            )
        )
    assert result["total_votes"] == len(voters) == voted
    assert _counts(result) == [stored.get(option, 0) for option in choices]

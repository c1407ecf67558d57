"""The shortest path through the product, plus the pieces no other suite owns."""

import httpx
from fastapi import APIRouter

from tests.fixtures.users import signed_in_user, verify_email
from townsquare.kit.auth import CurrentAuthor
from townsquare.kit.web import UnitOfWorkRoute


async def test_register_login_me(client, mailbox):
    user = await signed_in_user(client)
    response = await client.get("/api/v1/me", headers=user.headers)
    assert response.status_code == 200
    assert response.json()["username"] == user.username
    mail = await mailbox.wait_for(user.email, "Confirm your email")
    assert len(mail.token) > 20


async def test_data_export_holds_my_data_and_only_mine(client):
    me = await signed_in_user(client)
    other = await signed_in_user(client)
    await client.patch("/api/v1/me/profile", json={"bio": "hello"}, headers=me.headers)
    response = await client.get("/api/v1/me/export", headers=me.headers)
    assert response.status_code == 200
    export = response.json()
    assert export["account"]["email"] == me.email
    assert export["profile"]["bio"] == "hello"
    assert export["privacy"]["email_visibility"] == "only_me"
    assert export["settings"]["language"] == "en"
    assert [s["id"] for s in export["sessions"]] == [me.session_id]
    assert other.email not in response.text
    assert (await client.get("/api/v1/me/export")).status_code == 401


def _author_router() -> APIRouter:
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.post("/publish", status_code=204)
    async def publish(author: CurrentAuthor) -> None:
        return None

    return router


async def test_unverified_accounts_may_post_only_when_the_setting_allows(app_factory, mailbox):
    for allowed in (False, True):
        app = await app_factory(allow_unverified_posting=allowed)
        app.include_router(_author_router())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            user = await signed_in_user(client)
            response = await client.post("/publish", headers=user.headers)
            if allowed:
                assert response.status_code == 204
            else:
                assert response.status_code == 403
                assert response.json()["code"] == "email_not_verified"
                await verify_email(client, mailbox, user.email)
                assert (await client.post("/publish", headers=user.headers)).status_code == 204

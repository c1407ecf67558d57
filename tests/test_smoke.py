from tests.fixtures.users import signed_in_user


async def test_register_login_me(client, mailbox):
    user = await signed_in_user(client)
    response = await client.get("/api/v1/me", headers=user.headers)
    assert response.status_code == 200
    assert response.json()["username"] == user.username
    mail = await mailbox.wait_for(user.email, "Confirm your email")
    assert len(mail.token) > 20

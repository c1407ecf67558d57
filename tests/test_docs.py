"""The README stays true: every setting is documented, with its real default."""

from pathlib import Path

from townsquare.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    undocumented = [
        name for name in Settings.model_fields if f"`TOWNSQUARE_{name.upper()}`" not in README
    ]
    assert undocumented == []


def test_readme_names_no_setting_that_does_not_exist() -> None:
    import re

    named = set(re.findall(r"`TOWNSQUARE_([A-Z0-9_]+)`", README))
    test_only = {"TEST_POSTGRES_URL", "TEST_REDIS_URL", "ADMIN_PASSWORD"}
    unknown = {n for n in named - test_only if n.lower() not in Settings.model_fields}
    assert unknown == set()


def test_the_openapi_has_one_person_card() -> None:
    """Authors, actors, senders, members and followers are one schema, not three."""
    from townsquare.main import create_app

    schemas = create_app(Settings()).openapi()["components"]["schemas"]
    assert schemas["PersonCard"]["required"] == [
        "user_id",
        "username",
        "display_name",
        "avatar_url",
        "is_verified",
    ]
    assert {"UserCard", "AuthorOut", "ProfileCard"} & set(schemas) == set()

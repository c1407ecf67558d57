"""Property: every read path shows exactly the posts a viewer may see.

Hypothesis builds small random worlds — users (private, hidden), friendships, follows
(approved or pending), close-friend lists, blocks, mutes, and posts of every visibility and
state — then asks every read path, for every viewer including anonymous, and compares the
answers with ``expected_visible`` below: a reference predicate written from the rules in
``../shared/PRODUCT.md`` and the issue, independently of ``posts/policy.py``.

Read paths: post by id, the author's timeline, comments, reactions list, shares (the embedded
original), bookmarks, the topic page, and the home feed. For lists, a viewer's own posts are only
required to appear when live; other people's posts must appear exactly when visible.

The home feed (``GET /feed``, chronological and ranked, paged 3 at a time so cursors are used)
must hold exactly the live posts and shares of the viewer's sources (the viewer, friends,
approved followees, posts tagged with a topic the viewer follows) that ``expected_visible``
allows, minus authors the viewer muted, each once. On PostgreSQL + Redis the feed is the Redis
store: the world's posts are written as rows, without publishing events, so in a "cold" example
every feed is rebuilt from the database at its first read; in a "warm" example every feed is
read once before the posts exist (an empty feed is stored) and each post is then fanned out by
hand, as the ``post.published`` handler would, so the pages come from fan-out plus the
read-time sources. The embedded backend reads the same pages from the database either way.

Each example runs in a fresh event loop with a freshly emptied database (sync test + asyncio.run),
so Hypothesis can shrink failures to a minimal world.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import Backend, _clean, make_settings
from tests.fixtures.mailbox import Mailbox
from townsquare.kit.auth import issue_access_token
from townsquare.kit.models import utcnow
from townsquare.main import create_app
from townsquare.modules.accounts.models import AuthSession, User
from townsquare.modules.bookmarks.models import Bookmark
from townsquare.modules.comments.models import Comment
from townsquare.modules.feed import service as feed_service
from townsquare.modules.posts import policy
from townsquare.modules.posts.models import (
    Post,
    PostAudience,
    PostStatus,
    PostType,
    Visibility,
)
from townsquare.modules.profiles import repository as profiles_repository
from townsquare.modules.profiles.models import PrivacySettings, Profile, UserSettings
from townsquare.modules.reactions.models import Reaction, ReactionCount, TargetType
from townsquare.modules.social import repository as social_repository
from townsquare.modules.social.models import (
    Block,
    CloseFriend,
    Follow,
    FollowStatus,
    Friendship,
    Mute,
)
from townsquare.modules.topics.models import PostTopic, Topic, TopicFollow

USERS = 4
TOPIC = "proptest"
STATES = ("live", "draft", "scheduled", "archived", "deleted")


@dataclass(frozen=True)
class PostSpec:
    author: int
    visibility: Visibility
    state: str
    audience: frozenset[int]
    #: Tagged with the world's topic (shares never are).
    tagged: bool = True


@dataclass(frozen=True)
class World:
    private: tuple[bool, ...]
    hidden: tuple[bool, ...]
    friends: frozenset[frozenset[int]]
    follows: frozenset[tuple[int, int, bool]]  # follower, followee, approved
    close: frozenset[tuple[int, int]]  # owner, member
    blocks: frozenset[tuple[int, int]]  # blocker, blocked
    mutes: frozenset[tuple[int, int]]
    posts: tuple[PostSpec, ...]
    sharer: int
    topic_followers: frozenset[int] = frozenset()

    def follows_approved(self, follower: int, followee: int) -> bool:
        return (follower, followee, True) in self.follows


def expected_visible(world: World, viewer: int | None, post: PostSpec) -> bool:
    """The reference predicate (independent of townsquare.modules.posts.policy)."""
    if viewer == post.author:
        return True
    if post.state != "live" or world.hidden[post.author]:
        return False
    if post.visibility is Visibility.ONLY_ME:
        return False
    if viewer is None:
        return post.visibility is Visibility.PUBLIC and not world.private[post.author]
    if (viewer, post.author) in world.blocks or (post.author, viewer) in world.blocks:
        return False
    friends = frozenset({viewer, post.author}) in world.friends
    if post.visibility is Visibility.PUBLIC:
        return (
            not world.private[post.author] or friends or world.follows_approved(viewer, post.author)
        )
    if post.visibility is Visibility.FRIENDS:
        return friends
    if post.visibility is Visibility.CLOSE_FRIENDS:
        return (post.author, viewer) in world.close
    return viewer in post.audience  # custom


def expected_in_feed(world: World, viewer: int, post: PostSpec) -> bool:
    """The reference of the home feed: a live post from one of the viewer's sources that the
    viewer may see, whose author the viewer has not muted."""
    if post.state != "live":
        return False
    from_source = (
        post.author == viewer
        or frozenset({viewer, post.author}) in world.friends
        or world.follows_approved(viewer, post.author)
        or (post.tagged and viewer in world.topic_followers)
    )
    return (
        from_source
        and expected_visible(world, viewer, post)
        and (viewer, post.author) not in world.mutes
    )


def share_spec(world: World) -> PostSpec:
    """Every share is a public, live, untagged post of ``world.sharer``."""
    return PostSpec(world.sharer, Visibility.PUBLIC, "live", frozenset(), tagged=False)


pairs = st.tuples(st.integers(0, USERS - 1), st.integers(0, USERS - 1)).filter(
    lambda p: p[0] != p[1]
)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    post_specs = draw(
        st.lists(
            st.builds(
                PostSpec,
                author=st.integers(0, USERS - 1),
                visibility=st.sampled_from(list(Visibility)),
                # Mostly live posts: the audience rules only matter for those.
                state=st.sampled_from(["live", "live", "live", *STATES]),
                audience=st.frozensets(st.integers(0, USERS - 1), max_size=USERS),
                tagged=st.sampled_from([True, True, False]),
            ),
            min_size=2,
            max_size=6,
        )
    )
    return World(
        private=tuple(draw(st.lists(st.booleans(), min_size=USERS, max_size=USERS))),
        hidden=tuple(
            draw(
                st.lists(
                    st.sampled_from([False, False, False, True]), min_size=USERS, max_size=USERS
                )
            )
        ),
        friends=frozenset(frozenset(p) for p in draw(st.lists(pairs, min_size=1, max_size=5))),
        follows=frozenset(
            (a, b, approved)
            for (a, b), approved in dict(
                draw(st.lists(st.tuples(pairs, st.booleans()), min_size=1, max_size=6))
            ).items()
        ),
        close=frozenset(draw(st.lists(pairs, min_size=1, max_size=6))),
        blocks=frozenset(draw(st.lists(pairs, max_size=2))),
        mutes=frozenset(draw(st.lists(pairs, max_size=2))),
        posts=tuple(post_specs),
        sharer=draw(st.integers(0, USERS - 1)),
        topic_followers=draw(st.frozensets(st.integers(0, USERS - 1), min_size=1, max_size=USERS)),
    )


#: Every home-feed source and filter at least once, whatever Hypothesis draws: 3 gets 0's public
#: post only through the topic (its follow is pending) and 2 gets 1's the same way; 1 blocked 3;
#: 2 muted 3 (whose tagged post 2 therefore misses); 2's untagged public post reaches nobody
#: else; an archived post reaches nobody, a friends-only one only the friend; 1's shares reach
#: only 0 (a friend) and 1.
FEED_WORLD = World(
    private=(False, False, False, False),
    hidden=(False, False, False, False),
    friends=frozenset({frozenset({0, 1})}),
    follows=frozenset({(2, 0, True), (3, 0, False)}),
    close=frozenset({(0, 1)}),
    blocks=frozenset({(1, 3)}),
    mutes=frozenset({(2, 3)}),
    posts=(
        PostSpec(0, Visibility.PUBLIC, "live", frozenset()),
        PostSpec(1, Visibility.PUBLIC, "live", frozenset()),
        PostSpec(3, Visibility.PUBLIC, "live", frozenset()),
        PostSpec(0, Visibility.FRIENDS, "live", frozenset(), tagged=False),
        PostSpec(2, Visibility.PUBLIC, "live", frozenset(), tagged=False),
        PostSpec(0, Visibility.PUBLIC, "archived", frozenset()),
    ),
    sharer=1,
    topic_followers=frozenset({2, 3}),
)


@dataclass
class Built:
    user_ids: list[uuid.UUID] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    post_ids: list[uuid.UUID] = field(default_factory=list)
    share_ids: list[uuid.UUID] = field(default_factory=list)
    topic_id: uuid.UUID | None = None


def _post_row(spec: PostSpec, author_id: uuid.UUID, now: Any) -> Post:
    status = {
        "draft": PostStatus.DRAFT,
        "scheduled": PostStatus.SCHEDULED,
    }.get(spec.state, PostStatus.PUBLISHED)
    published_at = None if spec.state == "draft" else now - timedelta(minutes=5)
    if spec.state == "scheduled":
        published_at = now + timedelta(hours=1)
    return Post(
        author_id=author_id,
        type=PostType.TEXT,
        content=f"#{TOPIC} post" if spec.tagged else "untagged post",
        visibility=spec.visibility,
        status=status,
        published_at=published_at,
        archived_at=now if spec.state == "archived" else None,
        deleted_at=now if spec.state == "deleted" else None,
    )


async def _build_people(app: Any, world: World, secret: str) -> Built:
    """Users with a live session each, the social graph, the topic and its followers."""
    built = Built()
    now = utcnow()
    async with app.state.platform.database.unit_of_work() as uow:
        s = uow.session
        for index in range(USERS):
            user = User(email=f"prop{index}@example.org", password_hash=None)
            s.add(user)
            await s.flush()
            username = f"prop_user_{index}"
            s.add_all(
                [
                    Profile(
                        user_id=user.id,
                        username=username,
                        display_name=username,
                        is_private=world.private[index],
                        is_hidden=world.hidden[index],
                    ),
                    PrivacySettings(user_id=user.id),
                    UserSettings(user_id=user.id),
                ]
            )
            session_row = AuthSession(user_id=user.id, expires_at=now + timedelta(days=1))
            s.add(session_row)
            await s.flush()
            token, _ = issue_access_token(
                secret=secret, user_id=user.id, session_id=session_row.id, ttl=timedelta(hours=1)
            )
            built.user_ids.append(user.id)
            built.usernames.append(username)
            built.tokens.append(token)
        ids = built.user_ids
        for pair in world.friends:
            a, b = tuple(pair)
            s.add_all(
                [
                    Friendship(user_id=ids[a], friend_id=ids[b]),
                    Friendship(user_id=ids[b], friend_id=ids[a]),
                ]
            )
        for follower, followee, approved in world.follows:
            s.add(
                Follow(
                    follower_id=ids[follower],
                    followee_id=ids[followee],
                    status=FollowStatus.ACTIVE if approved else FollowStatus.PENDING,
                )
            )
        s.add_all(CloseFriend(owner_id=ids[o], member_id=ids[m]) for o, m in world.close)
        s.add_all(Block(blocker_id=ids[a], blocked_id=ids[b]) for a, b in world.blocks)
        s.add_all(Mute(owner_id=ids[a], muted_id=ids[b]) for a, b in world.mutes)
        topic = Topic(name=TOPIC, display_name=TOPIC)
        s.add(topic)
        await s.flush()
        built.topic_id = topic.id
        s.add_all(TopicFollow(user_id=ids[u], topic_id=topic.id) for u in world.topic_followers)
        await uow.commit()
    return built


async def _build_posts(app: Any, world: World, built: Built) -> None:
    """The world's posts (each with a comment, a reaction, bookmarks and a share), as rows."""
    now = utcnow()
    ids = built.user_ids
    async with app.state.platform.database.unit_of_work() as uow:
        s = uow.session
        for spec in world.posts:
            post = _post_row(spec, ids[spec.author], now)
            s.add(post)
            await s.flush()
            built.post_ids.append(post.id)
            if spec.visibility is Visibility.CUSTOM:
                s.add_all(PostAudience(post_id=post.id, user_id=ids[u]) for u in spec.audience)
            if spec.tagged:
                s.add(PostTopic(post_id=post.id, topic_id=built.topic_id))
            # The author comments and reacts on their own post; every user bookmarks it.
            s.add(Comment(post_id=post.id, author_id=ids[spec.author], content="first"))
            s.add(
                Reaction(
                    user_id=ids[spec.author],
                    target_type=TargetType.POST,
                    target_id=post.id,
                    type="like",
                )
            )
            s.add(
                ReactionCount(target_type=TargetType.POST, target_id=post.id, type="like", count=1)
            )
            s.add_all(Bookmark(owner_id=ids[u], post_id=post.id) for u in range(USERS))
            share = Post(
                author_id=ids[world.sharer],
                type=PostType.TEXT,
                content="look",
                visibility=Visibility.PUBLIC,
                status=PostStatus.PUBLISHED,
                published_at=now - timedelta(minutes=1),
                shared_post_id=post.id,
            )
            s.add(share)
            await s.flush()
            built.share_ids.append(share.id)
        await uow.commit()


def _ids(page: dict[str, Any]) -> set[str]:
    """Post ids of a page (bookmark items carry their post under ``post``)."""
    return {item.get("post", item)["id"] for item in page["items"]}


async def _all_pages(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> set[str]:
    found: set[str] = set()
    cursor: str | None = None
    for _ in range(20):
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        response = await http.get(url, params=params, headers=headers)
        assert response.status_code == 200, (url, response.text)
        body = response.json()
        found |= _ids(body)
        cursor = body.get("next_cursor")
        if not cursor:
            return found
    raise AssertionError("pagination did not end")


def _check_list(
    world: World,
    built: Built,
    viewer: int | None,
    listed: set[str],
    candidates: Iterable[int],
    path: str,
) -> None:
    for index in candidates:
        spec = world.posts[index]
        post_id = str(built.post_ids[index])
        visible = expected_visible(world, viewer, spec)
        if viewer == spec.author:
            if spec.state == "live" and not world.hidden[spec.author]:
                assert post_id in listed, (path, viewer, spec)
            continue
        assert (post_id in listed) == visible, (path, viewer, spec, world)


async def _check_viewer(
    http: httpx.AsyncClient, world: World, built: Built, viewer: int | None
) -> None:
    headers = {} if viewer is None else {"Authorization": f"Bearer {built.tokens[viewer]}"}
    everything = range(len(world.posts))
    for index, spec in enumerate(world.posts):
        post_id = built.post_ids[index]
        visible = expected_visible(world, viewer, spec)
        expected_status = 200 if visible else 404
        for path in (
            f"/api/v1/posts/{post_id}",
            f"/api/v1/posts/{post_id}/comments",
            f"/api/v1/posts/{post_id}/reactions",
        ):
            response = await http.get(path, headers=headers)
            assert response.status_code == expected_status, (
                path,
                viewer,
                spec,
                world,
                response.text,
            )
        # The share is public and live: whoever may see it sees the original only if allowed.
        response = await http.get(f"/api/v1/posts/{built.share_ids[index]}", headers=headers)
        if not expected_visible(world, viewer, share_spec(world)):
            assert response.status_code == 404, (viewer, world)
            continue
        assert response.status_code == 200, response.text
        embedded = response.json()["shared_post"]
        if viewer == spec.author and spec.state != "live":
            continue  # the author's own non-live post: embedding it or not are both right
        if visible:
            assert embedded is not None, (viewer, spec, world)
            assert embedded.get("id") == str(post_id), (viewer, spec, world, embedded)
        else:
            assert embedded == {"unavailable": True}, (viewer, spec, world, embedded)
    for author in range(USERS):
        url = f"/api/v1/users/{built.usernames[author]}/posts"
        response = await http.get(url, headers=headers, params={"limit": 100})
        if response.status_code == 404:
            # The author is hidden from this viewer (hidden account or a block): nothing leaks.
            assert world.hidden[author] or (
                viewer is not None
                and ((viewer, author) in world.blocks or (author, viewer) in world.blocks)
            ), (viewer, author, world)
            listed: set[str] = set()
        else:
            assert response.status_code == 200, response.text
            listed = await _all_pages(http, url, headers)
        others = [i for i in everything if world.posts[i].author != author]
        assert not {str(built.post_ids[i]) for i in others} & listed, (url, listed)
        by_author = [i for i in everything if world.posts[i].author == author]
        _check_list(world, built, viewer, listed, by_author, url)
    topic_listed = await _all_pages(http, f"/api/v1/topics/{TOPIC}/posts", headers)
    tagged = [i for i in everything if world.posts[i].tagged]
    _check_list(world, built, viewer, topic_listed, tagged, "topic")
    untagged = {str(built.post_ids[i]) for i in everything if not world.posts[i].tagged}
    assert not untagged & topic_listed, ("topic", viewer, world)
    if viewer is not None:
        bookmarked = await _all_pages(http, "/api/v1/me/bookmarks", headers)
        _check_list(world, built, viewer, bookmarked, everything, "bookmarks")


FEED = "/api/v1/feed"
FEED_PAGE = 3


async def _feed_pages(
    http: httpx.AsyncClient, headers: dict[str, str], order: str
) -> list[dict[str, Any]]:
    """Every item of the home feed in that order, following cursors ``FEED_PAGE`` at a time."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(30):
        params: dict[str, Any] = {"limit": FEED_PAGE, "order": order}
        if cursor:
            params["cursor"] = cursor
        response = await http.get(FEED, params=params, headers=headers)
        assert response.status_code == 200, (order, response.text)
        body = response.json()
        assert len(body["items"]) <= FEED_PAGE, body
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("feed pagination did not end")


async def _check_feed(http: httpx.AsyncClient, world: World, built: Built, viewer: int) -> None:
    headers = {"Authorization": f"Bearer {built.tokens[viewer]}"}
    expected = {
        str(built.post_ids[i])
        for i, spec in enumerate(world.posts)
        if expected_in_feed(world, viewer, spec)
    }
    if expected_in_feed(world, viewer, share_spec(world)):
        expected |= {str(share_id) for share_id in built.share_ids}
    for order in ("chronological", "ranked"):
        items = await _feed_pages(http, headers, order)
        ids = [item["id"] for item in items]
        assert len(ids) == len(set(ids)), ("duplicates across pages", order, viewer, ids, world)
        # Missing and extra ids both appear in the message, with the world.
        assert set(ids) == expected, (
            order,
            viewer,
            expected - set(ids),
            set(ids) - expected,
            world,
        )
        if order == "chronological":
            keys = [(datetime.fromisoformat(i["published_at"]), uuid.UUID(i["id"])) for i in items]
            assert keys == sorted(keys, reverse=True), ("not newest first", viewer, keys)


async def _warm_feeds(http: httpx.AsyncClient, built: Built) -> None:
    """Read every feed before any post exists: each is empty (and stored empty in Redis)."""
    for token in built.tokens:
        response = await http.get(FEED, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "next_cursor": None}


async def _fan_out(app: Any, built: Built) -> None:
    """What the ``post.published`` handler does for each post (a no-op without Redis)."""
    platform = app.state.platform
    for post_id in [*built.post_ids, *built.share_ids]:
        async with platform.database.unit_of_work() as uow:
            await feed_service.fan_out_post(uow.session, platform, post_id)
            await uow.commit()


async def _check_predicate(app: Any, world: World, built: Built) -> None:
    """The policy's Python predicate agrees with the reference too (it serves single objects)."""
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        session = uow.session
        posts = {p.id: p for p in await session.scalars(select(Post))}
        profiles = await profiles_repository.get_profiles(session, built.user_ids)
        audience = {(a.post_id, a.user_id) for a in await session.scalars(select(PostAudience))}
        now = utcnow()
        for viewer in [None, *range(USERS)]:
            viewer_id = None if viewer is None else built.user_ids[viewer]
            relations = (
                await social_repository.relations_of(session, viewer_id, built.user_ids)
                if viewer_id
                else {}
            )
            for index, spec in enumerate(world.posts):
                post = posts[built.post_ids[index]]
                author = profiles[post.author_id]
                got = policy.may_see_post(
                    viewer_id,
                    post,
                    policy.AuthorFacts(is_hidden=author.is_hidden, is_private=author.is_private),
                    relations.get(post.author_id),
                    (post.id, viewer_id) in audience,
                    now,
                )
                assert got == expected_visible(world, viewer, spec), (viewer, spec, world)


async def _run(backend: Backend, mailbox: Mailbox, world: World, warm: bool) -> None:
    app_settings = make_settings(backend, mailbox)
    await _clean(backend, app_settings)
    app = create_app(app_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            built = await _build_people(app, world, app_settings.secret_key)
            if warm:
                await _warm_feeds(http, built)
            await _build_posts(app, world, built)
            if warm:
                await _fan_out(app, built)
            await _check_predicate(app, world, built)
            assert (await http.get(FEED)).status_code == 401  # no anonymous home feed
            for viewer in range(USERS):
                await _check_feed(http, world, built, viewer)
            for viewer in [None, *range(USERS)]:
                await _check_viewer(http, world, built, viewer)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(
    max_examples=38,  # + the 2 explicit examples: 40 worlds per backend
    deadline=None,
    derandomize=True,
    # Shrinking a failure re-runs whole worlds for minutes; the failing world is in the
    # assertion message instead.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds(), warm=st.booleans())
@example(world=FEED_WORLD, warm=False)
@example(world=FEED_WORLD, warm=True)
def test_every_read_path_shows_exactly_the_visible_posts(
    backend: Backend, mailbox_server: Mailbox, world: World, warm: bool
) -> None:
    asyncio.run(_run(backend, mailbox_server, world, warm))

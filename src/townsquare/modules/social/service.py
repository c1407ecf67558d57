"""Use cases of the social graph. Services flush; the edge commits.

Every write between two people first takes ``repository.lock_pair``, so the checks it makes
(blocked? already friends? a request the other way?) still hold when it writes. Counters move
only by the rows a statement really inserted or deleted, so they stay exact under concurrency.

Repeating an action is harmless: sending the same friend request, following, blocking, muting
or adding a close friend again changes nothing and answers as the first time; removing what is
not there (unfollow, unfriend, cancel, unblock, unmute) answers 204 all the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.cache import recall, remember, ttls_of
from townsquare.kit.errors import Forbidden, NotFound, ValidationFailed
from townsquare.kit.events import record_event
from townsquare.kit.pagination import Page, PageRequest
from townsquare.modules.profiles import policy as profiles_policy
from townsquare.modules.profiles import repository as profiles
from townsquare.modules.profiles import service as profiles_service
from townsquare.modules.profiles.models import Audience, Profile
from townsquare.modules.profiles.policy import Relationship
from townsquare.modules.profiles.schemas import PersonCard, ProfileStats
from townsquare.modules.social import events, policy, repository
from townsquare.modules.social.models import FollowStatus, FriendRequest
from townsquare.modules.social.schemas import (
    ConnectionOut,
    FollowRequestOut,
    FollowState,
    FriendRequestOut,
    FriendshipState,
)

# --- errors a client may meet (stable codes)


class UserNotFound(NotFound):
    code = "user_not_found"


class CannotTargetSelf(ValidationFailed):
    code = "cannot_target_self"


class Blocked(Forbidden):
    """One of the two blocked the other: no requests, follows or close-friend entries."""

    code = "blocked"


class ConnectionsHidden(Forbidden):
    """The owner's ``connections_visibility`` does not include the viewer."""

    code = "connections_hidden"


class FriendRequestNotFound(NotFound):
    code = "friend_request_not_found"


class FollowRequestNotFound(NotFound):
    code = "follow_request_not_found"


class NotFollowing(NotFound):
    code = "not_following"


# --- who is on the other end


async def _get_other_user_or_404(
    session: AsyncSession, viewer_id: uuid.UUID, username: str
) -> Profile:
    """The target of an action: an existing, not hidden user other than the viewer."""
    profile = await profiles.get_profile_by_username(session, username)
    if profile is None or not policy.may_find_person(
        viewer_id, profile.user_id, is_hidden=profile.is_hidden
    ):
        raise UserNotFound()
    if profile.user_id == viewer_id:
        raise CannotTargetSelf.on(
            "path.username", "You cannot do this to yourself.", "cannot_target_self"
        )
    return profile


async def get_visible_user_or_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, username: str
) -> tuple[Profile, Relationship]:
    """A user the viewer may see (the people policy), and how the viewer stands."""
    profile = await profiles.get_profile_by_username(session, username)
    if profile is None:
        raise UserNotFound()
    relationship = await profile_relationship(session, viewer_id, profile.user_id)
    if not policy.may_see_person(
        viewer_id,
        profile.user_id,
        is_hidden=profile.is_hidden,
        blocked_either_way=relationship is Relationship.BLOCKED,
    ):
        raise UserNotFound()
    return profile, relationship


async def may_see_profile(
    session: AsyncSession, viewer_id: uuid.UUID | None, profile: Profile
) -> bool:
    """The people policy (``policy.may_see_person``) for a loaded profile; the block is read
    only when it decides the answer."""
    blocked = (
        viewer_id is not None
        and viewer_id != profile.user_id
        and not profile.is_hidden
        and await repository.is_blocked_either_way(session, viewer_id, profile.user_id)
    )
    return policy.may_see_person(
        viewer_id, profile.user_id, is_hidden=profile.is_hidden, blocked_either_way=blocked
    )


async def _refuse_if_blocked(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> None:
    if await repository.is_blocked_either_way(session, a, b):
        raise Blocked("One of you has blocked the other.")


# --- what profiles need from the graph


async def profile_relationship(
    session: AsyncSession, viewer_id: uuid.UUID | None, owner_id: uuid.UUID
) -> Relationship:
    """The viewer's relationship to ``owner_id`` for the profile policy (friend, blocked...)."""
    relationship = profiles_policy.base_relationship(viewer_id, owner_id)
    if viewer_id is None or relationship is not Relationship.OTHER:
        return relationship
    relation = (await repository.relations_of(session, viewer_id, [owner_id]))[owner_id]
    if relation.blocked:
        return Relationship.BLOCKED
    return Relationship.FRIEND if relation.is_friend else Relationship.OTHER


async def profile_stats(session: AsyncSession, user_id: uuid.UUID) -> ProfileStats:
    stats = (await repository.stats_of(session, [user_id]))[user_id]
    return ProfileStats.model_validate(stats, from_attributes=True)


async def friend_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The user's friends, cached under ``user:{id}:friends`` (invalidated when a friendship
    starts or ends)."""
    key = repository.friends_cache_key(user_id)
    cached = (await recall(session, [key])).get(key)
    if cached is not None:
        return [uuid.UUID(value) for value in cached]
    ids = await repository.friend_ids(session, user_id)
    await remember(session, {key: [str(value) for value in ids]}, ttls_of(session).friends)
    return ids


async def adjust_posts_count(session: AsyncSession, author_id: uuid.UUID, delta: int) -> None:
    """Called by posts when a post becomes visible to others (+1) or stops being so (-1)."""
    await repository.add_to_stats(session, author_id, posts_count=delta)


# --- my connection to someone


async def get_connection(
    session: AsyncSession, viewer_id: uuid.UUID, username: str
) -> ConnectionOut:
    profile, relationship = await get_visible_user_or_404(session, viewer_id, username)
    if relationship is Relationship.SELF:
        raise CannotTargetSelf.on(
            "path.username", "You have no connection to yourself.", "cannot_target_self"
        )
    return await _connection(session, viewer_id, profile)


async def _connection(session: AsyncSession, viewer_id: uuid.UUID, other: Profile) -> ConnectionOut:
    facts = await repository.connection_facts(session, viewer_id, other.user_id)
    request = facts.request
    if facts.is_friend:
        friendship = FriendshipState.FRIENDS
    elif request is None:
        friendship = FriendshipState.NONE
    elif request.requester_id == viewer_id:
        friendship = FriendshipState.REQUEST_SENT
    else:
        friendship = FriendshipState.REQUEST_RECEIVED
    follow = facts.follow
    return ConnectionOut(
        user=PersonCard.model_validate(other),
        friendship=friendship,
        friend_request_id=request.id if request is not None and not facts.is_friend else None,
        follow=FollowState(follow.status.value) if follow is not None else FollowState.NONE,
        notify_on_post=follow is not None and follow.notify_on_post,
        follows_you=facts.follows_you,
        close_friend=facts.close_friend,
        muted=facts.muted,
        blocked=facts.blocked,
    )


# --- friend requests and friendships


async def send_friend_request(
    session: AsyncSession, viewer_id: uuid.UUID, username: str
) -> ConnectionOut:
    """Ask to be friends; if they already asked me, this accepts their request instead."""
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.lock_pair(session, viewer_id, target.user_id)
    await _refuse_if_blocked(session, viewer_id, target.user_id)
    if not await repository.are_friends(session, viewer_id, target.user_id):
        await _request_or_accept(session, viewer_id, target.user_id)
    return await _connection(session, viewer_id, target)


async def _request_or_accept(
    session: AsyncSession, viewer_id: uuid.UUID, target_id: uuid.UUID
) -> None:
    request_id = await repository.add_friend_request(session, viewer_id, target_id)
    if request_id is not None:
        record_event(
            session,
            events.FRIEND_REQUEST_SENT,
            events.friend_request(request_id, viewer_id, target_id),
        )
        return
    # One row per pair: the existing one is mine (nothing to do) or theirs (accept it).
    existing = await repository.get_friend_request_between(session, viewer_id, target_id)
    if existing is not None and existing.requester_id == target_id:
        await _befriend(session, existing)


async def _befriend(session: AsyncSession, request: FriendRequest) -> None:
    if not await repository.delete_friend_request(session, request.id):
        raise FriendRequestNotFound()  # accepted or withdrawn meanwhile
    for user_id in await repository.add_friendship(
        session, request.requester_id, request.addressee_id
    ):
        await repository.add_to_stats(session, user_id, friends_count=1)
    record_event(
        session,
        events.FRIEND_REQUEST_ACCEPTED,
        events.friend_request(request.id, request.requester_id, request.addressee_id),
    )


async def cancel_friend_request(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    """Withdraw my pending request to ``username`` (theirs to me is declined, not cancelled)."""
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.lock_pair(session, viewer_id, target.user_id)
    await repository.delete_friend_request_from(session, viewer_id, target.user_id)


async def _get_request_to_me_or_404(
    session: AsyncSession, viewer_id: uuid.UUID, request_id: uuid.UUID
) -> FriendRequest:
    request = await repository.get_friend_request_to(session, request_id, viewer_id)
    if request is None:
        raise FriendRequestNotFound()
    requester = await profiles.get_profile(session, request.requester_id)
    if requester is None or not policy.may_find_person(
        viewer_id, requester.user_id, is_hidden=requester.is_hidden
    ):
        raise FriendRequestNotFound()
    await repository.lock_pair(session, request.requester_id, viewer_id)
    return request


async def accept_friend_request(
    session: AsyncSession, viewer_id: uuid.UUID, request_id: uuid.UUID
) -> None:
    request = await _get_request_to_me_or_404(session, viewer_id, request_id)
    await _befriend(session, request)


async def decline_friend_request(
    session: AsyncSession, viewer_id: uuid.UUID, request_id: uuid.UUID
) -> None:
    """The requester is not told; they may ask again later."""
    request = await _get_request_to_me_or_404(session, viewer_id, request_id)
    if not await repository.delete_friend_request(session, request.id):
        raise FriendRequestNotFound()


async def unfriend(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.lock_pair(session, viewer_id, target.user_id)
    removed = await repository.delete_friendship(session, viewer_id, target.user_id)
    for user_id in removed:
        await repository.add_to_stats(session, user_id, friends_count=-1)
    if removed:
        record_event(session, events.UNFRIENDED, events.pair(viewer_id, target.user_id))


# --- follows


async def follow(
    session: AsyncSession, viewer_id: uuid.UUID, username: str, notify_on_post: bool | None
) -> ConnectionOut:
    """Follow ``username``; a private account's new followers wait for approval (pending).

    Following again changes nothing but ``notify_on_post``, when it is given.
    """
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.lock_pair(session, viewer_id, target.user_id)
    await _refuse_if_blocked(session, viewer_id, target.user_id)
    status = FollowStatus.PENDING if target.is_private else FollowStatus.ACTIVE
    follow_id = await repository.add_follow(
        session, viewer_id, target.user_id, status, bool(notify_on_post)
    )
    if follow_id is None:
        if notify_on_post is not None:
            await repository.set_notify_on_post(session, viewer_id, target.user_id, notify_on_post)
    elif status is FollowStatus.ACTIVE:
        await _count_follow(session, viewer_id, target.user_id, +1)
        record_event(session, events.FOLLOWED, events.follow(follow_id, viewer_id, target.user_id))
    else:
        record_event(
            session, events.FOLLOW_REQUESTED, events.follow(follow_id, viewer_id, target.user_id)
        )
    return await _connection(session, viewer_id, target)


async def _count_follow(
    session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID, delta: int
) -> None:
    """Only active follows count; called when one starts or stops being active."""
    await repository.add_to_stats(session, follower_id, following_count=delta)
    await repository.add_to_stats(session, followee_id, followers_count=delta)


async def update_follow(
    session: AsyncSession, viewer_id: uuid.UUID, username: str, notify_on_post: bool
) -> ConnectionOut:
    target = await _get_other_user_or_404(session, viewer_id, username)
    if not await repository.set_notify_on_post(session, viewer_id, target.user_id, notify_on_post):
        raise NotFollowing("You do not follow this user.")
    return await _connection(session, viewer_id, target)


async def unfollow(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    """Stop following, or withdraw a follow request still waiting for approval."""
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.lock_pair(session, viewer_id, target.user_id)
    if await _remove_follow(session, viewer_id, target.user_id):
        record_event(session, events.UNFOLLOWED, events.pair(viewer_id, target.user_id))


async def _remove_follow(
    session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> bool:
    """Remove the follow or follow request; whether an active follow ended."""
    if await repository.delete_follow(session, follower_id, followee_id) is FollowStatus.ACTIVE:
        await _count_follow(session, follower_id, followee_id, -1)
        return True
    return False


async def approve_follow_request(
    session: AsyncSession, viewer_id: uuid.UUID, follow_id: uuid.UUID
) -> None:
    pending = await repository.get_pending_follow_to(session, follow_id, viewer_id)
    if pending is None:
        raise FollowRequestNotFound()
    follower_id = pending.follower_id
    await repository.lock_pair(session, follower_id, viewer_id)
    if not await repository.approve_follow(session, follow_id):
        raise FollowRequestNotFound()  # withdrawn or handled meanwhile
    await _count_follow(session, follower_id, viewer_id, +1)
    record_event(session, events.FOLLOW_APPROVED, events.follow(follow_id, follower_id, viewer_id))


async def decline_follow_request(
    session: AsyncSession, viewer_id: uuid.UUID, follow_id: uuid.UUID
) -> None:
    """The follower is not told; they may ask again later."""
    if not await repository.delete_pending_follow(session, follow_id, viewer_id):
        raise FollowRequestNotFound()


# --- close friends, mutes, blocks


async def add_close_friend(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.lock_pair(session, viewer_id, target.user_id)
    await _refuse_if_blocked(session, viewer_id, target.user_id)
    if await repository.add_close_friend(session, viewer_id, target.user_id):
        record_event(session, events.CLOSE_FRIEND_ADDED, events.pair(viewer_id, target.user_id))


async def remove_close_friend(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.delete_close_friend(session, viewer_id, target.user_id)


async def mute(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    """Private to me: the muted user is not told and sees no difference."""
    target = await _get_other_user_or_404(session, viewer_id, username)
    if await repository.add_mute(session, viewer_id, target.user_id):
        record_event(session, events.MUTED, events.pair(viewer_id, target.user_id))


async def unmute(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    target = await _get_other_user_or_404(session, viewer_id, username)
    if await repository.delete_mute(session, viewer_id, target.user_id):
        record_event(session, events.UNMUTED, events.pair(viewer_id, target.user_id))


async def block(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    """Block ``username``: everything between us goes (friendship, follows, requests, close
    friends), and neither of us can start anything again until I unblock."""
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.lock_pair(session, viewer_id, target.user_id)
    if await repository.add_block(session, viewer_id, target.user_id):
        record_event(session, events.BLOCKED, events.block(viewer_id, target.user_id))
    await _sever(session, viewer_id, target.user_id)


async def _sever(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> None:
    for user_id in await repository.delete_friendship(session, a, b):
        await repository.add_to_stats(session, user_id, friends_count=-1)
    await _remove_follow(session, a, b)
    await _remove_follow(session, b, a)
    await repository.delete_friend_request_between(session, a, b)
    await repository.delete_close_friend(session, a, b)
    await repository.delete_close_friend(session, b, a)


async def unblock(session: AsyncSession, viewer_id: uuid.UUID, username: str) -> None:
    """Lifts my block only; what the block removed does not come back."""
    target = await _get_other_user_or_404(session, viewer_id, username)
    await repository.lock_pair(session, viewer_id, target.user_id)
    if await repository.delete_block(session, viewer_id, target.user_id):
        record_event(session, events.UNBLOCKED, events.pair(viewer_id, target.user_id))


# --- lists


async def _page_of_cards(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], next_cursor: str | None
) -> Page[PersonCard]:
    cards = await profiles_service.get_cards(session, user_ids)
    return Page[PersonCard](
        items=[cards[user_id] for user_id in user_ids if user_id in cards], next_cursor=next_cursor
    )


async def _connections_owner_or_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, username: str
) -> Profile:
    """A user whose connections the viewer may list (their ``connections_visibility``)."""
    owner, relationship = await get_visible_user_or_404(session, viewer_id, username)
    privacy = await profiles.get_privacy(session, owner.user_id)
    audience = privacy.connections_visibility if privacy is not None else Audience.ONLY_ME
    if not profiles_policy.may_see(audience, relationship):
        raise ConnectionsHidden("This user shows their connections to fewer people.")
    return owner


async def list_friends(
    session: AsyncSession, viewer_id: uuid.UUID | None, username: str, page: PageRequest
) -> Page[PersonCard]:
    owner = await _connections_owner_or_404(session, viewer_id, username)
    rows, cursor = await repository.list_friends(session, owner.user_id, viewer_id, page)
    return await _page_of_cards(session, [row.friend_id for row in rows], cursor)


async def list_mutual_friends(
    session: AsyncSession, viewer_id: uuid.UUID, username: str, page: PageRequest
) -> Page[PersonCard]:
    owner = await _connections_owner_or_404(session, viewer_id, username)
    rows, cursor = await repository.list_mutual_friends(session, owner.user_id, viewer_id, page)
    return await _page_of_cards(session, [row.friend_id for row in rows], cursor)


async def list_followers(
    session: AsyncSession, viewer_id: uuid.UUID | None, username: str, page: PageRequest
) -> Page[PersonCard]:
    owner = await _connections_owner_or_404(session, viewer_id, username)
    rows, cursor = await repository.list_followers(session, owner.user_id, viewer_id, page)
    return await _page_of_cards(session, [row.follower_id for row in rows], cursor)


async def list_following(
    session: AsyncSession, viewer_id: uuid.UUID | None, username: str, page: PageRequest
) -> Page[PersonCard]:
    owner = await _connections_owner_or_404(session, viewer_id, username)
    rows, cursor = await repository.list_following(session, owner.user_id, viewer_id, page)
    return await _page_of_cards(session, [row.followee_id for row in rows], cursor)


async def list_incoming_friend_requests(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest
) -> Page[FriendRequestOut]:
    rows, cursor = await repository.list_incoming_friend_requests(session, viewer_id, page)
    cards = await profiles_service.get_cards(session, [row.requester_id for row in rows])
    items = [
        FriendRequestOut(id=row.id, user=cards[row.requester_id], created_at=row.created_at)
        for row in rows
        if row.requester_id in cards
    ]
    return Page[FriendRequestOut](items=items, next_cursor=cursor)


async def list_outgoing_friend_requests(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest
) -> Page[FriendRequestOut]:
    rows, cursor = await repository.list_outgoing_friend_requests(session, viewer_id, page)
    cards = await profiles_service.get_cards(session, [row.addressee_id for row in rows])
    items = [
        FriendRequestOut(id=row.id, user=cards[row.addressee_id], created_at=row.created_at)
        for row in rows
        if row.addressee_id in cards
    ]
    return Page[FriendRequestOut](items=items, next_cursor=cursor)


async def list_follow_requests(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest
) -> Page[FollowRequestOut]:
    rows, cursor = await repository.list_follow_requests(session, viewer_id, page)
    cards = await profiles_service.get_cards(session, [row.follower_id for row in rows])
    items = [
        FollowRequestOut(id=row.id, user=cards[row.follower_id], created_at=row.created_at)
        for row in rows
        if row.follower_id in cards
    ]
    return Page[FollowRequestOut](items=items, next_cursor=cursor)


async def list_close_friends(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest
) -> Page[PersonCard]:
    rows, cursor = await repository.list_close_friends(session, viewer_id, page)
    return await _page_of_cards(session, [row.member_id for row in rows], cursor)


async def list_mutes(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest
) -> Page[PersonCard]:
    rows, cursor = await repository.list_mutes(session, viewer_id, page)
    return await _page_of_cards(session, [row.muted_id for row in rows], cursor)


async def list_blocks(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest
) -> Page[PersonCard]:
    rows, cursor = await repository.list_blocks(session, viewer_id, page)
    return await _page_of_cards(session, [row.blocked_id for row in rows], cursor)

"""Every module's tables, imported once so Alembic and tests see the whole schema."""

from townsquare.kit.events import OutboxEvent
from townsquare.kit.models import Base
from townsquare.modules.accounts.models import AccountToken, AuthSession, RefreshToken, User
from townsquare.modules.bookmarks.models import Bookmark, BookmarkCollection
from townsquare.modules.comments.models import Comment, CommentMention
from townsquare.modules.posts.models import (
    Poll,
    PollOption,
    PollVote,
    Post,
    PostAudience,
    PostMedia,
    PostMention,
    PostRevision,
)
from townsquare.modules.profiles.models import PrivacySettings, Profile, UserSettings
from townsquare.modules.reactions.models import Reaction, ReactionCount
from townsquare.modules.social.models import (
    Block,
    CloseFriend,
    Follow,
    FriendRequest,
    Friendship,
    Mute,
    UserStats,
)
from townsquare.modules.topics.models import PostTopic, Topic, TopicDailyUsage, TopicFollow

metadata = Base.metadata

__all__ = [
    "AccountToken",
    "AuthSession",
    "Block",
    "Bookmark",
    "BookmarkCollection",
    "CloseFriend",
    "Comment",
    "CommentMention",
    "Follow",
    "FriendRequest",
    "Friendship",
    "Mute",
    "OutboxEvent",
    "Poll",
    "PollOption",
    "PollVote",
    "Post",
    "PostAudience",
    "PostMedia",
    "PostMention",
    "PostRevision",
    "PostTopic",
    "PrivacySettings",
    "Profile",
    "Reaction",
    "ReactionCount",
    "RefreshToken",
    "Topic",
    "TopicDailyUsage",
    "TopicFollow",
    "User",
    "UserSettings",
    "UserStats",
    "metadata",
]

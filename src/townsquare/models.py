"""Every module's tables, imported once so Alembic and tests see the whole schema."""

from townsquare.kit.events import OutboxEvent
from townsquare.kit.jobs import EventDelivery
from townsquare.kit.mail import OutgoingMail
from townsquare.kit.models import Base
from townsquare.kit.periodic import ScheduledJob
from townsquare.kit.realtime import StreamEvent, StreamHead
from townsquare.modules.accounts.models import AccountToken, AuthSession, RefreshToken, User
from townsquare.modules.bookmarks.models import Bookmark, BookmarkCollection
from townsquare.modules.comments.models import Comment, CommentMention
from townsquare.modules.feed.models import HomeInboxBuild, HomeInboxEntry
from townsquare.modules.messaging.models import (
    Conversation,
    ConversationMember,
    Message,
    MessageMention,
)
from townsquare.modules.notifications.models import (
    Notification,
    NotificationDigest,
    NotificationPreference,
)
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
    "Conversation",
    "ConversationMember",
    "EventDelivery",
    "Follow",
    "FriendRequest",
    "Friendship",
    "HomeInboxBuild",
    "HomeInboxEntry",
    "Message",
    "MessageMention",
    "Mute",
    "Notification",
    "NotificationDigest",
    "NotificationPreference",
    "OutboxEvent",
    "OutgoingMail",
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
    "ScheduledJob",
    "StreamEvent",
    "StreamHead",
    "Topic",
    "TopicDailyUsage",
    "TopicFollow",
    "User",
    "UserSettings",
    "UserStats",
    "metadata",
]

"""What every process runs: event handlers and periodic jobs, registered in one place so that a
server process and a worker process (``townsquare worker``) see exactly the same set."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from townsquare.kit.jobs import purge_settled_events
from townsquare.kit.periodic import Job
from townsquare.kit.platform import Platform
from townsquare.modules.accounts import handlers as accounts_handlers
from townsquare.modules.accounts.tasks import purge_deleted_accounts
from townsquare.modules.bookmarks import repository as bookmarks_repository
from townsquare.modules.feed import handlers as feed_handlers
from townsquare.modules.messaging.tasks import purge_expired_messages
from townsquare.modules.notifications import handlers as notifications_handlers
from townsquare.modules.notifications.tasks import send_digests
from townsquare.modules.posts import events as posts_events
from townsquare.modules.posts import repository as posts_repository
from townsquare.modules.posts.tasks import publish_due_posts
from townsquare.modules.reactions import repository as reactions_repository
from townsquare.modules.stream.service import purge_old_events
from townsquare.modules.timeline import providers
from townsquare.modules.topics import service as topics_service
from townsquare.modules.topics.tasks import refresh_trending


class Schedule(Protocol):
    def every(self, seconds: float, name: str, job: Job) -> None: ...


def register_module_links() -> None:
    """What lower modules call in higher ones without importing them, registered here."""
    posts_events.listen_to_hashtags("topics", topics_service)
    register_read_side()


def register_read_side() -> None:
    """What the content modules contribute to presented posts (``timeline.providers``):
    timeline imports none of them, and posts imports neither reactions nor bookmarks."""
    providers.register_viewer_state("posts.visible", posts_repository.visible_state, anonymous=True)
    providers.register_viewer_state(
        "posts.mentions", posts_repository.mentions_state, anonymous=True
    )
    providers.register_viewer_state("posts.poll_choices", posts_repository.poll_choices_state)
    providers.register_viewer_state("posts.audience", posts_repository.audience_state)
    providers.register_viewer_state("posts.views", posts_repository.views_state)
    providers.register_viewer_state(
        "reactions.viewer_reaction", reactions_repository.viewer_reaction_state
    )
    providers.register_viewer_state("bookmarks.bookmarked", bookmarks_repository.bookmarked_state)
    providers.register_body_part("reactions.counts", reactions_repository.reaction_counts_part)


def register_event_handlers(platform: Platform) -> None:
    register_module_links()
    accounts_handlers.register_handlers(platform.handlers, platform)
    feed_handlers.register_handlers(platform.handlers, platform)
    notifications_handlers.register_handlers(platform.handlers, platform)


def register_periodic_jobs(platform: Platform, schedule: Schedule) -> None:
    settings = platform.settings
    schedule.every(
        settings.purge_interval_seconds,
        "purge_deleted_accounts",
        lambda: purge_deleted_accounts(platform),
    )
    schedule.every(
        settings.scheduled_publish_interval_seconds,
        "publish_due_posts",
        lambda: publish_due_posts(platform),
    )
    schedule.every(
        settings.trending_interval_seconds, "refresh_trending", lambda: refresh_trending(platform)
    )
    schedule.every(
        settings.notification_digest_interval_seconds,
        "send_notification_digests",
        lambda: send_digests(platform),
    )
    schedule.every(
        settings.mail_retry_interval_seconds, "send_due_mail", lambda: platform.mail.send_due()
    )
    # Hourly is plenty for a retention counted in hours.
    schedule.every(3600, "purge_stream_events", lambda: purge_old_events(platform))
    schedule.every(
        3600,
        "purge_settled_events",
        lambda: purge_settled_events(
            platform.database, timedelta(days=settings.outbox_retention_days)
        ),
    )
    schedule.every(
        settings.disappearing_purge_interval_seconds,
        "purge_expired_messages",
        lambda: purge_expired_messages(platform),
    )

"""Background jobs of posts."""

from __future__ import annotations

import uuid

from townsquare.kit.events import has_recorded_events
from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform
from townsquare.modules.posts import service


async def publish_due_posts(platform: Platform) -> int:
    """Publish every scheduled post whose time has come; returns how many this run did.

    Run it every ``scheduled_publish_interval_seconds``. Due posts are read in batches and
    each is published in its own transaction; several processes may run this at once (a post
    another process is publishing is skipped, one already published is left alone).
    """
    published = 0
    while True:
        async with platform.database.unit_of_work(read_only=True) as uow:
            due = await service.due_post_ids(uow.session, utcnow())
        for post_id in due:
            published += await _publish_one(platform, post_id)
        if len(due) < service.PUBLISH_BATCH_SIZE:
            return published


async def _publish_one(platform: Platform, post_id: uuid.UUID) -> int:
    async with platform.database.unit_of_work() as uow:
        if not await service.publish_if_due(uow.session, post_id, utcnow()):
            return 0
        recorded = has_recorded_events(uow.session)
        await uow.commit()
    if recorded:
        platform.outbox.kick()
    return 1

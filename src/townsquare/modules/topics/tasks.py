"""Background jobs of topics."""

from __future__ import annotations

from datetime import datetime

from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform
from townsquare.modules.topics import service


async def refresh_trending(platform: Platform, now: datetime | None = None) -> int:
    """Recompute trending scores from the daily usage rows (every
    ``settings.trending_interval_seconds``); returns how many topics were rescored.

    Idempotent and safe in several processes at once: one UPDATE computes every score from the
    usage rows, so concurrent runs write the same values (rows locked in id order).
    """
    async with platform.database.unit_of_work() as uow:
        changed = await service.refresh_trending_scores(uow.session, now or utcnow())
        await uow.commit()
    return changed

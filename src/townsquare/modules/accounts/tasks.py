"""Background jobs of accounts."""

from __future__ import annotations

from townsquare.kit.events import has_recorded_events
from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform
from townsquare.modules.accounts import service


async def purge_deleted_accounts(platform: Platform) -> int:
    """Purge every account whose deletion grace period is over, in batches; returns how many."""
    purged = 0
    while True:
        async with platform.database.unit_of_work() as uow:
            batch = await service.purge_due_accounts(uow.session, utcnow())
            recorded = has_recorded_events(uow.session)
            await uow.commit()
        if recorded:
            platform.outbox.kick()
        purged += batch
        if batch == 0:
            return purged

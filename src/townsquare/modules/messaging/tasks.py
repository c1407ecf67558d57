"""Background jobs of messaging."""

from __future__ import annotations

from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform
from townsquare.modules.messaging import repository

#: Expired messages deleted per transaction (short transactions, bounded statements).
PURGE_BATCH_SIZE = 500


async def purge_expired_messages(platform: Platform) -> int:
    """Hard-delete disappearing messages whose time has passed; returns how many.

    Run every ``disappearing_purge_interval_seconds``. Reads already hide an expired message
    the moment it expires; this only reclaims the rows. Batches commit one by one, and
    several processes may run it at once (a row deleted twice is simply gone).
    """
    purged = 0
    while True:
        async with platform.database.unit_of_work() as uow:
            count = await repository.purge_expired(uow.session, utcnow(), PURGE_BATCH_SIZE)
            await uow.commit()
        purged += count
        if count < PURGE_BATCH_SIZE:
            return purged

"""The process-wide parts every request and job may use, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from townsquare.config import Settings
from townsquare.kit.cache import Cache, MemoryCache, RedisCache
from townsquare.kit.db import Database
from townsquare.kit.events import EventHandlers, bind_handlers
from townsquare.kit.jobs import OutboxRelay
from townsquare.kit.mail import Mailer, MailQueue, create_mailer
from townsquare.kit.ratelimit import RateLimiter
from townsquare.kit.realtime import Hub, Presence, bind_hub, create_hub
from townsquare.kit.redis import OutageTracker, create_redis


@dataclass
class Platform:
    settings: Settings
    database: Database
    redis: Redis | None
    cache: Cache
    limiter: RateLimiter
    mailer: Mailer
    #: Mail is sent through it: after the commit that queued it, retried when SMTP fails.
    mail: MailQueue
    handlers: EventHandlers
    outbox: OutboxRelay
    hub: Hub
    presence: Presence
    redis_outages: OutageTracker

    @classmethod
    def build(cls, settings: Settings) -> Platform:
        handlers = EventHandlers()
        redis = create_redis(settings.redis_url) if settings.redis_url else None
        if redis is not None and settings.redis_url:
            cache: Cache = RedisCache(redis, settings.redis_key_prefix)
            limiter = RateLimiter.on_redis(
                settings.redis_url, settings.redis_key_prefix, enabled=settings.rate_limit_enabled
            )
        else:
            cache = MemoryCache()
            limiter = RateLimiter.in_memory(enabled=settings.rate_limit_enabled)
        database = Database(settings, cache)
        bind_handlers(database, handlers)
        mailer = create_mailer(settings)
        hub = create_hub(settings, database, redis)
        bind_hub(database, hub)
        return cls(
            settings=settings,
            database=database,
            redis=redis,
            cache=cache,
            limiter=limiter,
            mailer=mailer,
            mail=MailQueue(database, mailer, settings),
            handlers=handlers,
            outbox=OutboxRelay(database, handlers, settings),
            hub=hub,
            presence=Presence(redis, settings.redis_key_prefix, settings.presence_ttl_seconds),
            redis_outages=OutageTracker(),
        )

    async def close(self) -> None:
        await self.outbox.close()
        await self.hub.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.dispose()

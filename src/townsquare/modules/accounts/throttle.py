"""Throttles of password guessing and reset emails: they slow the attacker, not the owner.

Failed logins count per (account, source IP), so a stranger's guesses lock out only the
stranger's own address: the owner, from an address that has not been failing, still signs in
with the right password. Across all sources an account has a much higher ceiling; past it, an
address that has failed on the account at all is refused and every further failure is answered
at the longest delay, while an address with no failures still gets its attempt. Unknown account
names are counted exactly like real ones, so a 429 tells nothing about which names exist.

Reset emails count per (address, source IP), on top of the per-IP limit of the endpoint, so a
stranger cannot use up the owner's quota either.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from townsquare.kit.errors import TooManyRequests
from townsquare.kit.platform import Platform

#: Failed logins of one account from one source (key ``{account}|{ip}``).
FAILURES_FROM_SOURCE = "login-failures"
#: Failed logins of one account from every source (key ``{account}``).
FAILURES_OF_ACCOUNT = "login-failures-account"
RESET_EMAILS = "password-forgot"


@dataclass(frozen=True)
class LoginThrottle:
    """The failure counters of one sign-in attempt: ``account`` (a user id, or ``unknown:`` and
    the name tried) from ``source`` (the client IP)."""

    platform: Platform
    account: str
    source: str

    @property
    def _source_key(self) -> str:
        return f"{self.account}|{self.source}"

    async def check(self) -> None:
        """Raise ``TooManyRequests`` if this source may not try this account now."""
        settings, limiter = self.platform.settings, self.platform.limiter
        source_rule = settings.rate_limit_login_failures_per_source
        await limiter.check(source_rule, FAILURES_FROM_SOURCE, self._source_key)
        if await limiter.count(source_rule, FAILURES_FROM_SOURCE, self._source_key) > 0:
            # Only a source that has been failing here meets the account's ceiling.
            await limiter.check(
                settings.rate_limit_login_failures_per_account, FAILURES_OF_ACCOUNT, self.account
            )

    async def failed(self) -> None:
        """Count a failure; after three from this source, answer it later, doubling each time.

        Call with no transaction open (``kit.slow``): the delay is deliberate, and nobody else
        must wait for it.
        """
        settings, limiter = self.platform.settings, self.platform.limiter
        source_rule = settings.rate_limit_login_failures_per_source
        # A concurrent failure may have filled the window: this source is refused from now on.
        with contextlib.suppress(TooManyRequests):
            await limiter.hit(source_rule, FAILURES_FROM_SOURCE, self._source_key)
        try:
            await limiter.hit(
                settings.rate_limit_login_failures_per_account, FAILURES_OF_ACCOUNT, self.account
            )
            under_attack = False
        except TooManyRequests:
            under_attack = True
        failures = await limiter.count(source_rule, FAILURES_FROM_SOURCE, self._source_key)
        if not settings.login_failure_delay_ms:
            return
        if under_attack:
            delay_ms = settings.login_failure_delay_max_ms
        elif failures > 3:
            delay_ms = min(
                settings.login_failure_delay_ms * 2 ** (failures - 4),
                settings.login_failure_delay_max_ms,
            )
        else:
            return
        await asyncio.sleep(delay_ms / 1000)

    async def succeeded(self) -> None:
        """The right password clears this source's failures (the account's total stays)."""
        await self.platform.limiter.reset(
            self.platform.settings.rate_limit_login_failures_per_source,
            FAILURES_FROM_SOURCE,
            self._source_key,
        )


async def count_reset_email(platform: Platform, email: str, source: str) -> None:
    """Spend one reset email of ``email`` from ``source``; 429 when that pair used its quota."""
    await platform.limiter.hit(
        platform.settings.rate_limit_password_per_account,
        RESET_EMAILS,
        f"{email.lower()}|{source}",
    )

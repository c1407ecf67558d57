"""``townsquare worker`` and ``townsquare jobs``, run as an operator would run them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import select

from tests.conftest import Backend, make_settings
from tests.fixtures.mailbox import Mailbox
from tests.kit.test_cli import TOWNSQUARE, _env, _run
from townsquare.kit.events import OutboxEvent, record_event
from townsquare.kit.jobs import EventDelivery
from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform


def test_worker_help_and_refusal_without_a_broker(tmp_path: Path) -> None:
    helped = subprocess.run(
        [TOWNSQUARE, "worker", "--help"],
        cwd=tmp_path,
        env=_env(COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0, helped.stderr
    assert "TOWNSQUARE_JOB_BROKER_URL" in helped.stdout

    refused = _run("worker", cwd=tmp_path, timeout=30)
    assert refused.returncode == 2
    assert "TOWNSQUARE_JOB_BROKER_URL" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_dead_letters_are_listed_and_retried(tmp_path: Path, mailbox: Mailbox) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    upgraded = _run("db", "upgrade", cwd=tmp_path, TOWNSQUARE_DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr

    empty = _run("jobs", "dead-letters", cwd=tmp_path, TOWNSQUARE_DATABASE_URL=url)
    assert empty.returncode == 0, empty.stderr
    assert "0 dead deliveries." in empty.stdout

    platform = Platform.build(make_settings(Backend("sqlite", url, None), mailbox))
    try:
        async with platform.database.unit_of_work() as uow:
            for n in range(2):
                record_event(uow.session, "kit_test.doomed", {"n": n})
            await uow.session.flush()
            event_ids = list(await uow.session.scalars(select(OutboxEvent.id)))
            for event_id in event_ids:
                uow.session.add(
                    EventDelivery(
                        event_id=event_id,
                        handler="tests.doomed_handler",
                        attempts=8,
                        last_error="SMTPServerDisconnected: gone",
                        dead_at=utcnow(),
                    )
                )
            await uow.commit()

        listed = _run("jobs", "dead-letters", cwd=tmp_path, TOWNSQUARE_DATABASE_URL=url)
        assert listed.returncode == 0, listed.stderr
        assert "2 dead deliveries." in listed.stdout
        for event_id in event_ids:
            assert str(event_id) in listed.stdout
        assert "kit_test.doomed" in listed.stdout
        assert "tests.doomed_handler" in listed.stdout
        assert "attempts=8" in listed.stdout
        assert "SMTPServerDisconnected: gone" in listed.stdout

        bad = _run("jobs", "retry-dead", "--event-id", "nope", cwd=tmp_path)
        assert bad.returncode == 2
        assert "Traceback" not in bad.stderr

        one = _run(
            "jobs",
            "retry-dead",
            "--event-id",
            str(event_ids[0]),
            cwd=tmp_path,
            TOWNSQUARE_DATABASE_URL=url,
        )
        assert one.returncode == 0, one.stderr
        assert "Requeued 1 dead delivery." in one.stdout
        rest = _run("jobs", "retry-dead", cwd=tmp_path, TOWNSQUARE_DATABASE_URL=url)
        assert "Requeued 1 dead delivery." in rest.stdout

        async with platform.database.sessions() as session:
            rows = list(await session.scalars(select(EventDelivery)))
        assert len(rows) == 2
        assert all(r.dead_at is None and r.attempts == 0 for r in rows)
    finally:
        await platform.close()

"""KnownAthletes (entrypoints/api/athletes.py) as GenerationChanges tell it: a generation
read while changes are heard is trusted for long, until a change of it is told; while
they are not heard (never told, deaf, or a heartbeat overdue), only for
REVOCATION_DELAY_S; hearing again after a lapse forgets everything kept. And embedded
mode's LocalGenerationChanges."""

from __future__ import annotations

from typing import cast
from uuid import UUID, uuid4

import pytest

from fitboard.application.accounts.ports import AccessToken
from fitboard.application.accounts.sessions import LocalGenerationChanges, Sessions
from fitboard.domain.errors import AuthenticationFailed
from fitboard.entrypoints.api.athletes import REVOCATION_DELAY_S, KnownAthletes

ADA = uuid4()
SAFETY_S = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Record:
    """The athletes' generations in the record, counting the reads."""

    def __init__(self) -> None:
        self.generations = {ADA: 0}
        self.reads = 0
        # Run during a read, after the row was read: what a change told meanwhile does.
        self.during_read: list[object] = []

    async def generation(self, user_id: UUID) -> int:
        self.reads += 1
        generation = self.generations[user_id]
        for action in self.during_read:
            assert callable(action)
            action()
        self.during_read.clear()
        return generation


def token(generation: int = 0) -> AccessToken:
    return AccessToken(user_id=ADA, expires_at=1e12, generation=generation)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def record() -> Record:
    return Record()


@pytest.fixture
def known(clock: Clock) -> KnownAthletes:
    return KnownAthletes(safety_recheck_s=SAFETY_S, clock=clock)


async def require(known: KnownAthletes, record: Record, access: AccessToken) -> None:
    await known.require(access, cast(Sessions, record))


async def test_until_told_changes_are_heard_a_generation_is_trusted_for_the_delay(
    known: KnownAthletes, record: Record, clock: Clock
) -> None:
    assert not known.hearing
    await require(known, record, token())
    clock.now += REVOCATION_DELAY_S - 0.1
    await require(known, record, token())
    assert record.reads == 1
    record.generations[ADA] = 1  # revoked elsewhere, and not told
    clock.now += 0.1
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await require(known, record, token())
    assert record.reads == 2


async def test_while_heard_a_generation_is_trusted_until_a_change_is_told(
    known: KnownAthletes, record: Record, clock: Clock
) -> None:
    known.heard(float("inf"))
    await require(known, record, token())
    clock.now += SAFETY_S / 2 - 0.1  # the shortest trust drawn is half the safety recheck
    await require(known, record, token())
    assert record.reads == 1

    record.generations[ADA] = 1
    known.forget(ADA)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await require(known, record, token())
    assert record.reads == 2


async def test_the_safety_recheck_reads_again_a_change_never_told(
    known: KnownAthletes, record: Record, clock: Clock
) -> None:
    known.heard(float("inf"))
    await require(known, record, token())
    record.generations[ADA] = 1  # its teller died before telling
    clock.now += SAFETY_S
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await require(known, record, token())


async def test_an_overdue_heartbeat_falls_back_to_the_delay_and_hearing_again_forgets_all(
    known: KnownAthletes, record: Record, clock: Clock
) -> None:
    known.heard(3.0)
    await require(known, record, token())
    assert len(known) == 1
    clock.now += 3.0  # no message heard for 3 s: the subscription may be dead
    assert not known.hearing
    await require(known, record, token())
    assert record.reads == 1  # read 3 s ago: within the delay still
    clock.now += REVOCATION_DELAY_S - 3.0
    await require(known, record, token())
    assert record.reads == 2

    known.heard(3.0)  # heard again: what was kept is forgotten, a change may have been missed
    assert known.hearing
    assert len(known) == 0


async def test_deaf_falls_back_to_the_delay(
    known: KnownAthletes, record: Record, clock: Clock
) -> None:
    known.heard(float("inf"))
    await require(known, record, token())
    known.deaf()
    assert not known.hearing
    record.generations[ADA] = 1
    clock.now += REVOCATION_DELAY_S
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await require(known, record, token())


async def test_resume_forgets_everything_kept(known: KnownAthletes, record: Record) -> None:
    known.heard(float("inf"))
    await require(known, record, token())
    known.resume(3.0)
    assert len(known) == 0
    assert known.hearing


async def test_a_read_overtaken_by_a_change_is_trusted_only_for_the_delay(
    known: KnownAthletes, record: Record, clock: Clock
) -> None:
    known.heard(float("inf"))
    # The change commits and is told after the row was read: the read is stale.
    record.during_read.append(lambda: known.forget(ADA))
    await require(known, record, token())
    record.generations[ADA] = 1
    clock.now += REVOCATION_DELAY_S
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await require(known, record, token())


async def test_a_generation_remembered_at_sign_in_is_trusted_only_for_the_delay(
    known: KnownAthletes, record: Record, clock: Clock
) -> None:
    known.heard(float("inf"))
    known.remember(ADA, 0)
    record.generations[ADA] = 1
    clock.now += REVOCATION_DELAY_S
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await require(known, record, token())


async def test_embedded_changes_are_always_heard_and_forget_at_once(
    known: KnownAthletes, record: Record
) -> None:
    changes = LocalGenerationChanges()
    changes.listen(known)
    assert known.hearing
    await require(known, record, token())
    assert len(known) == 1
    await changes.changed(ADA)
    assert len(known) == 0

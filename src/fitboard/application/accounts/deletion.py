"""Deleting an athlete's account: their data goes from the record and from every board.

In one transaction, under the athlete's row lock (the lock the worker takes for each of
their workouts): the groups they own pass to the member who joined first of the others,
or are deleted when no one else is in them; then every row of theirs is erased. After
the commit, the athlete is removed from every board instance at the projection version
of that transaction, so a worker's projection that committed before cannot bring them
back; a workout of theirs still in the queue finds no athlete and is dead-lettered
(application/workouts/processing.py). The athlete's tokens are refused from then on,
since their athlete no longer exists: right after the commit every API process is told to
forget the athlete's token generation (`GenerationChanges`), so that it reads the record
again and finds no athlete. Last, every process that keeps display names is told to
forget theirs. docs/accounts.md.
"""

from __future__ import annotations

import logging
from uuid import UUID

from fitboard.application.accounts.ports import GenerationChanges, PersonalDataUnit
from fitboard.application.boards.ports import NameChanges, RankingIndex
from fitboard.application.ports import RankingUnavailable, Store
from fitboard.domain.errors import NotFound

log = logging.getLogger(__name__)


class AccountDeletion:
    """Deleting an athlete's account and everything of it."""

    def __init__(
        self,
        store: Store[PersonalDataUnit],
        ranking: RankingIndex,
        name_changes: NameChanges,
        generation_changes: GenerationChanges,
    ) -> None:
        self._store = store
        self._ranking = ranking
        self._name_changes = name_changes
        self._generation_changes = generation_changes

    async def delete_account(self, user_id: UUID) -> None:
        # The boards must be reachable before anything is erased: once the record is,
        # the athlete's token is refused and the client could not try again.
        await self._ranking.ping()
        async with self._store.unit_of_work() as uow:
            user = await uow.users.lock_and_bump_version(user_id)
            if user is None:
                raise NotFound("no such athlete")
            data = uow.personal_data
            for owned in await data.owned_groups(user_id):
                if owned.successor is None:
                    await data.delete_group(owned.group_id)
                else:
                    await data.pass_group(owned.group_id, user_id, owned.successor)
            await data.erase(user_id)
            await uow.commit()
            await self._generation_changes.changed(user_id)
            # Under the athlete's board-write lock, which outlives the commit
            # (`lock_and_bump_version`): no board write of theirs comes after this one.
            await self._ranking.remove_athlete(user_id, user.projection_version)
        try:
            await self._name_changes.changed([user_id])
        except RankingUnavailable as exc:
            # Off every board now, the name is shown nowhere; a process that was not told
            # forgets it within the cache's age limit. The account is gone either way, so
            # failing the request would only keep its client from hearing so.
            log.warning(
                "the erased athlete %s's name was not forgotten everywhere: %s", user_id, exc
            )

"""Deleting an athlete's account: their data goes from the record and from every board.

In one transaction, under the athlete's row lock (the lock the worker takes for each of
their workouts): the groups they own pass to the member who joined first of the others,
or are deleted when no one else is in them; then every row of theirs is erased. After
the commit, the athlete is removed from every board instance at the projection version
of that transaction, so a worker's projection that committed before cannot bring them
back; a workout of theirs still in the queue finds no athlete and is dead-lettered
(application/workouts/processing.py). The athlete's tokens are refused from then on,
since their athlete no longer exists. docs/accounts.md.
"""

from __future__ import annotations

from uuid import UUID

from fitboard.application.accounts.ports import PersonalDataUnit
from fitboard.application.boards.ports import RankingIndex
from fitboard.application.ports import Store
from fitboard.domain.errors import NotFound


class AccountDeletion:
    """Deleting an athlete's account and everything of it."""

    def __init__(self, store: Store[PersonalDataUnit], ranking: RankingIndex) -> None:
        self._store = store
        self._ranking = ranking

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
        await self._ranking.remove_athlete(user_id, user.projection_version)

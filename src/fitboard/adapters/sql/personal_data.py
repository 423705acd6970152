"""One athlete's data across the record's tables, for their export and the deletion of
their account."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.tables import (
    awards,
    challenges,
    daily_rollups,
    group_members,
    groups,
    kept_record_bests,
    monthly_reports,
    record_bests,
    users,
    workout_changes,
    workouts,
)
from fitboard.application.accounts.ports import Membership, OwnedGroup, ReportCopy
from fitboard.domain.boards import Scope


def _group_scope(group_id: UUID) -> str:
    """How a group challenge's `scope` column names its group."""
    return str(Scope.for_group(group_id))


class SqlPersonalData:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def owned_groups(self, user_id: UUID) -> list[OwnedGroup]:
        owned = list(
            (
                await self._connection.execute(
                    select(groups.c.id).where(groups.c.owner_id == user_id).order_by(groups.c.id)
                )
            ).scalars()
        )
        found = []
        for group_id in owned:
            successor = (
                await self._connection.execute(
                    select(group_members.c.user_id)
                    .where(group_members.c.group_id == group_id, group_members.c.user_id != user_id)
                    .order_by(group_members.c.joined_at, group_members.c.user_id)
                    .limit(1)
                )
            ).scalar()
            found.append(OwnedGroup(group_id, successor))
        return found

    async def pass_group(self, group_id: UUID, owner: UUID, successor: UUID) -> None:
        await self._connection.execute(
            update(groups).where(groups.c.id == group_id).values(owner_id=successor)
        )
        await self._connection.execute(
            update(challenges)
            .where(challenges.c.scope == _group_scope(group_id), challenges.c.created_by == owner)
            .values(created_by=successor)
        )

    async def delete_group(self, group_id: UUID) -> None:
        await self._connection.execute(
            delete(challenges).where(challenges.c.scope == _group_scope(group_id))
        )
        await self._connection.execute(
            delete(group_members).where(group_members.c.group_id == group_id)
        )
        await self._connection.execute(delete(groups).where(groups.c.id == group_id))

    async def erase(self, user_id: UUID) -> None:
        # Children before the athlete's row, every one keyed by the athlete.
        for table, column in (
            (awards, awards.c.user_id),
            (record_bests, record_bests.c.user_id),
            (kept_record_bests, kept_record_bests.c.user_id),
            (workout_changes, workout_changes.c.user_id),
            (monthly_reports, monthly_reports.c.user_id),
            (daily_rollups, daily_rollups.c.user_id),
            (workouts, workouts.c.user_id),
            (group_members, group_members.c.user_id),
            (challenges, challenges.c.created_by),
            (users, users.c.id),
        ):
            await self._connection.execute(delete(table).where(column == user_id))

    async def memberships(self, user_id: UUID) -> list[Membership]:
        statement = (
            select(groups.c.id, groups.c.name, groups.c.owner_id, group_members.c.joined_at)
            .select_from(group_members.join(groups, groups.c.id == group_members.c.group_id))
            .where(group_members.c.user_id == user_id)
            .order_by(group_members.c.joined_at, groups.c.id)
        )
        return [
            Membership(row.id, row.name, row.owner_id == user_id, row.joined_at)
            for row in await self._connection.execute(statement)
        ]

    async def reports(self, user_id: UUID) -> list[ReportCopy]:
        statement = (
            select(monthly_reports.c.month, monthly_reports.c.body, monthly_reports.c.final_rank)
            .where(monthly_reports.c.user_id == user_id)
            .order_by(monthly_reports.c.month)
        )
        return [
            ReportCopy(row.month, row.body, row.final_rank)
            for row in await self._connection.execute(statement)
        ]

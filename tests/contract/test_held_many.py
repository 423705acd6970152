"""`held_many`: `held` for several athletes at once, in one statement whose text is the
same however many athletes and keys; on SQLite and PostgreSQL."""

from __future__ import annotations

from fitboard.adapters.sql import SqlStore
from fitboard.domain.achievements import Award

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    StatementLog,
    migrated_postgres_url_fixture,
    statement_log_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import T0, add_users, make_user


async def test_held_many_answers_each_athlete_as_held_does_in_one_text(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace, alan = make_user("Ada"), make_user("Grace"), make_user("Alan")
    await add_users(store, ada, grace, alan)
    async with store.unit_of_work() as uow:
        for rule, key in (("longest", "w1"), ("longest", "w2"), ("pace", "w1"), ("burn", "w3")):
            assert await uow.achievements.award(ada.id, Award(rule, key), T0, None)
        # Grace holds one of Ada's keys: each athlete's answer is their own.
        assert await uow.achievements.award(grace.id, Award("longest", "w1"), T0, None)
        assert await uow.achievements.award(grace.id, Award("longest", "w3"), T0, None)
        await uow.commit()
    asked = [
        (ada.id, ["w1", "w2", "w3", "w1"]),
        (grace.id, ["w3"]),
        (alan.id, ["w1"]),
        (ada.id, []),
        (grace.id, ["w1", "w2"]),
    ]
    async with store.unit_of_work(read_only=True) as uow:
        statement_log.clear()
        found = await uow.achievements.held_many(["longest", "pace", "longest"], asked)
        assert found == [
            {("longest", "w1"), ("longest", "w2"), ("pace", "w1")},
            {("longest", "w3")},
            set(),
            set(),
            {("longest", "w1")},
        ]
        # The same as `held` asked one athlete at a time.
        for (user_id, keys), held in zip(asked, found, strict=True):
            assert await uow.achievements.held(user_id, ["longest", "pace"], keys) == held
        statement_log.clear()
        assert await uow.achievements.held_many(["burn"], [(ada.id, ["w3"])]) == [{("burn", "w3")}]
        assert await uow.achievements.held_many(["longest"], asked[:2]) == [
            {("longest", "w1"), ("longest", "w2")},
            {("longest", "w3")},
        ]
        # A text per number of athletes or keys would be parsed and planned again.
        assert len(set(statement_log.queries())) == 1
        assert await uow.achievements.held_many([], asked) == [set()] * len(asked)
        assert await uow.achievements.held_many(["longest"], []) == []

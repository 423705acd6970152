"""Board names (domain/boards.py): what clients subscribe with and logs show, read back as
written. How an index stores a board is the index's business
(tests/integration/test_ranking_redis.py pins the Redis keys)."""

from __future__ import annotations

from uuid import UUID

import pytest

from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope
from fitboard.domain.errors import InvalidField

GROUP = UUID("0b7e8a52-6a61-4f0e-9c39-5e0f1a4b2c3d")


@pytest.mark.parametrize(
    ("board", "name"),
    [
        (BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "calories/week/global"),
        (
            BoardId(Metric.DISTANCE, Period.MONTH, Scope.for_activity(Activity.RUN)),
            "distance/month/activity:run",
        ),
        (
            BoardId(Metric.ACTIVE_DAYS, Period.ALL, Scope.for_group(GROUP)),
            f"active_days/all/group:{GROUP}",
        ),
    ],
)
def test_a_board_name_reads_back_as_the_board(board: BoardId, name: str) -> None:
    assert board.name == name
    assert BoardId.parse(name) == board


def test_a_board_instance_is_named_by_its_board_and_period_key() -> None:
    key = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
    assert key.name == str(key) == "calories/week/global/2026-W47"


@pytest.mark.parametrize(
    "name", ["calories/week", "kilojoules/week/global", "calories/week/group:nope"]
)
def test_a_name_that_is_no_board_is_refused(name: str) -> None:
    with pytest.raises(InvalidField):
        BoardId.parse(name)

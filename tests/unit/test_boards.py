"""Board names (domain/boards.py): what clients subscribe with and logs show, read back as
written. How an index stores a board is the index's business
(tests/integration/test_ranking_redis.py pins the Redis keys)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import pytest

from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScoreUpdate
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


def _week(period_key: str, scope: Scope | None = None) -> BoardKey:
    return BoardKey(BoardId(Metric.CALORIES, Period.WEEK, scope or Scope.global_()), period_key)


def test_a_board_instance_is_a_value_whatever_object_holds_it() -> None:
    """Its hash is worked out once, when it is made: keys made apart are still one key."""
    a, b = _week("2026-W47"), _week("2026-W47")
    assert a is not b
    assert a == b
    assert hash(a) == hash(b) == hash((a.board, a.period_key))
    assert {a: 1}[b] == 1
    assert a != _week("2026-W48")
    assert a != _week("2026-W47", Scope.for_activity(Activity.RUN))
    assert len({a, b, _week("2026-W48")}) == 2
    # Order and repr are those of (board, period_key) alone.
    assert sorted([_week("2026-W48"), a]) == [a, _week("2026-W48")]
    assert repr(a) == f"BoardKey(board={a.board!r}, period_key='2026-W47')"


def test_a_board_instance_is_frozen_and_replaced_keys_hash_as_made() -> None:
    key = _week("2026-W47")
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.period_key = "2026-W48"  # type: ignore[misc]
    moved = dataclasses.replace(key, period_key="2026-W48")
    assert moved == _week("2026-W48")
    assert hash(moved) == hash(_week("2026-W48"))


@pytest.mark.parametrize(
    "copied_by", [copy.copy, copy.deepcopy, lambda k: pickle.loads(pickle.dumps(k))]
)
def test_a_copied_board_instance_works_its_hash_out_again(
    copied_by: Callable[[BoardKey], BoardKey],
) -> None:
    key = _week("2026-W47")
    # A stale hash (a pickle from a process with another str hash seed) would survive a
    # copy of __dict__; a copy made through __init__ cannot carry one.
    object.__setattr__(key, "_hash", 12345)
    copied = copied_by(key)
    assert copied == key
    assert hash(copied) == hash(_week("2026-W47"))


def test_a_score_update_is_a_frozen_value() -> None:
    moment = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    update = ScoreUpdate(_week("2026-W47"), 120, moment)
    assert update == ScoreUpdate(key=_week("2026-W47"), score=120, reached_at=moment)
    assert hash(update) == hash(ScoreUpdate(_week("2026-W47"), 120, moment))
    assert update != ScoreUpdate(_week("2026-W47"), None, None)
    assert (update.key, update.score, update.reached_at) == (_week("2026-W47"), 120, moment)
    with pytest.raises(dataclasses.FrozenInstanceError):
        update.score = 0  # type: ignore[misc]
    assert dataclasses.replace(update, score=None, reached_at=None) == ScoreUpdate(
        _week("2026-W47"), None, None
    )
    with pytest.raises(TypeError):
        ScoreUpdate(_week("2026-W47"), 120)  # type: ignore[call-arg]
    assert copy.copy(update) == copy.deepcopy(update) == update
    assert pickle.loads(pickle.dumps(update)) == update

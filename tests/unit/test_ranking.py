"""Board order, competition ranks and the composite Redis score."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fitboard.domain.boards import Standing
from fitboard.domain.ranking import (
    MAX_SCORE,
    competition_ranks,
    decode_score,
    encode_sort_score,
    ranked,
    reached_at_resolution_s,
    sort_key,
    tie_break,
    window_ranks,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

# Moments a real board sees, and the full clamped range the encoding accepts.
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
scores = st.integers(min_value=0, max_value=2**40 - 1)
all_scores = st.integers(min_value=0, max_value=MAX_SCORE)
standings = st.builds(Standing, user_id=st.uuids(), score=scores, reached_at=moments)


def _uid(n: int) -> UUID:
    return UUID(int=n)


# --------------------------------------------------------------------------- ranks


@pytest.mark.parametrize(
    ("board", "ranks"),
    [
        ([], []),
        ([7], [1]),
        ([10, 9, 9, 8], [1, 2, 2, 4]),
        ([5, 5, 5], [1, 1, 1]),
        ([9, 8, 8, 8, 2, 2, 1], [1, 2, 2, 2, 5, 5, 7]),
    ],
)
def test_competition_ranks(board: list[int], ranks: list[int]) -> None:
    assert competition_ranks(board) == ranks


def test_competition_ranks_refuses_scores_out_of_board_order() -> None:
    with pytest.raises(ValueError, match="board order"):
        competition_ranks([1, 2])


def test_window_ranks_continue_a_tie_that_began_on_an_earlier_page() -> None:
    board = [9, 8, 8, 8, 2]
    # Page of two starting at position 2: both entries are inside the tie of rank 2.
    assert window_ranks(board[2:4], 2, 2) == [2, 2]
    assert window_ranks(board[3:5], 3, 2) == [2, 5]


@given(st.lists(st.integers(min_value=0, max_value=50), max_size=40), st.data())
def test_any_window_agrees_with_the_whole_board(values: list[int], data: st.DataObject) -> None:
    board = sorted(values, reverse=True)
    whole = competition_ranks(board)
    if not board:
        return
    start = data.draw(st.integers(min_value=0, max_value=len(board) - 1))
    stop = data.draw(st.integers(min_value=start + 1, max_value=len(board)))
    assert window_ranks(board[start:stop], start, whole[start]) == whole[start:stop]
    for i, score in enumerate(board):
        assert whole[i] == 1 + sum(1 for other in board if other > score)


# --------------------------------------------------------------------------- order


def test_sort_key_orders_score_then_earlier_reached_at_then_user_id_descending() -> None:
    rows = [
        Standing(_uid(1), 10, T0 + timedelta(minutes=5)),
        Standing(_uid(2), 10, T0),
        Standing(_uid(3), 20, T0 + timedelta(days=1)),
        Standing(_uid(4), 10, T0),
    ]
    ordered = [s.user_id.int for s in sorted(rows, key=sort_key)]
    assert ordered == [3, 4, 2, 1]


def test_sort_key_needs_an_aware_reached_at() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sort_key(Standing(_uid(1), 1, datetime(2026, 1, 1)))


def test_the_same_instant_in_another_zone_is_the_same_tie_break() -> None:
    elsewhere = T0.astimezone(timezone(timedelta(hours=-5)))
    assert tie_break(100, T0) == tie_break(100, elsewhere)


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("score", [0, 1, 2**21 - 1, 2**21, 2**39 + 7, 2**40 - 1, MAX_SCORE])
def test_decode_is_exact_at_the_edges(score: int) -> None:
    for moment in (datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), T0, datetime(2105, 1, 1, tzinfo=UTC)):
        assert decode_score(encode_sort_score(score, moment)) == score


def test_the_fraction_of_a_present_day_moment_lies_between_one_half_and_one() -> None:
    fraction = encode_sort_score(0, T0)
    assert 0.5 < fraction < 1


@pytest.mark.parametrize(
    ("score", "seconds"),
    [(0, 1), (2**21 - 1, 1), (2**21, 2), (2**22, 4), (2**40 - 1, 2**19), (MAX_SCORE, 2**32)],
)
def test_reached_at_resolution(score: int, seconds: int) -> None:
    assert reached_at_resolution_s(score) == seconds


def test_scores_below_two_to_the_21_order_ties_to_the_second() -> None:
    score = 2**21 - 1
    assert encode_sort_score(score, T0) > encode_sort_score(score, T0 + timedelta(seconds=1))


def test_out_of_range_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="board score"):
        encode_sort_score(-1, T0)
    with pytest.raises(ValueError, match="board score"):
        encode_sort_score(MAX_SCORE + 1, T0)


@given(all_scores, moments)
def test_encode_decode_round_trips(score: int, moment: datetime) -> None:
    value = encode_sort_score(score, moment)
    assert decode_score(value) == score
    assert score <= value < score + 1
    # What Redis stores and returns is this text (or %.17g of it): it must parse back exactly.
    assert float(repr(value)) == value
    assert float(f"{value:.17g}") == value


@given(scores, moments, moments)
def test_an_earlier_reached_at_never_encodes_lower(score: int, a: datetime, b: datetime) -> None:
    early, late = min(a, b), max(a, b)
    assert encode_sort_score(score, early) >= encode_sort_score(score, late)
    if score < 2**21 and math.floor(late.timestamp()) > math.floor(early.timestamp()):
        assert encode_sort_score(score, early) > encode_sort_score(score, late)


@given(standings, standings)
def test_encoded_order_matches_sort_key_order(a: Standing, b: Standing) -> None:
    """ZREVRANGE lists by composite descending, then member text descending; sort_key must
    agree exactly, so both adapters list a board the same way."""

    def redis_order(s: Standing) -> tuple[float, str]:
        return (
            -encode_sort_score(s.score, s.reached_at),
            "".join(chr(255 - ord(c)) for c in str(s.user_id)),
        )

    assert (sort_key(a) < sort_key(b)) == (redis_order(a) < redis_order(b))
    assert (sort_key(a) == sort_key(b)) == (redis_order(a) == redis_order(b))


@given(st.lists(standings, max_size=30))
def test_sorting_by_encoded_value_lists_higher_scores_first(rows: list[Standing]) -> None:
    ordered = sorted(rows, key=sort_key)
    listed = [s.score for s in ordered]
    assert listed == sorted(listed, reverse=True)
    values = [encode_sort_score(s.score, s.reached_at) for s in ordered]
    assert values == sorted(values, reverse=True)


def _reference_encoding(score: int, reached_at: datetime) -> float:
    """The composite of the module's docstring, spelt out step by step as encode_sort_score
    had it before it was worked out inline: the value it must give, bit for bit."""
    if not 0 <= score <= MAX_SCORE:
        raise ValueError("a board score")
    shift = max(0, score.bit_length() - 21)
    if reached_at.tzinfo is None or reached_at.utcoffset() is None:
        raise ValueError("reached_at must be timezone-aware")
    seconds = min(max(math.floor(reached_at.timestamp()), 1), 2**32 - 1)
    tie = (2**32 - seconds) >> shift
    bits = 32 - shift
    return math.ldexp((score << bits) + tie, -bits)


# Each side of every bit length a score can have (where the fraction loses a bit).
_SCORE_EDGES = sorted(
    {s for k in range(54) for s in (2**k - 1, 2**k, 2**k + 1) if 0 <= s <= MAX_SCORE}
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The clamp's edges (before 1 s, at and past 2**32 - 1 s), fractions of a second on both
# sides of a whole one, and zones other than UTC.
_MOMENT_EDGES = [
    datetime(1, 1, 1, tzinfo=UTC),
    _EPOCH - timedelta(microseconds=1),
    _EPOCH,
    _EPOCH + timedelta(microseconds=999_999),
    _EPOCH + timedelta(seconds=1),
    _EPOCH + timedelta(seconds=2, microseconds=1),
    _EPOCH + timedelta(seconds=2**32 - 2, microseconds=999_999),
    _EPOCH + timedelta(seconds=2**32 - 1),
    _EPOCH + timedelta(seconds=2**32),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    T0,
    T0 - timedelta(microseconds=1),
    T0.astimezone(timezone(timedelta(hours=13, minutes=45))),
    T0.astimezone(timezone(timedelta(hours=-11))),
]


@pytest.mark.parametrize("moment", _MOMENT_EDGES, ids=str)
def test_the_encoding_is_the_formula_bit_for_bit_at_the_edges(moment: datetime) -> None:
    for score in _SCORE_EDGES:
        assert encode_sort_score(score, moment).hex() == _reference_encoding(score, moment).hex()


@given(
    st.one_of(all_scores, st.sampled_from(_SCORE_EDGES)),
    st.datetimes(
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    ),
)
def test_the_encoding_is_the_formula_bit_for_bit(score: int, moment: datetime) -> None:
    assert encode_sort_score(score, moment).hex() == _reference_encoding(score, moment).hex()


class _NoOffset(tzinfo):
    """A zone that does not know its offset: such a moment is not aware."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    ("score", "moment", "message"),
    [
        (-1, T0, "board score"),
        (MAX_SCORE + 1, T0, "board score"),
        (10, datetime(2026, 1, 1), "timezone-aware"),
        (10, datetime(2026, 1, 1, tzinfo=_NoOffset()), "timezone-aware"),
        # The score is checked first, as it always was.
        (-1, datetime(2026, 1, 1), "board score"),
    ],
)
def test_the_encoding_refuses_what_the_formula_refuses(
    score: int, moment: datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_sort_score(score, moment)


def test_ranked_orders_standings_and_gives_competition_ranks() -> None:
    t0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    late = Standing(UUID(int=1), 50, t0 + timedelta(hours=2))
    early = Standing(UUID(int=2), 50, t0)
    top = Standing(UUID(int=3), 80, t0 + timedelta(hours=5))
    last = Standing(UUID(int=4), 10, t0)
    assert ranked([late, last, top, early]) == [(1, top), (2, early), (2, late), (4, last)]
    assert ranked([]) == []

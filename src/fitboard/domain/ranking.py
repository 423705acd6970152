"""The order of a board and its ranks: pure rules both ranking adapters follow.

Board order is score descending; among equal scores whoever reached the score first is
listed first; a remaining tie is broken by user id, descending, which is exactly how a
Redis sorted set lists equal scores in ZREVRANGE (its members are the canonical UUID
strings, whose byte order is the order of the UUIDs' integers).

Ranks are standard competition ranks: 1 + the number of members with a strictly
greater score, so ties share a rank and the next rank is skipped (1, 2, 2, 4).

Redis keeps one double per member, so the score and the tie-break are packed into one
composite value: the integer part is the score, the fraction is the tie-break, larger for
an earlier `reached_at` (so it sorts higher in ZREVRANGE). The fraction is

    (2**32 - unix_seconds) / 2**32,    in (0.5, 1) for dates between 1970 and 2038,

truncated to the bits a double has left beside the score. A double has 53 significant
bits; a score below 2**21 leaves the 32 the fraction needs, so ties are ordered exactly to
the second. Each further bit of score halves the resolution: 2 s below 2**22, 2**19 s
(about six days) just below 2**40, and from 2**52 on only the user id breaks ties.
`reached_at_resolution_s` gives the figure for a score. Truncating (never rounding) keeps
the fraction strictly below 1, so `decode_score` (a floor) is exact for every score the
encoding accepts (0 <= score < 2**53), and "score > s" is "composite >= s + 1".

The memory adapter sorts by `sort_key`, which uses the same truncated tie-break, so both
adapters list every board in the same order, at every scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from fitboard.domain.boards import Standing

__all__ = [
    "MAX_SCORE",
    "competition_ranks",
    "decode_score",
    "encode_sort_score",
    "reached_at_resolution_s",
    "sort_key",
    "tie_break",
    "window_ranks",
]

# Above this the integer part itself would no longer be exact in a double.
MAX_SCORE = 2**53 - 1

_FRACTION_BITS = 32
_DOUBLE_BITS = 53
# A score of this many bits or fewer leaves all 32 fraction bits in a double.
_EXACT_SCORE_BITS = _DOUBLE_BITS - _FRACTION_BITS
# Seconds are clamped into [1, 2**32 - 1] so the fraction stays in (0, 1): a moment before
# 1970 or after 2106 ties with the bound, which no real workout reaches.
_LAST_SECOND = (1 << _FRACTION_BITS) - 1
# The tie-break of a moment is this minus its (clamped) seconds.
_FRACTIONS = 1 << _FRACTION_BITS


def _check_score(score: int) -> None:
    if not 0 <= score <= MAX_SCORE:
        raise ValueError(f"a board score must be an integer in [0, 2**53), got {score}")


def _unix_seconds(reached_at: datetime) -> int:
    if reached_at.tzinfo is None or reached_at.utcoffset() is None:
        raise ValueError("reached_at must be timezone-aware")
    return min(max(math.floor(reached_at.timestamp()), 1), _LAST_SECOND)


def _fraction_shift(score: int) -> int:
    """How many low bits of the 32-bit tie-break a double cannot hold beside `score`."""
    return max(0, score.bit_length() - _EXACT_SCORE_BITS)


def tie_break(score: int, reached_at: datetime) -> int:
    """The tie-break among equal scores as an integer, larger for an earlier `reached_at`,
    at the resolution a double leaves beside `score` (see `reached_at_resolution_s`)."""
    _check_score(score)
    return (_FRACTIONS - _unix_seconds(reached_at)) >> _fraction_shift(score)


def reached_at_resolution_s(score: int) -> int:
    """Seconds within which two equal scores' `reached_at` can no longer be told apart."""
    _check_score(score)
    return 1 << _fraction_shift(score)


def encode_sort_score(score: int, reached_at: datetime) -> float:
    """The composite double stored in Redis: `score` plus a tie-break fraction in [0, 1).

    `tie_break`'s value, with its checks and in their order, worked out inline: the worker
    encodes every distinct (score, moment) it projects, and the calls were most of the
    cost."""
    if not 0 <= score <= MAX_SCORE:
        _check_score(score)
    shift = score.bit_length() - _EXACT_SCORE_BITS
    zone = reached_at.tzinfo
    # UTC (what the record's moments come back in) is aware without asking.
    if zone is not UTC and (zone is None or reached_at.utcoffset() is None):
        raise ValueError("reached_at must be timezone-aware")
    # _unix_seconds, with comparisons for its min and max (calls of their own).
    seconds = math.floor(reached_at.timestamp())
    if seconds < 1:
        seconds = 1
    elif seconds > _LAST_SECOND:
        seconds = _LAST_SECOND
    if shift <= 0:
        # Every score below 2**21 (all of a real board's): the whole 32-bit tie-break fits.
        return math.ldexp((score << _FRACTION_BITS) + (_FRACTIONS - seconds), -_FRACTION_BITS)
    fraction_bits = _FRACTION_BITS - shift
    # score * 2**bits + tie < 2**53, so the integer converts to a double exactly and the
    # power-of-two scaling is exact too: no rounding can carry the fraction up to 1.
    return math.ldexp((score << fraction_bits) + ((_FRACTIONS - seconds) >> shift), -fraction_bits)


def decode_score(value: float) -> int:
    """The integer score of a composite value (exact for every value `encode_sort_score`
    produces)."""
    return math.floor(value)


def sort_key(standing: Standing) -> tuple[int, int, int]:
    """Board order as an ascending key: score desc, earlier `reached_at` first (at the
    Redis resolution), then user id desc as Redis lists exact ties."""
    return (
        -standing.score,
        -tie_break(standing.score, standing.reached_at),
        -standing.user_id.int,
    )


def window_ranks(scores: Sequence[int], offset: int, first_rank: int) -> list[int]:
    """Competition ranks of a run of entries in board order that starts at board position
    `offset` (0-based) with an entry of rank `first_rank`.

    Only the first entry needs outside knowledge: every later entry either ties with the one
    before it, or is the first of its score, and then exactly its position's worth of
    entries have a greater score."""
    ranks: list[int] = []
    for i, score in enumerate(scores):
        if i == 0:
            ranks.append(first_rank)
        elif score > scores[i - 1]:
            raise ValueError("scores must be in board order (non-increasing)")
        elif score == scores[i - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(offset + i + 1)
    return ranks


def competition_ranks(scores: Sequence[int]) -> list[int]:
    """Competition ranks (1, 2, 2, 4) of a whole board's scores, already in board order."""
    return window_ranks(scores, 0, 1)


def ranked(standings: Iterable[Standing]) -> list[tuple[int, Standing]]:
    """Standings in board order, each with its competition rank."""
    ordered = sorted(standings, key=sort_key)
    return list(zip(competition_ranks([s.score for s in ordered]), ordered, strict=True))

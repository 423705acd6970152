"""The production ranking index: one Redis sorted set per board instance.

Key layout (this module alone decides it), for the weekly calories board of 2026-W47
under the default namespace `fitboard` (another deployment's namespace takes its place,
so deployments sharing a Redis database stay apart). The part after the namespace is a
hash tag, so a Redis Cluster keeps all of a board's keys in one slot and one Lua script
may touch them together; the `2` after it is the layout's marker:

    fitboard:{board:calories:week:global:2026-W47}:2:z      sorted set: user id -> composite score
    fitboard:{board:calories:week:global:2026-W47}:2:v      hash: user id -> projection version,
                                                            only while the board is being loaded
    fitboard:{board:calories:week:global:2026-W47}:2:ready  once loaded from the record: "1",
                                                            or "0" while it has no member
    fitboard:{board:calories:week:global:2026-W47}:2:lock   redis-py Lock of the rebuild (its
                                                            holder's token), renewed while held

A user id is stored, in `:z` and `:v` alike, as its 16 raw bytes (`UUID.bytes`): its
string takes jemalloc's 32 B size class instead of the 48 B one of the 36-character text,
once in the sorted set (whose skiplist and dict share it) and once in the version hash:
226 -> 194 B per board entry, every key counted (`python -m bench --only boards`), and
120 B, a bare sorted set's, since a loaded board keeps no version hash (below). The
replies give them back as bytes, so the client must not decode responses (the
constructor refuses one that does). Layout 1, before the marker, named the same keys
without it (`...}:z`, `:v`, `:ready`, `:lock`) and held user ids as text: no key of it
is ever read as one of this layout (a board it held loaded is not loaded here), and
`remove_old_layout` deletes its keys (every whole rebuild, `fitboard rebuild` or the
admin API's, runs it first, and rebuilds in this layout the boards that layout held
loaded: `BoardMaintenance.rebuild`).

The composite score is `fitboard.domain.ranking.encode_sort_score`. Every write goes
through one Lua function (`_WRITE`). A loaded board is a sorted set and nothing more: each
athlete's writes reach it in the order of their commits (every writer holds the athlete's
board-write lock from its version bump until its board writes are done:
`UserRepository.lock_and_bump_version`), so the newest write is the last. A board that
is not loaded is written only while it is being loaded (its rebuild lock held: every load
takes it, drops what the board held, and only then reads the record): that load is filling
it from a read of the record that some writes are newer than, so there every write
compares and stores the member's version in `:v` (a removal's too, so an older load cannot
bring the member back), the load keeps what is newer than its read, and `:v` goes once the
load marks the board loaded. A board neither loaded nor being loaded takes no write at
all: no one reads it, so a worker's writes into the many boards nobody looks at cost a
key lookup each and no memory. `:ready` is set by `load`, after the board's members (and
turned to "1" or "0" by the write that adds a loaded board's first member or removes its
last): after a FLUSHALL, an eviction or a restart without persistence, a board is "not
loaded", and the next read rebuilds it; so is one whose `:z` alone was evicted (`:ready`
"1" without `:z`, `_IS_LOADED`: a `maxmemory` policy evicts key by key). An eviction
while a board is being loaded is not detected: of its version hash, a load could then
write a member older than a write made during it; of its sorted set, a load of several
`_LOAD` calls would mark the board loaded without the members of the calls before the
eviction; either until the board's next rebuild (`reconcile` finds it). A load never
writes into a board that is loaded and keeps no versions (someone loaded it meanwhile,
and its writes since may be newer than the load's read): a rebuild drops a board first.

Reads that need a rank run as one read-only Lua script each, so the rows and the count
above them come from the same moment, in one round trip; the board reads of the API
(`read_page`, `read_around`) check `:ready` in the same script.

On a Redis Cluster (`redis+cluster://`, adapters/redis_client.py) the same code runs
unchanged: every script and transaction touches one board's keys, which share a slot; a
pipeline of many boards is split by redis-py into one per node; SCANs (`loaded_keys`,
`held_keys`, `remove_athlete`, `remove_old_layout`) walk every primary; `ping` and
`stats` ask every primary. A primary that is down makes exactly the boards of its slots
unavailable (and, once the others have marked it failed, the whole cluster unless
`cluster-require-full-coverage no`); a primary that comes back empty is, for its boards,
a Redis restarted without persistence: they are rebuilt on their next read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from types import MappingProxyType
from typing import Any
from uuid import UUID

import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.lock import Lock
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from fitboard.adapters.redis_client import RETRIES, RedisClient, redis_client
from fitboard.adapters.stopping import ended, pause
from fitboard.application.boards.ports import (
    AthleteProjection,
    BoardPage,
    Neighbourhood,
    OldLayoutRemoved,
    Projected,
    RankingStats,
    Standings,
)
from fitboard.application.ids import new_hex
from fitboard.application.ports import RankingBusy, RankingUnavailable
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    RankedEntry,
    Scope,
    ScoreUpdate,
    VersionedStanding,
    parse_metric,
    parse_period,
)
from fitboard.domain.errors import InvalidField
from fitboard.domain.ranking import decode_score, encode_sort_score, window_ranks

__all__ = ["RedisRanking"]

logger = logging.getLogger(__name__)

# Boards written per pipeline when removing an athlete (and asked whether loaded, when
# listing the loaded boards): large enough to amortise round trips, small enough that one
# pipeline stays a few hundred kilobytes.
_REMOVE_CHUNK = 1000
# Members one `_LOAD` call writes: a board of more is loaded in several calls, so no one
# call holds the server long (a script blocks every other client while it runs).
_LOAD_MEMBERS = 1000
# Members sent in one pipeline of `_LOAD` calls (about 80 bytes of request each).
_LOAD_PIPELINE_MEMBERS = 20_000

# Server-side failures that pass with time (the server is loading, out of memory, or a
# replica mid-failover) are "unavailable, retry later" just like a lost connection.
_TRANSIENT: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
# A call of a non-raising pipeline that met a dead connection: a cluster pipeline returns
# it as that call's reply instead of retrying (a single Redis's client retries the whole
# pipeline itself).
_RESEND: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
# Renewing rebuild locks may fail for a while (`_reachable` makes these RankingUnavailable
# where several are renewed in one call); releasing one may also find it expired or taken.
_RENEW_FAILURES: tuple[type[Exception], ...] = (RankingUnavailable, *_TRANSIENT)
_RELEASE_FAILURES: tuple[type[Exception], ...] = (redis.exceptions.LockError, *_RENEW_FAILURES)

# Whether a board is loaded (KEYS z and ready of the caller's as `is_loaded(z, ready)`,
# which answers that and the marker it read): its `:ready` marker says so, "0" for a
# board loaded with no member, "1" for one whose members are in `:z`; a marker "1"
# without `:z` is a board whose sorted set Redis evicted (a `maxmemory` policy evicts key
# by key) and is not loaded: read as loaded it would show an empty board, or one of only
# the members written since. Every script that writes keeps the marker in step with `:z`
# (`write` below, `_LOAD`), so "1" without `:z` is never a board that is really empty.
_IS_LOADED = """
local function is_loaded(z, ready)
  local marker = redis.call('GET', ready)
  return marker == '0' or (marker == '1' and redis.call('EXISTS', z) == 1), marker
end
"""

# The write of every script that writes members: `write(member, version, score)` writes
# the composite score ('' removes) into the board (KEYS[1] to KEYS[4]: z, v, ready, lock);
# 1 if written, else 0. A loaded board (`:ready`) keeps no versions: its writers come in
# the order of their commits (each athlete's are, `UserRepository.lock_and_bump_version`),
# so each write is newer than the one before, and is written. A board that is not loaded
# is written only while a load of it is under way (its rebuild lock `:lock` is held: every
# load takes it, and reads the record only after): the load is filling it from a read of
# the record older than some writes, so there each write is `versioned`: it compares the
# member's version in `:v` first, is written only if it is newer, and stores its version
# there; the load compares too, and the board sheds `:v` when the load marks it loaded.
# A board neither loaded nor being loaded serves no reader and takes no write (`skipped`):
# what it holds is what an interrupted load left, and the next load drops it first. A
# loaded board that still holds a version hash (an earlier release's) is written
# versioned. `write_versioned()` is that write as projecting scripts call it.
# KEYS: z, v, ready, lock.  ARGV: member, version, composite score ('' removes), ttl s
# ('' keeps): z, v and ready expire after ttl once the member is written (never the lock,
# whose holder renews it).
_WRITE = (
    _IS_LOADED
    + """
-- The marker as this call last saw or set it, read by `is_loaded`.
local loaded, marker = is_loaded(KEYS[1], KEYS[3])
local versioned = not loaded or redis.call('EXISTS', KEYS[2]) == 1
local skipped = not loaded and redis.call('EXISTS', KEYS[4]) == 0
local function write(member, version, score)
  if skipped then
    return 0
  end
  if versioned then
    local stored = redis.call('HGET', KEYS[2], member)
    if stored and tonumber(stored) >= tonumber(version) then
      return 0
    end
  end
  if score == '' then
    redis.call('ZREM', KEYS[1], member)
    if loaded and redis.call('EXISTS', KEYS[1]) == 0 then
      -- Its last member gone (Redis deletes an empty sorted set): loaded and empty.
      redis.call('SET', KEYS[3], '0', 'KEEPTTL')
      marker = '0'
    end
  else
    redis.call('ZADD', KEYS[1], score, member)
    if marker == '0' then
      redis.call('SET', KEYS[3], '1', 'KEEPTTL')
      marker = '1'
    end
  end
  if versioned then
    redis.call('HSET', KEYS[2], member, version)
  end
  return 1
end
local function write_versioned()
  if write(ARGV[1], ARGV[2], ARGV[3]) == 0 then
    return 0
  end
  if ARGV[4] ~= '' then
    for i = 1, 3 do
      redis.call('EXPIRE', KEYS[i], ARGV[4])
    end
  end
  return 1
end
"""
)

# What a write of a load or a drop requires of the board's rebuild lock (KEYS[4]), as
# ARGV[3]: '' nothing; else that it holds exactly this token, the one its holder (the
# task of this process that took it) took it with: a holder that lost the lock (expired,
# taken again by another, of this process or another) then writes nothing, whatever its
# own view.
_LOCK_CONDITION = """
local function lock_allows()
  if ARGV[3] == '' then
    return true
  end
  return redis.call('GET', KEYS[4]) == ARGV[3]
end
"""

# The bytes of a user id as a member (`UUID.bytes`), and the Lua pattern of one write of
# a `_LOAD` or `_PROJECT_BOARD` call (`_write_record`): the member's bytes, any of which
# may be a space or a zero (`.` matches every byte), its version, a space, its score, and
# a space that ends the record, so the next one starts right after it.
_MEMBER_BYTES = 16
_RECORD_PATTERN = "'(" + "." * _MEMBER_BYTES + ")(%S+) (%S+) '"

# Part of a board's load, or all of it. KEYS: z, v, ready, lock.  ARGV: ttl s ('' keeps),
# mark ('1': mark the board loaded at the end), the lock condition (`_LOCK_CONDITION`),
# and the standings as one string: the records (`_RECORD_PATTERN`) of each one's member,
# version and composite score, one after the other. One argument instead of three per
# member: redis-py packing three per member was about half of what a load of small boards
# cost the client.
# Every standing has a score (a load adds, never removes: `%S+` of `_RECORD_PATTERN`
# matches no empty score). A member is written unless the board holds a newer version
# for it in `:v` (a writer's,
# kept while the board is being loaded: see `_WRITE`; only a write committed after the
# record's read can be newer), or this call wrote it already at a newer version.
# The load's own versions are not stored: no write older than the record's read can
# come after it (writers come in commit order), so only writers' versions need keeping.
# A board that is loaded and keeps no versions is left as it is (loaded meanwhile by
# someone else, its writes since may be newer than this load's read). A marking call
# then sets `:ready`, deletes `:v` (a loaded board keeps no versions) and gives z its
# expiry; otherwise the keys expire as that many projection writes would leave them.
# Returns how many members were written, or -1 (nothing written) when the lock condition
# fails: the whole call is atomic, so running it while the lock holds a token is running
# it under that holder's lock.
_LOAD = (
    _LOCK_CONDITION
    + _IS_LOADED
    + """
if not lock_allows() then
  return -1
end
local loaded = is_loaded(KEYS[1], KEYS[3])
local versions = redis.call('EXISTS', KEYS[2]) == 1
local written = 0
if versions or not loaded then
  local newest = {}
  for member, version, score in string.gmatch(ARGV[4], """
    + _RECORD_PATTERN
    + """) do
    local v = tonumber(version)
    local held = newest[member]
    if versions then
      local stored = redis.call('HGET', KEYS[2], member)
      if stored and (not held or tonumber(stored) > held) then
        held = tonumber(stored)
      end
    end
    if not held or v > held then
      redis.call('ZADD', KEYS[1], score, member)
      newest[member] = v
      written = written + 1
    end
  end
end
local ttl = ARGV[1]
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[2])
  local marker = '0'
  if redis.call('EXISTS', KEYS[1]) == 1 then
    marker = '1'
  end
  if ttl == '' then
    redis.call('SET', KEYS[3], marker)
  else
    redis.call('SET', KEYS[3], marker, 'EX', ttl)
    redis.call('EXPIRE', KEYS[1], ttl)
  end
elseif written > 0 and ttl ~= '' then
  for i = 1, 3 do
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
return written
"""
)

# `drop`: KEYS: z, v, ready, lock.  ARGV: '1' to keep a loaded board, '' (unused), the lock
# condition. Deletes the board's data keys and returns 1; 0 (nothing deleted) for a loaded
# board kept; -1 (nothing deleted) when the lock condition fails.
_DROP = (
    _LOCK_CONDITION
    + _IS_LOADED
    + """
if not lock_allows() then
  return -1
end
if ARGV[1] == '1' and is_loaded(KEYS[1], KEYS[3]) then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
"""
)

# KEYS and ARGV as _WRITE, ARGV[3] and ARGV[4] empty: removes the member at the version.
# From a loaded board, only if it holds them or, versioned, their version, so removing an
# athlete writes nothing into the loaded boards they were never on. Into a board being
# loaded, their version is written whether it holds them or not: its load may come from a
# read of the record older than the deletion, which ranks them, and must not write them
# (`_LOAD` compares versions). From a board neither loaded nor being loaded (`skipped`: an
# interrupted load's leftovers, which the next load drops) the member and its version are
# deleted outright: no load will compare against them, and a deleted account leaves
# nothing behind. 1 if the board held them (or their version), else 0.
_REMOVE = (
    _WRITE
    + """
if skipped then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
if not versioned then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
local held = redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or redis.call('ZSCORE', KEYS[1], ARGV[1])
if not held then
  if loaded then
    return 0
  end
  write_versioned()
  return 0
end
return write_versioned()
"""
)

# How many members have a strictly greater integer score than the composite `value`:
# a greater integer score s' >= s + 1 means a composite >= s + 1, and every composite of
# score s is below s + 1. '%.17g' prints an integer below 2**53 exactly.
_COUNT_ABOVE = """
local function count_above(key, value)
  local floor = math.floor(tonumber(value))
  return redis.call('ZCOUNT', key, string.format('%.17g', floor + 1), '+inf')
end
"""

# KEYS[1]: z.  ARGV: start, stop.  Returns {total, count above the first row, rows} (no
# rows when stop < start: ZREVRANGE 0 -1 would be the whole set).
_PAGE_OF_Z = """
local total = redis.call('ZCARD', KEYS[1])
local rows = {}
if tonumber(ARGV[2]) >= tonumber(ARGV[1]) then
  rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
end
local above = 0
if #rows > 0 then
  above = count_above(KEYS[1], rows[2])
end
return {total, above, rows}
"""

# The start of a script that reads only from a loaded board (KEYS[1]: its sorted set,
# KEYS[2]: its ready marker).
_ONLY_IF_LOADED = (
    _IS_LOADED
    + """
if not is_loaded(KEYS[1], KEYS[2]) then
  return false
end
"""
)

# KEYS: z, ready.  1 if the board is loaded, else 0.
_LOADED = (
    _IS_LOADED
    + """
if is_loaded(KEYS[1], KEYS[2]) then
  return 1
end
return 0
"""
)

# KEYS: z.  ARGV: start, stop.
_PAGE = _COUNT_ABOVE + _PAGE_OF_Z

# KEYS: z.  ARGV: member, radius.  Returns {start, count above the first row, rows}.
_AROUND = (
    _COUNT_ABOVE
    + """
local position = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not position then
  return {0, 0, {}}
end
local start = math.max(0, position - tonumber(ARGV[2]))
local rows = redis.call('ZREVRANGE', KEYS[1], start, position + tonumber(ARGV[2]), 'WITHSCORES')
return {start, count_above(KEYS[1], rows[2]), rows}
"""
)

# KEYS: z.  ARGV: member.  Returns {composite score, count above} or nil.
_STANDING = (
    _COUNT_ABOVE
    + """
local value = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not value then
  return false
end
return {value, count_above(KEYS[1], value)}
"""
)

# KEYS: z, ready.  ARGV: start, stop.  False when the board is not loaded, else as _PAGE.
_READ_PAGE = _COUNT_ABOVE + _ONLY_IF_LOADED + _PAGE_OF_Z

# KEYS: z, ready.  ARGV: member, radius.  Read only from a loaded board: false when it is
# not, else {total, start, count above the first row, rows} (no rows for a non-member).
_READ_AROUND = (
    _COUNT_ABOVE
    + _ONLY_IF_LOADED
    + """
local total = redis.call('ZCARD', KEYS[1])
local position = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not position then
  return {total, 0, 0, {}}
end
local start = math.max(0, position - tonumber(ARGV[2]))
local rows = redis.call('ZREVRANGE', KEYS[1], start, position + tonumber(ARGV[2]), 'WITHSCORES')
return {total, start, count_above(KEYS[1], rows[2]), rows}
"""
)

# What `_PROJECT_BOARD` takes for a score to remove the member: no composite score (a
# number, as `repr` prints it) is this text.
_REMOVED = "-"
# Writes one `_PROJECT_BOARD` call takes at most (a script blocks every other client while
# it runs); a batch's writes to one board are in one call unless there are more.
_PROJECT_MEMBERS = 1000

# KEYS: z, v, ready, lock.  ARGV: ttl s ('' keeps), how many entries behind each member to
# look at, '1' to reply only what moved (else ''), then the writes as one string: the
# records (`_RECORD_PATTERN`) of each one's member, version and composite score
# (`_REMOVED` instead of a score removes the member), as `_LOAD` takes its standings (one
# argument, not three per member: cheaper for the client to pack). Every write of one
# board in one call, in order, each as `write_versioned` writes it, with the member's
# standing just before and after it read in the same atomic step, so each write sees the
# ones before it, as calls one after another would. Nothing is read from a board that is
# not loaded (it holds only part of its members, so its ranks would be too good). The keys
# expire after ttl once any member is written, as that many single writes would leave them.
#
# The reply is one flat array of integers (and members), decoded by `_projected_records`:
# per write, a record `index` (the write's, from 1 in this call), before score, before
# rank, after score, after rank (a score of -1 and a rank of 0: not on the board, or the
# board not loaded), n, then n rows behind the member, each member (its 16 bytes), score,
# rank. Scores are integer scores (the floor of the composite) and ranks competition
# ranks, worked out here: a reply of small integers is far cheaper for the client to read
# than composite scores as text and counts to rank them by. With '1', a write has a record
# only if it moved the member (`Projected.moved`: on the board after it, with another
# score than before), and its rows are only those it passed (`passed_among`: the member's
# rank improved, the row was ahead before and is strictly behind now): the same rules as
# the application's, which `tests/contract/test_ranking_project_reply.py` holds both to.
_PROJECT_BOARD = (
    _WRITE
    + """
local function rank_of(s)
  return redis.call('ZCOUNT', KEYS[1], string.format('%.17g', s + 1), '+inf') + 1
end
local function score_of(member)
  local value = redis.call('ZSCORE', KEYS[1], member)
  if not value then
    return -1
  end
  return math.floor(tonumber(value))
end
local behind = tonumber(ARGV[2])
local only_moves = ARGV[3] == '1'
if skipped and only_moves then
  -- Nothing is written into a board that is neither loaded nor being loaded, and a
  -- board not loaded has no moves to tell: the writes need not even be parsed.
  return {}
end
local reply = {}
local written = 0
local index = 0
for member, version, score in string.gmatch(ARGV[4], """
    + _RECORD_PATTERN
    + """) do
  index = index + 1
  if score == '"""
    + _REMOVED
    + """' then
    score = ''
  end
  if not loaded then
    written = written + write(member, version, score)
    if not only_moves then
      for _, v in ipairs({index, -1, 0, -1, 0, 0}) do
        reply[#reply + 1] = v
      end
    end
  else
    local before = score_of(member)
    written = written + write(member, version, score)
    local after = score_of(member)
    local moved = after >= 0 and after ~= before
    if moved or not only_moves then
      -- Ranks only for a write with a record, both counted after the write: the
      -- member's new score is among those above their old one when it is higher.
      local before_rank, after_rank = 0, 0
      if before >= 0 then
        before_rank = rank_of(before)
        if after > before then
          before_rank = before_rank - 1
        end
      end
      if after >= 0 then
        after_rank = rank_of(after)
      end
      reply[#reply + 1] = index
      reply[#reply + 1] = before
      reply[#reply + 1] = before_rank
      reply[#reply + 1] = after
      reply[#reply + 1] = after_rank
      local count_at = #reply + 1
      reply[count_at] = 0
      local improved = before < 0 or after_rank < before_rank
      if after >= 0 and behind > 0 and (improved or not only_moves) then
        local start = redis.call('ZREVRANK', KEYS[1], member) + 1
        local rows = redis.call('ZREVRANGE', KEYS[1], start, start + behind - 1, 'WITHSCORES')
        local rank, last = 0, -1
        for i = 1, #rows, 2 do
          local s = math.floor(tonumber(rows[i + 1]))
          if s ~= last then
            -- The first row's rank is counted; a later one's is its position's unless
            -- it ties with the row before.
            if last < 0 then
              rank = rank_of(s)
            else
              rank = start + (i + 1) / 2
            end
            last = s
          end
          if not only_moves or (rank > after_rank and (before < 0 or s > before)) then
            reply[#reply + 1] = rows[i]
            reply[#reply + 1] = s
            reply[#reply + 1] = rank
            reply[count_at] = reply[count_at] + 1
          end
        end
      end
    end
  end
end
if written > 0 and ARGV[1] ~= '' then
  for i = 1, 3 do
    redis.call('EXPIRE', KEYS[i], ARGV[1])
  end
end
return reply
"""
)


@dataclass(frozen=True)
class _Keys:
    z: str
    versions: str
    ready: str
    lock: str

    @property
    def written(self) -> list[str]:
        """The keys `_WRITE` takes, in its order (the first three expire together)."""
        return [self.z, self.versions, self.ready, self.lock]


def _hash_tag(key: BoardKey) -> str:
    """`board:<metric>:<period>:<scope>:<period key>`, read back by `_parse_ready_key`."""
    board = key.board
    return f"board:{board.metric.value}:{board.period.value}:{board.scope}:{key.period_key}"


# The marker of this module's key layout, after a board's hash tag: members are user ids'
# 16 raw bytes. The layout before it (1) had no marker and held them as text.
_LAYOUT = "2"
# The suffixes of a board's keys in each layout, after its hash tag.
_Z, _VERSIONS, _READY, _LOCK = (f":{_LAYOUT}:{kind}" for kind in ("z", "v", "ready", "lock"))
# Layout 1's keys that `remove_old_layout` deletes: its sorted sets, version hashes and
# ready markers. Its `:lock` is left: a redis-py lock always expires by itself, and one
# still held is an old process's rebuild under way.
_OLD_DATA = (":z", ":v", ":ready")
_OLD_READY = ":ready"


def _base(key: BoardKey, namespace: str) -> str:
    """`<namespace>:{<hash tag>}`, which each of the board's keys continues."""
    return f"{namespace}:{{{_hash_tag(key)}}}"


def _keys(key: BoardKey, namespace: str = "fitboard") -> _Keys:
    base = _base(key, namespace)
    return _Keys(z=base + _Z, versions=base + _VERSIONS, ready=base + _READY, lock=base + _LOCK)


def _parse_key(name: str, namespace: str, suffix: str) -> BoardKey | None:
    """The board whose key `name` is, its hash tag followed by `suffix`; None for a key
    this adapter did not write so.

    `<metric>:<period>:<scope>:<period key>`: metric and period are single words and the
    period key has no colon, so whatever lies between is the scope, which may itself hold
    one (`activity:run`, `group:<uuid>`)."""
    head, tail = f"{namespace}:{{board:", "}" + suffix
    if not (name.startswith(head) and name.endswith(tail)):
        return None
    parts = name[len(head) : -len(tail)].split(":")
    if len(parts) < 4:
        return None
    try:
        board = BoardId(
            parse_metric(parts[0]), parse_period(parts[1]), Scope.parse(":".join(parts[2:-1]))
        )
    except InvalidField:
        return None
    key = BoardKey(board, parts[-1])
    # Only an exact round trip counts: an upper-case group id, say, is not a key we wrote.
    return key if _base(key, namespace) + suffix == name else None


def _parse_key_of_any(name: str, namespace: str, suffixes: Sequence[str]) -> BoardKey | None:
    """The board whose key `name` is, followed by any of `suffixes` (`_parse_key`)."""
    for suffix in suffixes:
        key = _parse_key(name, namespace, suffix)
        if key is not None:
            return key
    return None


def _parse_ready_key(name: str, namespace: str = "fitboard") -> BoardKey | None:
    """The board of a `:ready` key of this layout, or None for a key this adapter did not
    write (one of layout 1 included)."""
    return _parse_key(name, namespace, _READY)


def _old_layout_key(name: str, namespace: str) -> tuple[BoardKey, str] | None:
    """The board and suffix (one of `_OLD_DATA`) of a key of layout 1 that
    `remove_old_layout` deletes; None for any other key."""
    for suffix in _OLD_DATA:
        key = _parse_key(name, namespace, suffix)
        if key is not None:
            return key, suffix
    return None


def _text(value: bytes) -> str:
    """A key name as SCAN gives it: bytes (the client does not decode responses)."""
    return value.decode()


def _user(member: bytes) -> UUID:
    """The user id that `member` (its `UUID.bytes`) stores."""
    return UUID(bytes=member)


def _rows(flat: Sequence[Any]) -> list[tuple[UUID, int]]:
    """ZREVRANGE ... WITHSCORES as returned from Lua: member, score, member, score, ..."""
    return [(_user(flat[i]), decode_score(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


def _ranked(rows: list[tuple[UUID, int]], offset: int, above_first: int) -> list[RankedEntry]:
    if not rows:
        return []
    ranks = window_ranks([score for _, score in rows], offset, above_first + 1)
    return [
        RankedEntry(rank, user_id, score)
        for rank, (user_id, score) in zip(ranks, rows, strict=True)
    ]


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except _TRANSIENT as exc:
        raise RankingUnavailable(f"redis: {exc}") from exc


def _check_window(*, offset: int = 0, limit: int = 0, radius: int = 0) -> None:
    # Redis reads negative indices from the end of the set: never pass one through.
    if offset < 0 or limit < 0 or radius < 0:
        raise ValueError("offset, limit and radius must not be negative")


class RedisRanking:
    """`RankingIndex` over Redis sorted sets. The adapter owns `client`: `close` closes it.

    `retention_s_for(key)` gives the seconds a board instance should live after each write
    (None: forever, for all-time boards); it is applied with EXPIRE to all the board's keys
    on every write, so a period board disappears a retention window after its last write
    and is rebuilt from the record if anyone reads it again.

    A reader waits up to `lock_wait_s` for another's rebuild, then gets RankingUnavailable;
    a rebuild lock left by a crashed process frees itself after `lock_timeout_s`, while a
    live holder renews it every third of that, however long its rebuild takes.

    `client` must not decode responses: members are raw bytes (ValueError otherwise).
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        retention_s_for: Callable[[BoardKey], int | None] | None = None,
        lock_timeout_s: float = 60.0,
        lock_wait_s: float = 15.0,
        namespace: str = "fitboard",
    ) -> None:
        if client.get_encoder().decode_responses:
            # Members are user ids' raw bytes, which are not text: a decoding client would
            # fail on them (or, worse, on some of them only).
            raise ValueError("RedisRanking needs a client that does not decode responses")
        self._client = client
        self._namespace = namespace
        self._scan_ready = f"{namespace}:{{board:*}}{_READY}"
        self._retention_s_for = retention_s_for
        if lock_timeout_s <= 0:
            # redis-py reads 0 as "never expires", which a crashed holder would never free.
            raise ValueError("lock_timeout_s must be positive")
        self._lock_timeout_s = lock_timeout_s
        self._lock_wait_s = lock_wait_s
        self._load = client.register_script(_LOAD)
        self._reacquire_lock = client.register_script(Lock.LUA_REACQUIRE_SCRIPT)
        self._release_lock = client.register_script(Lock.LUA_RELEASE_SCRIPT)
        self._drop = client.register_script(_DROP)
        self._loaded = client.register_script(_LOADED)
        # The token of each board's rebuild lock this adapter holds, as the task that took
        # it (and the tasks it starts while holding it) sees it, never changed in place: a
        # holder whose lock expired and was taken again by another task of this process
        # must not write under that one's token (its read of the record is older than that
        # lock, and a write committed in between went into no board).
        self._held: ContextVar[Mapping[BoardKey, str]] = ContextVar(
            "rebuild_locks", default=MappingProxyType({})
        )
        self._page = client.register_script(_PAGE)
        self._around = client.register_script(_AROUND)
        self._standing = client.register_script(_STANDING)
        self._project_board = client.register_script(_PROJECT_BOARD)
        self._remove = client.register_script(_REMOVE)
        self._read_page = client.register_script(_READ_PAGE)
        self._read_around = client.register_script(_READ_AROUND)
        # A board's sorted set, version hash and rebuild lock (`:z`, `:v`, `:lock`):
        # whichever it holds (a board being loaded may hold only its lock).
        self._scan_members = f"{namespace}:{{board:*}}:{_LAYOUT}:[zvl]*"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        retention_s_for: Callable[[BoardKey], int | None] | None = None,
        socket_timeout_s: float = 5.0,
        namespace: str = "fitboard",
    ) -> RedisRanking:
        """A client for `url` (redis://host:port/db, or redis+cluster://host:port,... for a
        Redis Cluster) with bounded socket timeouts, so a hung server surfaces as
        RankingUnavailable instead of a request that never ends."""
        client = redis_client(url, timeout_s=socket_timeout_s)
        return cls(client, retention_s_for=retention_s_for, namespace=namespace)

    def _board_keys(self, key: BoardKey) -> _Keys:
        return _keys(key, self._namespace)

    def _ttl_arg(self, key: BoardKey) -> str:
        seconds = self._retention_s_for(key) if self._retention_s_for is not None else None
        if seconds is None:
            return ""
        # EXPIRE with zero or less deletes at once: a board rebuilt for a read just past
        # its retention must survive long enough to be read.
        return str(max(1, seconds))

    async def project(
        self, user_id: UUID, version: int, updates: Sequence[ScoreUpdate], *, behind: int = 0
    ) -> list[Projected]:
        (projected,) = await self.project_many([(user_id, version, updates)], behind=behind)
        return projected

    async def project_many(
        self,
        projections: Sequence[AthleteProjection],
        *,
        behind: int = 0,
        only_moves: bool = False,
    ) -> list[list[Projected]]:
        """One `_PROJECT_BOARD` call per board for all its writes, in the order they come
        (up to `_PROJECT_MEMBERS` a call), every call in one round trip: a board's writes
        one after another are what separate writes in order would be, and writes to
        different boards do not see each other."""
        _check_window(radius=behind)
        # Encode everything first: a bad update fails the call before anything is written.
        # Per board: its writes, and where each one's reply goes back ((projection,
        # update) indices), in the same order.
        writes: dict[BoardKey, tuple[list[bytes], list[tuple[int, int]]]] = {}
        # The same, by the key object's identity: the athletes of a batch name the same
        # key objects again and again (`updates_for` makes each once per process), and an
        # id is far cheaper to hash than a key; a key object not seen yet is looked up by
        # equality. `projections` holds every key, so no id is reused meanwhile.
        of_object: dict[int, tuple[list[bytes], list[tuple[int, int]]]] = {}
        # Each (score, reached_at) encoded once: an athlete's totals are often the same
        # on several boards (the periods that hold all their workouts so far, the global
        # scope and that of their one activity). A lookup is not free either (hashing an
        # aware datetime for the first time costs about 1 us, encoding about 2.5 us):
        # in py-spy of the drain at 1,000 athletes, encoding took 10.7% of a worker's
        # samples before, the lookup and the encoding left 6.3% + 1.6%.
        encoded: dict[tuple[int | None, datetime | None], bytes] = {}
        for at, (user_id, version, updates) in enumerate(projections):
            # The record's head, member and version (`_write_record`), once per athlete.
            head = _write_record(user_id, version, b"")
            for index, update in enumerate(updates):
                score = encoded.get((update.score, update.reached_at))
                if score is None:
                    score = f"{_score_arg(update) or _REMOVED} ".encode()
                    encoded[update.score, update.reached_at] = score
                board = of_object.get(id(update.key))
                if board is None:
                    board = of_object[id(update.key)] = writes.setdefault(update.key, ([], []))
                board[0].append(head + score)
                board[1].append((at, index))
        calls: list[tuple[Sequence[str], Sequence[Any]]] = []
        placed: list[list[tuple[int, int]]] = []
        mode = "1" if only_moves else ""
        for key, (rows, origins) in writes.items():
            keys, ttl = self._board_keys(key).written, self._ttl_arg(key)
            for start in range(0, len(rows), _PROJECT_MEMBERS):
                end = start + _PROJECT_MEMBERS
                calls.append((keys, [ttl, behind, mode, b"".join(rows[start:end])]))
                placed.append(origins[start:end])
        replies: list[Any] = []
        if calls:
            with _reachable():
                replies = await self._run_script(self._project_board, calls)
        # Each athlete's, by the index of its update.
        found: list[list[tuple[int, Projected]]] = [[] for _ in projections]
        ids: dict[Any, UUID] = {}
        for where, reply in zip(placed, replies, strict=True):
            for index, before, before_rank, after, after_rank, trailing in _projected_records(
                reply, ids
            ):
                at, update_index = where[index - 1]
                user_id, _, updates = projections[at]
                found[at].append(
                    (
                        update_index,
                        Projected(
                            updates[update_index].key,
                            RankedEntry(before_rank, user_id, before) if before >= 0 else None,
                            RankedEntry(after_rank, user_id, after) if after >= 0 else None,
                            trailing,
                        ),
                    )
                )
        # In the order of each athlete's updates; with `only_moves`, only those that moved.
        return [[p for _, p in sorted(each, key=itemgetter(0))] for each in found]

    async def _run_script(
        self, script: AsyncScript, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[Any]:
        """Runs `script` once per (keys, args) in one pipelined round trip; the replies in
        order. Not a transaction: the boards of one call lie in different cluster slots, and
        each script is atomic on its own board, which is what the version check needs.

        By its hash alone: redis-py's own pipeline asks SCRIPT EXISTS first, one more round
        trip on every call. A server that does not know the script (restarted, or SCRIPT
        FLUSH; on a cluster, a node that came back empty) refuses a call before running any
        of it, so exactly the refused calls are sent again once the script is loaded (on
        every primary of a cluster): nothing runs twice. A call a cluster pipeline answered
        with a connection error is sent again too, as the single-node client's retry does
        (the script may have run: its writes are absolute totals, and the callers' board-
        write locks keep any newer write of the same athletes from coming in between, so
        running it twice leaves what running it once does)."""
        replies = await self._evalsha_all(script.sha, calls)
        for _ in range(RETRIES):
            refused = [i for i, r in enumerate(replies) if isinstance(r, (NoScriptError, *_RESEND))]
            if not refused:
                break
            if any(isinstance(replies[i], NoScriptError) for i in refused):
                await self._client.script_load(script.script)
            again = await self._evalsha_all(script.sha, [calls[i] for i in refused])
            for i, reply in zip(refused, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _evalsha_all(
        self, sha: str, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                # The raw command: redis-py 8.1's cluster pipeline blocks its `evalsha`
                # method, though it routes EVALSHA by its keys like any keyed command
                # (lifted upstream: redis/redis-py#2914, #4206).
                pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))

    async def is_loaded(self, key: BoardKey) -> bool:
        keys = self._board_keys(key)
        with _reachable():
            return bool(await self._loaded(keys=[keys.z, keys.ready]))

    @asynccontextmanager
    async def rebuild_lock(self, key: BoardKey) -> AsyncIterator[None]:
        token = new_hex()
        lock = self._client.lock(
            self._board_keys(key).lock,
            timeout=self._lock_timeout_s,
            blocking_timeout=self._lock_wait_s,
            sleep=0.05,
            # One Lock object per use, held by one task (and renewed by one of its own):
            # thread-local tokens add nothing.
            thread_local=False,
        )
        with _reachable():
            acquired = await lock.acquire(token=token)
        if not acquired:
            raise RankingBusy(
                f"board {key} is being rebuilt elsewhere; gave up after {self._lock_wait_s} s"
            )

        async def renew() -> bool:
            try:
                await lock.reacquire()
            except redis.exceptions.LockNotOwnedError:
                return False
            return True

        async with self._holding([key], token, renew, lock.release, str(key)):
            yield

    @asynccontextmanager
    async def rebuild_locks(self, keys: Sequence[BoardKey]) -> AsyncIterator[list[BoardKey]]:
        """Each lock is what `rebuild_lock` takes (SET NX with the lock's timeout, as
        redis-py's `Lock` takes it), all under one token, in one pipeline; renewed and
        released with redis-py's own scripts, one call per lock, in one pipeline."""
        token = new_hex()
        timeout_ms = int(self._lock_timeout_s * 1000)
        with _reachable():
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(self._board_keys(key).lock, token, nx=True, px=timeout_ms)
                replies = list(await pipe.execute(raise_on_error=False))
        for reply in replies:
            if isinstance(reply, Exception):
                # Those taken expire after lock_timeout_s: no one renews them.
                with _reachable():
                    raise reply
        taken = [key for key, reply in zip(keys, replies, strict=True) if reply]
        names = [self._board_keys(key).lock for key in taken]

        async def renew() -> bool:
            calls = [([name], [token, timeout_ms]) for name in names]
            with _reachable():
                renewed = await self._run_script(self._reacquire_lock, calls)
            return all(int(done) == 1 for done in renewed)

        async def release() -> None:
            with _reachable():
                await self._run_script(self._release_lock, [([name], [token]) for name in names])

        async with self._holding(taken, token, renew, release, f"{len(taken)} boards"):
            yield taken

    @asynccontextmanager
    async def _holding(
        self,
        keys: Sequence[BoardKey],
        token: str,
        renew: Callable[[], Awaitable[bool]],
        release: Callable[[], Awaitable[Any]],
        named: str,
    ) -> AsyncIterator[None]:
        """Hold the rebuild locks of `keys`, taken with `token`, while the block runs:
        renewed by `renew` (False once one is no longer this holder's), released by
        `release` at the end; `named` names them in logs and errors."""
        # From here on this task's loads and drops of the boards write only while their
        # lock still holds this token (`_LOCK_CONDITION`), checked in the same atomic step.
        self._held.set({**self._held.get(), **dict.fromkeys(keys, token)})
        lost, stopping = asyncio.Event(), asyncio.Event()
        renewing = asyncio.create_task(self._keep(renew, named, lost, stopping))
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            # Told to stop, and cancelled so that a renewal under way stops at once: the
            # cancellation alone may be lost (see `_keep`).
            stopping.set()
            renewing.cancel()
            cancelled = await ended(renewing)
            if not renewing.cancelled():
                renewing.result()  # a failure of the renewal's own is raised
            # Forgotten before the release (in this task's view only: another task's, which
            # may hold a lock again once it is released, is its own).
            mine = set(keys)
            held = self._held.get()
            self._held.set({k: v for k, v in held.items() if not (k in mine and v == token)})
            try:
                await release()
            except _RELEASE_FAILURES as exc:
                # The rebuild itself is done (or failed with its own error, which must not
                # be masked); a lock we cannot release expires after lock_timeout_s.
                logger.warning("rebuild lock of %s not released: %s", named, exc)
            if cancelled:
                # This task's own cancellation, come while the renewal ended: raised now
                # that the locks are released.
                raise asyncio.CancelledError
            if lost.is_set() and not failed:
                # Someone else may be rebuilding a board: this rebuild must not pass for
                # the one that made it (its writes after the loss were refused).
                raise RankingBusy(f"rebuild lock of {named} lost while rebuilding")

    async def _keep(
        self,
        renew: Callable[[], Awaitable[bool]],
        named: str,
        lost: asyncio.Event,
        stopping: asyncio.Event,
    ) -> None:
        """`renew` rebuild locks (back to their full timeout) three times a timeout while
        they are held, so a rebuild longer than `lock_timeout_s` keeps them; two renewals
        in a row may fail (the server out of reach) before they expire. Stops once
        `stopping` is set, and, setting `lost`, once a lock is no longer this holder's.

        Cancelling it is not enough to stop it: redis-py writes each command through
        `asyncio.wait_for` (the client has a socket timeout), and Python 3.11's loses a
        cancellation that comes once the write is done but before the call resumed
        (CPython gh-86296, adapters/stopping.py), so the renewal would go on, for ever,
        and so would the wait of whoever left the lock's block
        (tests/integration/test_rebuild_lock.py)."""
        every = self._lock_timeout_s / 3
        while True:
            if await pause(every, stopping):
                return
            try:
                still_held = await renew()
            except _RENEW_FAILURES as exc:
                logger.warning("rebuild lock of %s not renewed, retrying: %s", named, exc)
                continue
            if not still_held:
                lost.set()
                logger.error("rebuild lock of %s lost: expired or taken by another", named)
                return

    def _lock_condition(self, key: BoardKey) -> str:
        """The `_LOCK_CONDITION` of this task's writes that replace a board: the token of
        the rebuild lock it took (or the task that started it took) while it holds it, else
        none."""
        return self._held.get().get(key, "")

    async def load(self, key: BoardKey, standings: Standings) -> None:
        if isinstance(standings, Sequence):
            await self._load_stream(key, _encoded_chunks(standings))
        else:
            await self._load_stream(key, _encoded_stream(standings))

    async def _load_stream(self, key: BoardKey, chunks: AsyncIterator[list[bytes]]) -> None:
        """`load` of standings encoded by `_load_rows`, in chunks of up to `_LOAD_MEMBERS`:
        one `_LOAD` call per chunk. A board of one chunk is written and marked loaded in
        one atomic step; a bigger board's other chunks first, pipelined, and the call that
        marks it loaded only once they are all written, so no reader sees it loaded and
        partial: the last chunk is held back until the stream ends, and sent alone, after
        the reply to every other.

        At most two pipelines' worth of chunks are held: one in flight while the next is
        encoded (the client's encoding overlaps Redis's writing), so memory stays bounded
        however big the board."""
        condition = self._lock_condition(key)
        per_pipeline = max(1, _LOAD_PIPELINE_MEMBERS // _LOAD_MEMBERS)
        waiting: list[list[bytes]] = []
        sending: asyncio.Task[None] | None = None
        try:
            async for chunk in chunks:
                waiting.append(chunk)
                if len(waiting) <= per_pipeline:
                    continue
                batch, waiting = waiting[:-1], waiting[-1:]
                if sending is not None:
                    await sending
                sending = asyncio.create_task(self._send_load(key, batch, condition, mark=False))
            if sending is not None:
                await sending
                sending = None
            last = waiting.pop() if waiting else []
            if waiting:
                await self._send_load(key, waiting, condition, mark=False)
            await self._send_load(key, [last], condition, mark=True)
        finally:
            if sending is not None:
                # The stream failed (a bad standing, say) with a pipeline in flight, or that
                # pipeline failed: stopped, and its outcome read, so asyncio does not report
                # an error never retrieved; the error raised is the one that stopped the load.
                sending.cancel()
                await asyncio.wait([sending])
                if not sending.cancelled():
                    sending.exception()

    async def _send_load(
        self, key: BoardKey, chunks: list[list[bytes]], condition: str, *, mark: bool
    ) -> None:
        """One pipeline of `_LOAD` calls writing `chunks` into `key`, the lock condition
        checked by each; RankingUnavailable when it fails (the lock lost)."""
        calls = [self._load_call(key, c, condition, mark=mark) for c in chunks]
        await self._send_loads([key] * len(calls), calls)

    def _load_call(
        self, key: BoardKey, rows: list[bytes], condition: str, *, mark: bool
    ) -> tuple[list[str], list[str | bytes]]:
        """The keys and arguments of one `_LOAD` call writing `rows` into `key` if the
        board's rebuild lock meets `condition` (`_LOCK_CONDITION`)."""
        keys = self._board_keys(key)
        flags = [self._ttl_arg(key), "1" if mark else "", condition]
        return [keys.z, keys.versions, keys.ready, keys.lock], [*flags, b"".join(rows)]

    async def drop(self, key: BoardKey) -> None:
        await self.drop_many([key])

    async def drop_many(self, keys: Sequence[BoardKey], *, keep_loaded: bool = False) -> int:
        keep = "1" if keep_loaded else ""
        calls: list[tuple[Sequence[str], Sequence[Any]]] = []
        for key in keys:
            board = self._board_keys(key)
            calls.append(
                (
                    [board.z, board.versions, board.ready, board.lock],
                    [keep, "", self._lock_condition(key)],
                )
            )
        with _reachable():
            done = [int(n) for n in await self._run_script(self._drop, calls)]
        refused = [key for key, n in zip(keys, done, strict=True) if n < 0]
        if refused:
            raise RankingBusy(f"rebuild lock of {refused[0]} lost: drop refused")
        return sum(done)

    async def load_many(
        self, loads: Sequence[tuple[BoardKey, Sequence[VersionedStanding]]]
    ) -> None:
        """Boards of up to `_LOAD_MEMBERS` standings each as one `_LOAD` call that writes
        and marks them (as `load` does a board of one chunk), up to `_LOAD_PIPELINE_MEMBERS`
        members' worth a pipeline; bigger ones by `load`'s own chunks, one after another."""
        # Encoded first: a bad standing fails the call before anything is written.
        encoded = [(key, _load_rows(standings)) for key, standings in loads]
        boards: list[BoardKey] = []
        calls: list[tuple[list[str], list[str | bytes]]] = []
        members = 0
        for key, rows in encoded:
            if len(rows) > _LOAD_MEMBERS:
                await self._load_stream(key, _chunks_of(rows))
                continue
            boards.append(key)
            calls.append(self._load_call(key, rows, self._lock_condition(key), mark=True))
            members += len(rows)
            if members >= _LOAD_PIPELINE_MEMBERS:
                await self._send_loads(boards, calls)
                boards, calls, members = [], [], 0
        if calls:
            await self._send_loads(boards, calls)

    async def _send_loads(
        self, boards: Sequence[BoardKey], calls: Sequence[tuple[list[str], list[str | bytes]]]
    ) -> None:
        """The `_LOAD` calls writing into `boards` (one each, in order) in one pipeline;
        RankingUnavailable when one is refused (its lock lost)."""
        with _reachable():
            written = await self._run_script(self._load, calls)
        for key, n in zip(boards, written, strict=True):
            if int(n) < 0:
                raise RankingBusy(f"rebuild lock of {key} lost: load refused")

    async def remove_athlete(self, user_id: UUID, version: int) -> int:
        member = user_id.bytes
        removed = 0
        # Two passes: SCAN returns every key that exists from its start to its end, but
        # maybe not one created or deleted meanwhile. A load that read the record before
        # the deletion holds its board's lock from before the first pass: if it is still
        # held at that pass's end, that pass finds the board; if the load ended during the
        # first pass, the board it loaded (its sorted set) exists through the second.
        for _ in range(2):
            # The second pass finds the athlete on none of the boards the first removed
            # them from (or wrote their version into): each is counted once.
            removed += await self._remove_from_every_board(member, version)
        return removed

    async def _remove_from_every_board(self, member: bytes, version: int) -> int:
        """One pass of `remove_athlete`: `_REMOVE` on every board that holds members,
        versions or its rebuild lock; how many held the athlete."""
        removed = 0
        with _reachable():
            # SCAN walks them in chunks without blocking the server, however many there
            # are. A board with several of those keys is met more than once, and written
            # to once (`seen`).
            seen: set[str] = set()
            batch: list[tuple[Sequence[str], Sequence[Any]]] = []
            async for name in self._client.scan_iter(match=self._scan_members, count=1000):
                # None for a key that is no board's sorted set, version hash or rebuild
                # lock (a scan pattern's `*` matches more than a hash tag).
                key = _parse_key_of_any(_text(name), self._namespace, (_Z, _VERSIONS, _LOCK))
                if key is None:
                    continue
                keys = self._board_keys(key).written
                if keys[0] not in seen:
                    seen.add(keys[0])
                    # The board's retention, as a projection's write gives it: a removal
                    # written into a board being loaded (its version kept in `:v`) then
                    # expires with the rest should the load never finish.
                    batch.append((keys, [member, version, "", self._ttl_arg(key)]))
                if len(batch) >= _REMOVE_CHUNK:
                    removed += sum(await self._run_script(self._remove, batch))
                    batch = []
            if batch:
                removed += sum(await self._run_script(self._remove, batch))
        return removed

    async def page(self, key: BoardKey, offset: int, limit: int) -> BoardPage:
        _check_window(offset=offset, limit=limit)
        z = self._board_keys(key).z
        with _reachable():
            total, above, flat = await self._page(keys=[z], args=[offset, offset + limit - 1])
        return BoardPage(_ranked(_rows(flat), offset, int(above)), int(total))

    async def standing(self, key: BoardKey, user_id: UUID) -> RankedEntry | None:
        with _reachable():
            found = await self._standing(keys=[self._board_keys(key).z], args=[user_id.bytes])
        return _standing_entry(user_id, found)

    async def around(self, key: BoardKey, user_id: UUID, radius: int) -> list[RankedEntry]:
        _check_window(radius=radius)
        with _reachable():
            start, above, flat = await self._around(
                keys=[self._board_keys(key).z], args=[user_id.bytes, radius]
            )
        return _ranked(_rows(flat), int(start), int(above))

    async def scores(self, key: BoardKey) -> dict[UUID, int]:
        found: dict[UUID, int] = {}
        with _reachable():
            # ZSCAN instead of one ZRANGE: a big board streams in chunks without blocking
            # the server; a member seen twice while the set changes just overwrites itself.
            async for member, value in self._client.zscan_iter(self._board_keys(key).z, count=1000):
                found[_user(member)] = decode_score(float(value))
        return found

    async def loaded_keys(self) -> list[BoardKey]:
        marked: set[BoardKey] = set()
        with _reachable():
            async for name in self._client.scan_iter(match=self._scan_ready, count=1000):
                key = _parse_ready_key(_text(name), self._namespace)
                if key is not None:
                    marked.add(key)
            # Not those whose sorted set was evicted (`_IS_LOADED`), a chunk of boards a
            # round trip.
            candidates = sorted(marked)
            loaded: list[BoardKey] = []
            for start in range(0, len(candidates), _REMOVE_CHUNK):
                chunk = candidates[start : start + _REMOVE_CHUNK]
                calls: list[tuple[Sequence[str], Sequence[Any]]] = [
                    ([keys.z, keys.ready], []) for keys in (self._board_keys(key) for key in chunk)
                ]
                answers = await self._run_script(self._loaded, calls)
                loaded.extend(key for key, yes in zip(chunk, answers, strict=True) if int(yes))
        return loaded

    async def stats(self, largest: int) -> RankingStats:
        keys = await self.loaded_keys()
        with _reachable():
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zcard(self._board_keys(key).z)
                sizes = [int(n) for n in await pipe.execute()] if keys else []
            memory = await self._info_of_every_node("memory")
            evictions = await self._info_of_every_node("stats")
        ranked = sorted(zip(keys, sizes, strict=True), key=lambda p: (-p[1], p[0].name))
        limits = [int(node.get("maxmemory", 0)) for node in memory]
        return RankingStats(
            boards=len(keys),
            largest=ranked[:largest],
            memory_bytes=sum(int(node["used_memory"]) for node in memory),
            # 0 is "no limit" to Redis: a cluster is limited only if every node is.
            memory_limit_bytes=sum(limits) if all(limits) else None,
            evicted_keys=sum(int(node.get("evicted_keys", 0)) for node in evictions),
        )

    async def _info_of_every_node(self, section: str) -> list[dict[str, Any]]:
        """INFO `section` of the one server, or of every primary of a cluster (whose
        client would otherwise ask one node)."""
        client = self._client
        if isinstance(client, RedisCluster):
            # One call per primary: asked of several nodes at once, redis-py answers a dict
            # by node, but asked of one (a one-node cluster) the bare INFO.
            await client.initialize()
            primaries = client.get_primaries()
            return list(
                await asyncio.gather(*(client.info(section, target_nodes=n) for n in primaries))
            )
        return [await client.info(section)]

    async def ping(self) -> None:
        with _reachable():
            if isinstance(self._client, RedisCluster):
                # Every primary: a cluster with one down cannot serve that node's boards,
                # and its client would otherwise ask one node.
                await self._client.ping(target_nodes=RedisCluster.PRIMARIES)
            else:
                await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

    async def held_keys(self) -> list[BoardKey]:
        # A board holds a sorted set once a member is on it, a version hash once anything
        # was written into it while it was being loaded (a removal leaves one), and a
        # `:ready` marker once loaded (an empty board has only that): one SCAN finds all.
        found: set[BoardKey] = set()
        with _reachable():
            async for name in self._client.scan_iter(
                match=f"{self._namespace}:{{board:*}}:{_LAYOUT}:[zvr]*", count=1000
            ):
                key = _parse_key_of_any(_text(name), self._namespace, (_Z, _VERSIONS, _READY))
                if key is not None:
                    found.add(key)
        return sorted(found)

    async def remove_old_layout(
        self, progress: Callable[[int], None] | None = None
    ) -> OldLayoutRemoved:
        """Delete the board keys of layout 1 (user ids as text, see the module's
        docstring) in this namespace: its sorted sets, version hashes and ready markers,
        a chunk at a time as SCAN finds them, calling `progress` with the keys deleted so
        far, 0 before the scan and then after each chunk. Keys of this layout, and
        anything else, are left alone.

        Once no process of the old layout runs, nothing writes those keys again: one run
        removes them all. Boards of all-time periods have no expiry, so without it their
        keys would stay forever."""
        loaded: set[BoardKey] = set()
        removed = 0
        batch: list[str] = []
        # `}:` and one of the old suffixes' first letters: a key of this layout has its
        # marker there instead. The exact suffix is checked on each key found.
        match = f"{self._namespace}:{{board:*}}:[zvr]*"
        if progress is not None:
            progress(0)
        with _reachable():
            async for name in self._client.scan_iter(match=match, count=1000):
                text = _text(name)
                found = _old_layout_key(text, self._namespace)
                if found is None:
                    continue
                key, suffix = found
                if suffix == _OLD_READY:
                    loaded.add(key)
                batch.append(text)
                if len(batch) >= _REMOVE_CHUNK:
                    removed += await self._unlink(batch)
                    batch = []
                    if progress is not None:
                        progress(removed)
            if batch:
                removed += await self._unlink(batch)
        if progress is not None:
            progress(removed)
        return OldLayoutRemoved(removed, sorted(loaded))

    async def _unlink(self, names: Sequence[str]) -> int:
        """UNLINK each key (one per command: on a cluster they lie in many slots), in one
        pipeline; how many existed."""
        async with self._client.pipeline(transaction=False) as pipe:
            for name in names:
                # The raw command: a cluster pipeline's `unlink` method is a coroutine of
                # its own (redis-py 8.1), unlike every other command's.
                pipe.execute_command("UNLINK", name)
            return sum(int(n) for n in await pipe.execute())

    async def scores_many(
        self, keys: Sequence[BoardKey], *, reply_members: int = 10_000
    ) -> list[dict[UUID, int]]:
        # The first `reply_members` members of every board in one pipelined round trip:
        # not a transaction, so on a cluster the pipeline sends each board to the node of
        # its slot. A board that fills its reply may hold more: it is read again by
        # `scores` (ZSCAN in chunks), so no one reply grows large or blocks the server long.
        # WITHSCORES as a raw argument: redis-py then leaves the reply as the protocol gives
        # it (RESP3: [member, score] pairs; RESP2: member, score, ...) instead of turning
        # each RESP3 score into text and back.
        replies: list[Any] = []
        with _reachable():
            if keys:
                async with self._client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        z = self._board_keys(key).z
                        pipe.execute_command("ZRANGE", z, 0, reply_members - 1, "WITHSCORES")
                    replies = list(await pipe.execute())
        found: list[dict[UUID, int]] = []
        # An athlete is on many of the boards read together (every metric's of an
        # instance): each member's id is parsed once.
        users: dict[Any, UUID] = {}
        for key, reply in zip(keys, replies, strict=True):
            flat = not (reply and isinstance(reply[0], list))
            members: dict[UUID, int] = {}
            for member, value in zip(reply[::2], reply[1::2], strict=True) if flat else reply:
                user = users.get(member)
                if user is None:
                    user = users[member] = _user(member)
                members[user] = decode_score(float(value))
            found.append(members if len(members) < reply_members else await self.scores(key))
        return found

    async def read_page(self, key: BoardKey, offset: int, limit: int) -> BoardPage | None:
        _check_window(offset=offset, limit=limit)
        keys = self._board_keys(key)
        with _reachable():
            found = await self._read_page(
                keys=[keys.z, keys.ready], args=[offset, offset + limit - 1]
            )
        if found is None:
            return None
        total, above, flat = found
        return BoardPage(_ranked(_rows(flat), offset, int(above)), int(total))

    async def read_around(self, key: BoardKey, user_id: UUID, radius: int) -> Neighbourhood | None:
        _check_window(radius=radius)
        keys = self._board_keys(key)
        with _reachable():
            found = await self._read_around(keys=[keys.z, keys.ready], args=[user_id.bytes, radius])
        if found is None:
            return None
        total, start, above, flat = found
        return Neighbourhood(_ranked(_rows(flat), int(start), int(above)), int(total))


def _projected_records(
    reply: Sequence[Any], ids: dict[Any, UUID]
) -> Iterator[tuple[int, int, int, int, int, list[RankedEntry]]]:
    """The records of one `_PROJECT_BOARD` reply: the write's index (from 1), the member's
    score and rank before, after (a score of -1: not on the board), and the rows behind.
    `ids` remembers each member's UUID across the replies given the same dict: the replies
    of one projection name the same few athletes on board after board, and parsing a UUID
    is most of what reading a row costs."""
    at, end = 0, len(reply)
    while at < end:
        index, before, before_rank, after, after_rank, count = reply[at : at + 6]
        at += 6
        rows: list[RankedEntry] = []
        for row in range(at, at + 3 * count, 3):
            member, score, rank = reply[row : row + 3]
            user_id = ids.get(member)
            if user_id is None:
                user_id = ids[member] = _user(member)
            rows.append(RankedEntry(rank, user_id, score))
        at += 3 * count
        yield index, before, before_rank, after, after_rank, rows


async def _encoded_chunks(standings: Sequence[VersionedStanding]) -> AsyncIterator[list[bytes]]:
    """`standings` encoded by `_load_rows`, `_LOAD_MEMBERS` at a time, each chunk only
    when asked for; the event loop gets a turn after each, so a pipeline in flight is
    sent while the next chunk is encoded."""
    for start in range(0, len(standings), _LOAD_MEMBERS):
        yield _load_rows(standings[start : start + _LOAD_MEMBERS])
        await asyncio.sleep(0)


async def _chunks_of(rows: list[bytes]) -> AsyncIterator[list[bytes]]:
    """Rows encoded already, `_LOAD_MEMBERS` at a time, as `_encoded_chunks` gives them."""
    for start in range(0, len(rows), _LOAD_MEMBERS):
        yield rows[start : start + _LOAD_MEMBERS]


async def _encoded_stream(
    chunks: AsyncIterable[Sequence[VersionedStanding]],
) -> AsyncIterator[list[bytes]]:
    """A stream of chunks of any size as `_encoded_chunks` gives a sequence's: full
    chunks of `_LOAD_MEMBERS` (but the last), however small the stream's, so a stream
    costs the calls and round trips a sequence does."""
    rows: list[bytes] = []
    async for chunk in chunks:
        async for encoded in _encoded_chunks(chunk):
            rows += encoded
            while len(rows) >= _LOAD_MEMBERS:
                yield rows[:_LOAD_MEMBERS]
                rows = rows[_LOAD_MEMBERS:]
    if rows:
        yield rows


def _write_record(user_id: UUID, version: int, score: bytes) -> bytes:
    """One write as `_RECORD_PATTERN` reads it: the member (the id's 16 bytes), then
    `<version> ` and `score`, which brings its own trailing space (b"": the record's head,
    for scores to follow)."""
    return user_id.bytes + b"%d " % version + score


def _load_rows(standings: Sequence[VersionedStanding]) -> list[bytes]:
    """Each standing's record (`_write_record`) of its composite score, as `_LOAD` takes
    them (joined); encoding checks each score and time, so a bad standing fails before
    anything is written."""
    # repr: the shortest text that parses back to the same double (see `_score_arg`).
    # Written out rather than by `_write_record`: a rebuild encodes every member.
    return [
        v.standing.user_id.bytes
        + f"{v.version} {encode_sort_score(v.standing.score, v.standing.reached_at)!r} ".encode()
        for v in standings
    ]


def _standing_entry(user_id: UUID, found: Sequence[Any] | None) -> RankedEntry | None:
    """A {composite score, count above} reply as the user's entry; None for a nil reply."""
    if not found:
        return None
    value, above = found
    return RankedEntry(int(above) + 1, user_id, decode_score(float(value)))


def _score_arg(update: ScoreUpdate) -> str:
    if update.score is None:
        return ""
    if update.reached_at is None:
        raise ValueError(f"update of {update.key} has a score but no reached_at")
    # repr is the shortest text that parses back to the same double, so Redis stores
    # exactly the value we computed.
    return repr(encode_sort_score(update.score, update.reached_at))

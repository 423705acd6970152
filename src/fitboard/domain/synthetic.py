"""Synthetic athletes, groups and workouts that look like a real community's, for
`fitboard seed`: pure functions of a seed, so the same seed gives the same data.

What makes them look real: an activity mix (running and cycling most, rowing and HIIT
least), each athlete with a favourite activity, a second one, and a fitness that sets
their pace; paces, distances and durations within what ordinary athletes do (never
faster than the world-record speeds of `domain.plausibility`, so nothing is flagged and
every workout reaches the boards); heart rates from the athlete's age and the effort;
time zones spread over the world, workouts at the hours people train in their own zone;
a few athletes who train far more than most; groups of clubmates.

Three independent streams of random numbers (athletes, groups, workouts) derive from the
seed, so asking for more workouts does not change the athletes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fitboard.domain.activities import Activity, Sex


@dataclass(frozen=True)
class ActivityModel:
    """How ordinary athletes do an activity."""

    share: float  # of all workouts logged
    # Average speed (m/s) of the least and the most fit athlete; None: no distance.
    speed_m_s: tuple[float, float] | None
    minutes: tuple[int, int, int]  # shortest, most common, longest
    # Heart rate as a fraction of the athlete's maximum, easy to hard.
    effort: tuple[float, float]
    climb_m_per_km: tuple[float, float] = (0.0, 0.0)
    indoor: bool | None = None


# Speeds stay below the world-record speeds at any distance these durations reach: a
# 4.3 m/s run for 150 minutes (39 km) is slower than the marathon record's 5.8 m/s.
ACTIVITIES: dict[Activity, ActivityModel] = {
    Activity.RUN: ActivityModel(0.30, (2.3, 4.3), (15, 40, 150), (0.70, 0.88), (0, 15)),
    Activity.CYCLE: ActivityModel(0.20, (5.0, 9.5), (25, 75, 300), (0.62, 0.82), (3, 18)),
    Activity.WALK: ActivityModel(0.14, (1.1, 1.7), (15, 40, 120), (0.50, 0.65), (0, 8)),
    Activity.STRENGTH: ActivityModel(0.10, None, (25, 50, 90), (0.55, 0.72)),
    Activity.SWIM: ActivityModel(0.06, (0.55, 1.25), (20, 40, 80), (0.65, 0.82)),
    Activity.HIKE: ActivityModel(0.05, (0.8, 1.4), (60, 150, 420), (0.55, 0.72), (40, 110)),
    Activity.YOGA: ActivityModel(0.05, None, (20, 50, 90), (0.42, 0.55)),
    Activity.ROW: ActivityModel(0.04, (3.0, 4.4), (10, 25, 60), (0.70, 0.86), indoor=True),
    Activity.HIIT: ActivityModel(0.04, None, (12, 25, 45), (0.75, 0.90)),
    Activity.OTHER: ActivityModel(0.02, None, (20, 45, 90), (0.55, 0.75)),
}

# IANA zones and how many of the community live in each.
TIME_ZONES: dict[str, float] = {
    "Europe/London": 10,
    "Europe/Berlin": 10,
    "Europe/Paris": 8,
    "Europe/Madrid": 5,
    "Europe/Warsaw": 4,
    "Europe/Stockholm": 3,
    "America/New_York": 12,
    "America/Chicago": 6,
    "America/Denver": 3,
    "America/Los_Angeles": 8,
    "America/Sao_Paulo": 5,
    "America/Mexico_City": 3,
    "Asia/Tokyo": 5,
    "Asia/Kolkata": 4,
    "Asia/Singapore": 3,
    "Australia/Sydney": 5,
    "Africa/Johannesburg": 2,
    "Africa/Nairobi": 2,
    "Pacific/Auckland": 2,
}

FIRST_NAMES = (
    "ava", "ben", "chloe", "diego", "elena", "farah", "gabriel", "hana", "ivan", "jonas",
    "kai", "lena", "marco", "nina", "omar", "priya", "quinn", "rosa", "sam", "tomas",
    "uma", "viktor", "wen", "ximena", "yuki", "zoe", "aisha", "bruno", "carla", "dev",
    "emma", "felix", "greta", "hugo", "ines", "jamal", "kofi", "lucia", "mateo", "noor",
)  # fmt: skip
LAST_NAMES = (
    "adams", "bauer", "costa", "dubois", "eriksen", "fischer", "garcia", "haddad", "ito",
    "jensen", "kowalski", "larsen", "moreau", "nakamura", "okafor", "petrov", "quispe",
    "rossi", "silva", "tanaka", "umar", "vargas", "weber", "xu", "yilmaz", "zhang",
    "mensah", "novak", "oliveira", "patel",
)  # fmt: skip
GROUP_KINDS = (
    "Run Club", "Riders", "Striders", "Harriers", "Tri Club", "Masters Swim",
    "Rowing Crew", "Hiking Society", "Lunch Break Crew", "Early Birds", "Office League",
)  # fmt: skip

# When people train, in their own time zone: (from, to) hour and how many do then.
TRAINING_HOURS: tuple[tuple[tuple[float, float], float], ...] = (
    ((5.5, 9.0), 0.38),
    ((11.5, 13.5), 0.17),
    ((16.5, 20.5), 0.38),
    ((9.0, 16.5), 0.07),
)
# One athlete in this many owns a group; groups take 4 to 40 members.
ATHLETES_PER_GROUP = 25
GROUP_SIZE = (4, 40)
# Shares of workouts of an athlete's favourite activity, of their second one; the rest
# follow the community's mix.
FAVOURITE_SHARE, SECOND_SHARE = 0.6, 0.25
HEART_RATE_SHARE = 0.8  # of workouts logged with an average heart rate


@dataclass(frozen=True)
class SyntheticAthlete:
    id: uuid.UUID
    username: str
    display_name: str
    timezone: str
    weight_kg: float
    birth_year: int
    sex: Sex
    favourite: Activity
    second: Activity
    fitness: float  # 0 (least fit) to 1 (most fit): where their paces lie in the range
    keenness: float  # how many workouts they log, relative to others


@dataclass(frozen=True)
class SyntheticGroup:
    id: uuid.UUID
    name: str
    owner_id: uuid.UUID
    member_ids: tuple[uuid.UUID, ...]  # the owner excluded


@dataclass(frozen=True)
class SyntheticWorkout:
    user_id: uuid.UUID
    activity: Activity
    started_at: datetime
    duration_s: int
    distance_m: float | None
    elevation_gain_m: float | None
    avg_heart_rate: int | None
    indoor: bool | None


def _stream(seed: int, name: str) -> random.Random:
    return random.Random(f"fitboard-seed-{seed}-{name}")


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


_MIX = list(ACTIVITIES)
_MIX_WEIGHTS = [model.share for model in ACTIVITIES.values()]
_ZONES = list(TIME_ZONES)
_ZONE_WEIGHTS = list(TIME_ZONES.values())


def username(first: str, last: str, seed: int, index: int) -> str:
    """Unique per (seed, index), so a second seed adds athletes beside the first's; at
    most 32 characters for seeds below 10**6 and indexes below 10**7."""
    return f"{first}_{last[0]}.{seed}.{index}"


def athletes(seed: int, count: int, *, now: datetime) -> list[SyntheticAthlete]:
    rng = _stream(seed, "athletes")
    made: list[SyntheticAthlete] = []
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        sex = rng.choice((Sex.FEMALE, Sex.MALE))
        favourite = rng.choices(_MIX, _MIX_WEIGHTS)[0]
        second = rng.choices(_MIX, _MIX_WEIGHTS)[0]
        mean_kg = 66.0 if sex is Sex.FEMALE else 80.0
        made.append(
            SyntheticAthlete(
                id=_uuid(rng),
                username=username(first, last, seed, index),
                display_name=f"{first.title()} {last.title()}",
                timezone=rng.choices(_ZONES, _ZONE_WEIGHTS)[0],
                weight_kg=round(min(max(rng.gauss(mean_kg, 10.0), 45.0), 130.0), 1),
                birth_year=now.year - rng.randint(16, 72),
                sex=sex,
                favourite=favourite,
                second=second,
                fitness=rng.betavariate(2.0, 2.5),
                # Heavy-tailed: most log a few workouts a week, a few log several a day.
                keenness=rng.lognormvariate(0.0, 0.8),
            )
        )
    return made


def groups(seed: int, members: Sequence[SyntheticAthlete]) -> list[SyntheticGroup]:
    """One group per ATHLETES_PER_GROUP athletes (none for fewer), each owned by one of
    them with clubmates drawn from the rest; an athlete may be in several."""
    rng = _stream(seed, "groups")
    made: list[SyntheticGroup] = []
    for _ in range(len(members) // ATHLETES_PER_GROUP):
        owner = rng.choice(members)
        size = min(rng.randint(*GROUP_SIZE), len(members) - 1)
        others = [a.id for a in rng.sample(members, size + 1) if a.id != owner.id][:size]
        name = f"{owner.timezone.split('/')[-1].replace('_', ' ')} {rng.choice(GROUP_KINDS)}"
        made.append(SyntheticGroup(_uuid(rng), name, owner.id, tuple(others)))
    return made


def workouts(
    seed: int, members: Sequence[SyntheticAthlete], count: int, *, days: int, now: datetime
) -> Iterator[SyntheticWorkout]:
    """`count` workouts of `members` (the keener an athlete, the more of them), each
    started within the last `days` days and ended before `now`."""
    if not members:
        return
    rng = _stream(seed, "workouts")
    cumulative: list[float] = []
    total = 0.0
    for athlete in members:
        total += athlete.keenness
        cumulative.append(total)
    for _ in range(count):
        athlete = rng.choices(members, cum_weights=cumulative)[0]
        yield _workout(rng, athlete, days=days, now=now)


def _workout(
    rng: random.Random, athlete: SyntheticAthlete, *, days: int, now: datetime
) -> SyntheticWorkout:
    draw = rng.random()
    if draw < FAVOURITE_SHARE:
        activity = athlete.favourite
    elif draw < FAVOURITE_SHARE + SECOND_SHARE:
        activity = athlete.second
    else:
        activity = rng.choices(_MIX, _MIX_WEIGHTS)[0]
    model = ACTIVITIES[activity]
    shortest, usual, longest = model.minutes
    duration_s = int(rng.triangular(shortest, longest, usual) * 60)
    distance_m = elevation_m = None
    if model.speed_m_s is not None:
        slow, fast = model.speed_m_s
        # A day's form moves the pace a little either way, never past the fastest.
        speed = min(fast, (slow + (fast - slow) * athlete.fitness) * rng.uniform(0.92, 1.06))
        distance_m = round(speed * duration_s, 1)
        low, high = model.climb_m_per_km
        if high > 0:
            elevation_m = round(rng.uniform(low, high) * distance_m / 1000, 1)
    heart_rate = None
    if rng.random() < HEART_RATE_SHARE:
        age = now.year - athlete.birth_year
        easy, hard = model.effort
        heart_rate = round((208 - 0.7 * age) * rng.uniform(easy, hard))
    return SyntheticWorkout(
        user_id=athlete.id,
        activity=activity,
        started_at=_start(rng, athlete, duration_s, days=days, now=now),
        duration_s=duration_s,
        distance_m=distance_m,
        elevation_gain_m=elevation_m,
        avg_heart_rate=heart_rate,
        indoor=model.indoor,
    )


def _start(
    rng: random.Random, athlete: SyntheticAthlete, duration_s: int, *, days: int, now: datetime
) -> datetime:
    """A training hour of the athlete's own zone on one of the last `days` days; a start
    that would end after `now` moves back a day at a time."""
    zone = ZoneInfo(athlete.timezone)
    (hours,) = rng.choices([h for h, _ in TRAINING_HOURS], [w for _, w in TRAINING_HOURS])
    today = now.astimezone(zone).date()
    day = today - timedelta(days=rng.randrange(days))
    minute = round(rng.uniform(*hours) * 60)
    local = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minute)
    started = local.astimezone(now.tzinfo)
    while started + timedelta(seconds=duration_s) > now:
        started -= timedelta(days=1)
    return started

"""Points: one rule so that a yoga session and a marathon compete on one board.

**10 points per MET-hour**: points = round(MET × hours × 10). MET measures intensity
relative to rest, independent of body mass, so a light athlete is not penalised the way a
calorie board would, and an hour of anything scores by how hard it was:

* 30 min running at 6 mph (MET 9.8)  → 49 points
* 60 min Hatha yoga (MET 2.5)        → 25 points
* 60 min cycling at 13 mph (MET 8.0) → 80 points

Flagged and rejected workouts score nothing on the boards.
"""

from __future__ import annotations

POINTS_PER_MET_HOUR = 10


def points_for(met: float, duration_s: int) -> int:
    return round(met * duration_s / 3600.0 * POINTS_PER_MET_HOUR)

import { describe, expect, it } from "vitest";
import type { Workout } from "./types";
import { isoWeek, weeklyTotals } from "./weekly";

function workout(started_at: string, patch: Partial<Workout> = {}): Workout {
  return {
    id: started_at,
    status: "processed",
    activity: "run",
    started_at,
    duration_s: 1800,
    distance_m: 5000,
    elevation_gain_m: null,
    avg_heart_rate: null,
    calories: 300,
    points: 40,
    notes: null,
    flag_reason: null,
    achievements: [],
    source: "manual",
    ...patch,
  };
}

describe("isoWeek", () => {
  it("names weeks as the API does, across year ends", () => {
    expect(isoWeek(new Date(2026, 10, 22))).toBe("2026-W47");
    expect(isoWeek(new Date(2026, 10, 23))).toBe("2026-W48");
    expect(isoWeek(new Date(2027, 0, 1))).toBe("2026-W53");
    expect(isoWeek(new Date(2024, 11, 30))).toBe("2025-W01");
  });
});

describe("weeklyTotals", () => {
  it("sums processed workouts per week, oldest first, with empty weeks", () => {
    const now = new Date(2026, 10, 25, 12);
    const weeks = weeklyTotals(
      [
        workout(new Date(2026, 10, 24, 8).toISOString()),
        workout(new Date(2026, 10, 23, 8).toISOString(), { calories: 100, points: 10 }),
        workout(new Date(2026, 10, 17, 8).toISOString(), { status: "flagged" }),
        workout(new Date(2026, 10, 10, 8).toISOString(), { distance_m: null }),
        workout(new Date(2025, 0, 1).toISOString()),
      ],
      3,
      now,
    );
    expect(weeks.map((w) => w.week)).toEqual(["2026-W46", "2026-W47", "2026-W48"]);
    expect(weeks[2]).toMatchObject({ workouts: 2, calories: 400, points: 50, distanceKm: 10, durationMin: 60 });
    expect(weeks[1]).toMatchObject({ workouts: 0, calories: 0 });
    expect(weeks[0]).toMatchObject({ workouts: 1, distanceKm: 0 });
  });
});

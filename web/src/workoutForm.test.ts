import { describe, expect, it } from "vitest";
import { asksIndoor, EMPTY_DRAFT, toWorkout, withLocalOffset, type WorkoutDraft } from "./workoutForm";

const NOW = new Date("2026-11-22T12:00:00Z");
const draft = (patch: Partial<WorkoutDraft>): WorkoutDraft => ({
  ...EMPTY_DRAFT,
  startedAt: "2026-11-22T08:00",
  durationMin: "30",
  ...patch,
});

describe("toWorkout", () => {
  it("builds the API's body in its units", () => {
    const result = toWorkout(draft({ distanceKm: "5.2", heartRate: "150", notes: "  easy  " }), NOW);
    expect(result.errors).toBeNull();
    expect(result.body).toMatchObject({
      activity: "run",
      duration_s: 1800,
      distance_m: 5200,
      avg_heart_rate: 150,
      notes: "easy",
    });
    expect(result.body?.started_at).toMatch(/^2026-11-22T08:00:00[+-]\d{2}:\d{2}$/);
    expect(result.body).not.toHaveProperty("calories");
  });

  it("refuses missing and impossible values by the API's field names", () => {
    const result = toWorkout(draft({ durationMin: "", heartRate: "300", distanceKm: "-1" }), NOW);
    expect(result.body).toBeNull();
    expect(Object.keys(result.errors ?? {}).sort()).toEqual(["avg_heart_rate", "distance_m", "duration_s"]);
    expect(result.errors?.avg_heart_rate).toBe("must be between 25 and 250 bpm");
  });

  it("refuses a speed no human reaches, as the API does", () => {
    const result = toWorkout(draft({ distanceKm: "100", durationMin: "60" }), NOW);
    expect(result.errors?.distance_m).toMatch(/100.0 km\/h is impossible for run \(limit 45 km\/h\)/);
    expect(toWorkout(draft({ activity: "cycle", distanceKm: "100", durationMin: "60" }), NOW).errors).toBeNull();
  });

  it("refuses a workout that starts or ends in the future", () => {
    const later = new Date(NOW.getTime() + 3600_000);
    const local = `${later.getFullYear()}-${String(later.getMonth() + 1).padStart(2, "0")}-${String(later.getDate()).padStart(2, "0")}T${String(later.getHours()).padStart(2, "0")}:${String(later.getMinutes()).padStart(2, "0")}`;
    expect(toWorkout(draft({ startedAt: local }), NOW).errors?.started_at).toMatch(/in the future/);
    expect(toWorkout(draft({ durationMin: String(60 * 24) }), NOW).errors?.duration_s).toMatch(/end in the future/);
  });

  it("limits elevation by the hours of the workout", () => {
    expect(toWorkout(draft({ elevationM: "1500" }), NOW).errors).toBeNull();
    expect(toWorkout(draft({ elevationM: "1501" }), NOW).errors?.elevation_gain_m).toMatch(/between 0 and 1500 m/);
  });
});

describe("indoor", () => {
  it("is sent for a row and a ride as the box shows it, defaulting as the API does", () => {
    // Untouched: a row is an ergometer row, a ride is outdoors (calories.rows_indoors).
    expect(toWorkout(draft({ activity: "row" }), NOW).body?.indoor).toBe(true);
    expect(toWorkout(draft({ activity: "cycle" }), NOW).body?.indoor).toBe(false);
    // Ticked or unticked, the choice is what goes.
    expect(toWorkout(draft({ activity: "row", indoor: false }), NOW).body?.indoor).toBe(false);
    expect(toWorkout(draft({ activity: "cycle", indoor: true }), NOW).body?.indoor).toBe(true);
  });

  it("is not sent where the API's calories ignore it", () => {
    for (const activity of ["run", "walk", "hike", "swim", "strength", "yoga", "hiit", "other"]) {
      expect(asksIndoor(activity)).toBe(false);
      const result = toWorkout(draft({ activity, indoor: true }), NOW);
      expect(result.errors).toBeNull();
      expect(result.body).not.toHaveProperty("indoor");
    }
    expect(asksIndoor("row") && asksIndoor("cycle")).toBe(true);
  });

  it("does not excuse what the API refuses for the activity", () => {
    // Indoors changes the calorie rows, never the plausibility limits: 100 km in an hour
    // of rowing is refused, on an ergometer or not.
    const result = toWorkout(draft({ activity: "row", indoor: true, distanceKm: "100", durationMin: "60" }), NOW);
    expect(result.body).toBeNull();
    expect(result.errors?.distance_m).toMatch(/impossible for row/);
  });
});

describe("withLocalOffset", () => {
  it("adds the browser's offset and refuses what is no date", () => {
    expect(withLocalOffset("2026-01-05T07:30")).toMatch(/^2026-01-05T07:30:00[+-]\d{2}:\d{2}$/);
    expect(withLocalOffset("yesterday")).toBeNull();
  });
});

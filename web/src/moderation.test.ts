import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { appendPage, decisionError, describeDecision, mayHaveDecision } from "./moderation";
import type { Workout } from "./types";

function workout(patch: Partial<Workout> = {}): Workout {
  return {
    id: "w1",
    status: "processed",
    activity: "run",
    started_at: "2026-03-01T07:00:00Z",
    duration_s: 600,
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

describe("describeDecision", () => {
  it("says who decided what, and why", () => {
    const text = describeDecision({ decision: "approve", reason: "  GPS checked ", decided_at: "2026-03-02T10:00:00Z" });
    expect(text).toMatch(/^Approved by an admin on .+\. Reason: GPS checked$/);
  });

  it("leaves out a missing or blank reason", () => {
    expect(describeDecision({ decision: "reject", reason: null, decided_at: "2026-03-02T10:00:00Z" })).toMatch(
      /^Rejected by an admin on .+[^.]$/,
    );
    expect(describeDecision({ decision: "reject", reason: "   ", decided_at: "2026-03-02T10:00:00Z" })).not.toContain("Reason");
  });
});

describe("mayHaveDecision", () => {
  it("is true for flagged (or once flagged) and rejected workouts only", () => {
    expect(mayHaveDecision(workout())).toBe(false);
    expect(mayHaveDecision(workout({ status: "flagged", flag_reason: "faster than the world record" }))).toBe(true);
    expect(mayHaveDecision(workout({ status: "processed", flag_reason: "faster than the world record" }))).toBe(true);
    expect(mayHaveDecision(workout({ status: "rejected" }))).toBe(true);
  });
});

describe("appendPage", () => {
  it("appends the next page in order, each workout once", () => {
    const shown = [{ id: "a" }, { id: "b" }];
    expect(appendPage(shown, [{ id: "b" }, { id: "c" }])).toEqual([{ id: "a" }, { id: "b" }, { id: "c" }]);
    expect(appendPage([], [{ id: "x" }])).toEqual([{ id: "x" }]);
    expect(shown).toHaveLength(2);
  });
});

describe("decisionError", () => {
  it("says why a 409 or 404 was refused, with the API's words", () => {
    expect(decisionError(new ApiError(409, "already processed"), "approve")).toBe(
      "This workout already counts. (already processed)",
    );
    expect(decisionError(new ApiError(409, "already rejected"), "reject")).toContain("rejected already");
    expect(decisionError(new ApiError(404, "Workout not found"), "approve")).toContain("No such workout");
    expect(decisionError(new ApiError(403, "Admins only"), "reject")).toBe("Admins only");
    expect(decisionError(new TypeError("fetch failed"), "reject")).toBe("The server could not be reached.");
  });
});

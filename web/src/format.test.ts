import { describe, expect, it } from "vitest";
import { formatScore, ordinal } from "./format";

describe("format", () => {
  it("shows scores in their metric's unit", () => {
    expect(formatScore("calories", 1234)).toBe("1,234 kcal");
    expect(formatScore("distance", 8000)).toBe("8.00 km");
    expect(formatScore("distance", 640)).toBe("640 m");
    expect(formatScore("duration", 5400)).toBe("1 h 30 min");
    expect(formatScore("workouts", 1)).toBe("1 workout");
    expect(formatScore("points", 78)).toBe("78 pts");
  });
  it("writes ordinals", () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal)).toEqual(["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]);
  });
});

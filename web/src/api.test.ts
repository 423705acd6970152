import { describe, expect, it } from "vitest";
import { describe as describeRefusal, fieldErrors } from "./api";

describe("fieldErrors", () => {
  it("names the field of a schema refusal and of a domain refusal", () => {
    const detail = [
      { loc: ["body", "duration_s"], msg: "Input should be greater than 0", type: "greater_than" },
      { loc: ["workout", "distance_m"], msg: "Value error, must not be negative", type: "value_error" },
    ];
    expect(fieldErrors(detail)).toEqual({
      duration_s: "Input should be greater than 0",
      distance_m: "must not be negative",
    });
  });

  it("keeps the first message of a field and ignores what is not a list", () => {
    const detail = [
      { loc: ["body", "started_at"], msg: "first" },
      { loc: ["body", "started_at"], msg: "second" },
    ];
    expect(fieldErrors(detail)).toEqual({ started_at: "first" });
    expect(fieldErrors("username taken")).toEqual({});
  });
});

describe("describe", () => {
  it("reads a string detail as is", () => {
    expect(describeRefusal(409, { detail: "the username is taken" })).toBe("the username is taken");
  });
  it("says what a bare status means", () => {
    expect(describeRefusal(429, null)).toMatch(/Too many requests/);
    expect(describeRefusal(503, null)).toMatch(/try again/);
  });
});

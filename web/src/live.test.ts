import { describe, expect, it } from "vitest";
import { challengeBoard, subscription } from "./live";

describe("subscription", () => {
  it("names a calendar board by its name and a challenge's board by the challenge's id", () => {
    expect(subscription("calories/week/global")).toEqual({ board: "calories/week/global" });
    const id = "0b9d5bb6-6a1f-4a57-9f53-3f5a2d3c1e11";
    // The name the server gives the challenge's snapshots, back to what it subscribes with.
    expect(challengeBoard(id)).toBe(`challenge:${id}`);
    expect(subscription(challengeBoard(id))).toEqual({ challenge: id });
  });
});

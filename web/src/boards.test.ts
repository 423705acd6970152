import { describe, expect, it } from "vitest";
import { boardName, rankMoves, tiedRanks, withAroundMe } from "./boards";
import type { Entry } from "./types";

const e = (user_id: string, rank: number, score = 100 - rank): Entry => ({ user_id, rank, score, display_name: user_id });

describe("boards", () => {
  it("names a board as the live API does", () => {
    expect(boardName("calories", "week", "activity:run")).toBe("calories/week/activity:run");
  });

  it("finds competition-rank ties", () => {
    expect([...tiedRanks([e("a", 1), e("b", 2), e("c", 2), e("d", 4)])]).toEqual([2]);
    expect(tiedRanks([e("a", 1), e("b", 2)]).size).toBe(0);
  });

  it("tells who moved up, down or arrived between two snapshots", () => {
    const moves = rankMoves([e("a", 1), e("b", 2), e("c", 3)], [e("b", 1), e("a", 2), e("c", 3), e("d", 4)]);
    expect(Object.fromEntries(moves)).toEqual({ b: "up", a: "down", d: "new" });
  });

  it("marks nobody as new on the first snapshot", () => {
    expect(rankMoves([], [e("a", 1)]).size).toBe(0);
  });

  it("shows the neighbourhood without repeating the top", () => {
    const { around } = withAroundMe([e("a", 1), e("b", 2)], [e("b", 2), e("c", 3), e("me", 4)]);
    expect(around.map((x) => x.user_id)).toEqual(["c", "me"]);
  });
});

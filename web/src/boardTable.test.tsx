import { render } from "@testing-library/preact";
import { describe, expect, it } from "vitest";
import { BoardTable } from "./boardTable";
import type { Entry } from "./types";

const e = (user_id: string, rank: number, score: number): Entry => ({ user_id, rank, score, display_name: `Athlete ${user_id}` });

describe("BoardTable", () => {
  it("highlights the athlete's row, marks ties and moves, and shows the neighbourhood after a gap", () => {
    const { container } = render(
      <BoardTable
        caption="Calories this week"
        metric="calories"
        top={[e("a", 1, 900), e("b", 2, 800), e("c", 2, 800)]}
        around={[e("me", 7, 120)]}
        me="me"
        moves={new Map([["b", "up"]])}
        version={1}
      />,
    );
    const rows = [...container.querySelectorAll("tbody tr")];
    expect(rows.map((r) => r.getAttribute("data-user-id"))).toEqual(["a", "b", "c", null, "me"]);
    expect(rows[4]?.classList.contains("me")).toBe(true);
    expect(rows[4]?.textContent).toContain("you");
    expect(rows[0]?.classList.contains("me")).toBe(false);
    expect(rows[1]?.querySelector(".rank")?.textContent).toBe("=2 (tied)");
    expect(rows[0]?.querySelector(".rank")?.textContent).toBe("1");
    expect(rows[1]?.getAttribute("data-move")).toBe("up");
    expect(rows[1]?.textContent).toContain("moved up");
    expect(rows[4]?.querySelector(".score")?.textContent).toBe("120 kcal");
  });
});

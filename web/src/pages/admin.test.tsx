import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setToken } from "../api";
import { App, type AppState } from "../context";
import type { ReviewedWorkout } from "../types";
import { FlaggedWorkouts } from "./admin";

function flagged(id: string, started_at: string): ReviewedWorkout {
  return {
    id,
    user_id: "u1",
    status: "flagged",
    activity: "run",
    started_at,
    duration_s: 600,
    distance_m: 5000,
    elevation_gain_m: null,
    avg_heart_rate: null,
    calories: 400,
    points: 0,
    notes: null,
    flag_reason: "faster than the world record",
    achievements: [],
    source: "manual",
    decision: null,
  };
}

// The admin API as far as the list sees it: two pages, and what each decision answers.
const first = flagged("w1", "2026-03-02T07:00:00Z");
const second = flagged("w2", "2026-03-01T07:00:00Z");
const sent: { method: string; url: string; body: unknown }[] = [];
let rejectStatus = 409;

beforeEach(() => {
  sent.length = 0;
  rejectStatus = 409;
  setToken("a-token");
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    const method = init.method ?? "GET";
    sent.push({ method, url, body: init.body ? JSON.parse(String(init.body)) : undefined });
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (method === "GET") {
      return url.includes("cursor=c2")
        ? json({ items: [second], next_cursor: null })
        : json({ items: [first], next_cursor: "c2" });
    }
    if (url.endsWith("/approve")) return json({ id: "w1", status: "queued", decision_id: "d1" }, 202);
    return json({ detail: "The workout is rejected already." }, rejectStatus);
  });
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  setToken(null);
});

function show() {
  const toast = vi.fn();
  const app = { toast, processedCount: 0 } as unknown as AppState;
  render(
    <App.Provider value={app}>
      <FlaggedWorkouts />
    </App.Provider>,
  );
  return toast;
}

describe("FlaggedWorkouts", () => {
  it("lists flagged workouts and follows the cursor with Load more", async () => {
    show();
    const list = await screen.findByRole("list", { name: "Flagged workouts" });
    expect(within(list).getAllByRole("listitem")).toHaveLength(1);
    expect(list.textContent).toContain("faster than the world record");
    expect(sent[0]?.url).toContain("status=flagged");

    fireEvent.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(2));
    expect(sent[1]?.url).toContain("cursor=c2");
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("sends the reason with a decision, marks the row queued and reloads the list", async () => {
    const toast = show();
    const list = await screen.findByRole("list", { name: "Flagged workouts" });
    const row = within(list).getAllByRole("listitem")[0]!;
    fireEvent.input(within(row).getByLabelText("Reason (optional, shown to the athlete)"), {
      target: { value: "GPS checked" },
    });
    fireEvent.click(within(row).getByRole("button", { name: "Approve" }));
    await waitFor(() => expect(within(row).getByText("queued")).toBeTruthy());
    const post = sent.find((s) => s.method === "POST");
    expect(post?.url).toBe("/v1/admin/workouts/w1/approve");
    expect(post?.body).toEqual({ reason: "GPS checked" });
    expect(sent.filter((s) => s.method === "GET")).toHaveLength(2);
    expect(toast).toHaveBeenCalledWith({ title: "Approval queued" });
    expect((within(row).getByRole("button", { name: "Reject" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("shows a refusal in words (409)", async () => {
    show();
    const list = await screen.findByRole("list", { name: "Flagged workouts" });
    fireEvent.click(within(list).getByRole("button", { name: "Reject" }));
    expect(await screen.findByText(/This workout is rejected already\. \(The workout is rejected already\.\)/)).toBeTruthy();
    expect(sent.find((s) => s.method === "POST")?.body).toEqual({});
    expect(within(list).queryByText("queued")).toBeNull();
  });
});

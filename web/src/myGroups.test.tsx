import { cleanup, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setToken } from "./api";
import { type MyGroups, ownedBy, useMyGroups } from "./myGroups";
import type { MyGroup } from "./types";

// The server's side, as far as this hook sees it: the groups GET /v1/groups answers now,
// and the requests it was sent. (The browser test runs the real server.)
let stored: MyGroup[] = [];
let status = 200;
const sent: { url: string; method: string; authorization: string | null }[] = [];

beforeEach(() => {
  stored = [];
  status = 200;
  sent.length = 0;
  setToken("a-token");
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    const headers = new Headers(init.headers);
    sent.push({ url, method: init.method ?? "GET", authorization: headers.get("Authorization") });
    const body = status === 200 ? stored : { detail: "the server could not read your groups" };
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  });
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  setToken(null);
});

const club: MyGroup = { id: "0b9d5bb6-6a1f-4a57-9f53-3f5a2d3c1e11", name: "Club", invite_code: "abc", owner_id: "u1", member_count: 3 };
const own: MyGroup = { id: "1c9d5bb6-6a1f-4a57-9f53-3f5a2d3c1e22", name: "Own", invite_code: "def", owner_id: "u2", member_count: 1 };

let latest: MyGroups | null = null;
function Probe() {
  latest = useMyGroups();
  const { groups, error } = latest;
  if (error) return <p>error: {error}</p>;
  return <p>{groups === null ? "loading" : `groups: ${groups.map((g) => g.name).join(",") || "none"}`}</p>;
}

describe("useMyGroups", () => {
  it("reads the athlete's groups from the API, with their token, and again on reload", async () => {
    stored = [club];
    render(<Probe />);
    await screen.findByText("groups: Club");
    expect(sent).toEqual([{ url: "/v1/groups", method: "GET", authorization: "Bearer a-token" }]);

    // Joined elsewhere: the next read shows it; nothing is kept in the browser.
    stored = [club, own];
    latest!.reload();
    await screen.findByText("groups: Club,Own");
    expect(sent).toHaveLength(2);
    expect(localStorage.length).toBe(0);
  });

  it("says so when the groups cannot be read", async () => {
    status = 503;
    render(<Probe />);
    await waitFor(() => expect(screen.getByText(/^error:/).textContent).toMatch(/could not read your groups/));
  });
});

describe("ownedBy", () => {
  it("keeps the groups the athlete owns", () => {
    expect(ownedBy([club, own], "u2")).toEqual([own]);
    expect(ownedBy([club, own], "u3")).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { inviteText, parseInvite } from "./groups";

describe("invites", () => {
  it("round-trips a group's id and code through one shareable string", () => {
    const group = { id: "0b9d5bb6-6a1f-4a57-9f53-3f5a2d3c1e11", name: "Runners", invite_code: "Xy_9-abc" };
    expect(parseInvite(`  ${inviteText(group)} `)).toEqual({ id: group.id, code: group.invite_code });
  });
  it("refuses anything else", () => {
    expect(parseInvite("Xy_9-abc")).toBeNull();
    expect(parseInvite("not-a-uuid:code")).toBeNull();
  });
});

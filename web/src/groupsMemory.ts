// The groups this athlete created or joined in this browser.
//
// The public interface has no call that lists a member's groups (API.md: create, join,
// leave), so the app keeps the ones it has seen, per athlete, in localStorage.

import type { Group } from "./types";

function key(userId: string): string {
  return `fitboard.groups.${userId}`;
}

export function knownGroups(userId: string): Group[] {
  try {
    const raw = localStorage.getItem(key(userId));
    const groups = raw ? (JSON.parse(raw) as Group[]) : [];
    return Array.isArray(groups) ? groups : [];
  } catch {
    return [];
  }
}

export function rememberGroup(userId: string, group: Group): Group[] {
  const groups = [...knownGroups(userId).filter((g) => g.id !== group.id), group];
  localStorage.setItem(key(userId), JSON.stringify(groups));
  return groups;
}

export function forgetGroup(userId: string, groupId: string): Group[] {
  const groups = knownGroups(userId).filter((g) => g.id !== groupId);
  localStorage.setItem(key(userId), JSON.stringify(groups));
  return groups;
}

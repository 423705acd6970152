// Pure helpers for showing a board: names, ties and how rows moved between two snapshots.

import type { Entry } from "./types";

export function boardName(metric: string, period: string, scope: string): string {
  return `${metric}/${period}/${scope}`;
}

/** Competition ranks (1, 2, 2, 4): a rank shared with another row is a tie. */
export function tiedRanks(entries: Entry[]): Set<number> {
  const seen = new Map<number, number>();
  for (const entry of entries) seen.set(entry.rank, (seen.get(entry.rank) ?? 0) + 1);
  return new Set([...seen].filter(([, count]) => count > 1).map(([rank]) => rank));
}

export type Move = "up" | "down" | "new";

/** How each athlete's rank changed from `before` to `after` (athletes who did not move are absent). */
export function rankMoves(before: Entry[], after: Entry[]): Map<string, Move> {
  const previous = new Map(before.map((e) => [e.user_id, e.rank]));
  const moves = new Map<string, Move>();
  for (const entry of after) {
    const was = previous.get(entry.user_id);
    if (was === undefined) {
      if (before.length > 0) moves.set(entry.user_id, "new");
    } else if (entry.rank < was) {
      moves.set(entry.user_id, "up");
    } else if (entry.rank > was) {
      moves.set(entry.user_id, "down");
    }
  }
  return moves;
}

/**
 * The rows to show: the top entries, then (when the athlete is below them) a gap and the
 * athlete's neighbourhood, without repeating anyone.
 */
export function withAroundMe(top: Entry[], around: Entry[]): { top: Entry[]; around: Entry[] } {
  const shown = new Set(top.map((e) => e.user_id));
  const rest = around.filter((e) => !shown.has(e.user_id));
  return { top, around: rest };
}

// Admins' decisions on workouts (docs/moderation.md): how one reads, and the review list's pages.

import { ApiError } from "./api";
import { formatDate } from "./format";
import type { Decision, DecisionKind, Workout } from "./types";

/** One sentence for the athlete: what an admin decided, and why if they said. */
export function describeDecision(decision: Decision): string {
  const verb = decision.decision === "approve" ? "Approved" : "Rejected";
  const reason = decision.reason?.trim();
  const when = formatDate(decision.decided_at);
  return reason ? `${verb} by an admin on ${when}. Reason: ${reason}` : `${verb} by an admin on ${when}`;
}

/**
 * Whether a workout of the athlete's list can carry a decision. `GET /v1/workouts` has no
 * `decision`, only `GET /v1/workouts/{id}` does; an admin decides on flagged workouts (the
 * flag reason is kept after the decision) and rejects counted ones, so only those are read
 * one by one.
 */
export function mayHaveDecision(workout: Workout): boolean {
  return workout.status === "rejected" || workout.flag_reason !== null;
}

/** The next page appended to the list shown, each workout once (a refresh can overlap). */
export function appendPage<T extends { id: string }>(shown: readonly T[], page: readonly T[]): T[] {
  const seen = new Set(shown.map((item) => item.id));
  return [...shown, ...page.filter((item) => !seen.has(item.id))];
}

/** What to tell the admin when a decision was refused. */
export function decisionError(error: unknown, kind: DecisionKind): string {
  if (!(error instanceof ApiError)) return "The server could not be reached.";
  if (error.status === 409) {
    const already = kind === "approve" ? "This workout already counts." : "This workout is rejected already.";
    return `${already} (${error.message})`;
  }
  if (error.status === 404) return `No such workout is stored any more. (${error.message})`;
  return error.message;
}

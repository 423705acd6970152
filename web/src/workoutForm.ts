// The workout form: what a person types, turned into the API's body, and checked by the
// same rules the API applies (domain/plausibility.py and the WorkoutIn schema), with the
// API's own wording, so a refusal reads the same whichever side made it. The API stays the
// judge: its 422s are shown next to the same fields.

import type { FieldErrors } from "./api";
import { ACTIVITIES, type Activity, type WorkoutIn } from "./types";

export interface WorkoutDraft {
  activity: string;
  startedAt: string; // <input type="datetime-local">: local wall time, no offset
  durationMin: string;
  distanceKm: string;
  elevationM: string;
  heartRate: string;
  calories: string;
  /** The "Indoors" box as ticked; null while untouched, which shows the activity's default. */
  indoor: boolean | null;
  notes: string;
}

export const EMPTY_DRAFT: WorkoutDraft = {
  activity: "run",
  startedAt: "",
  durationMin: "",
  distanceKm: "",
  elevationM: "",
  heartRate: "",
  calories: "",
  indoor: null,
  notes: "",
};

/** The activities whose calories `indoor` changes (domain/calories.py, `_INDOOR_GENERAL`:
 * an ergometer or an on-water row, a trainer or an outdoor ride), each with what the API
 * takes it as when `indoor` is unsaid (`rows_indoors`: a row indoors, a ride outdoors). A
 * treadmill run is scored by the running rows all the same, so the form asks only here. */
export const INDOOR_DEFAULT: Readonly<Partial<Record<Activity, boolean>>> = { row: true, cycle: false };

/** Whether the form asks "Indoors?" for this activity. */
export function asksIndoor(activity: string): boolean {
  return INDOOR_DEFAULT[activity as Activity] !== undefined;
}

/** The box as shown: the person's choice, else the activity's default; null where the form does not ask. */
export function indoorShown(draft: Pick<WorkoutDraft, "activity" | "indoor">): boolean | null {
  const fallback = INDOOR_DEFAULT[draft.activity as Activity];
  if (fallback === undefined) return null;
  return draft.indoor ?? fallback;
}

// The API's limits (domain/plausibility.py).
const MAX_DURATION_S = 14 * 24 * 3600;
const EARLIEST_START = Date.UTC(1990, 0, 1);
const CLOCK_SKEW_S = 300;
const MIN_HEART_RATE = 25;
const MAX_HEART_RATE = 250;
const MAX_ELEVATION_GAIN_M = 100_000;
const MAX_ELEVATION_GAIN_M_PER_HOUR = 3_000;
const DEVICE_CALORIES_ANY_DURATION = 20_000;
const MAX_DEVICE_CALORIES_PER_HOUR = 2_000;
const MAX_NOTES = 2000;
export const HARD_SPEED_LIMIT_M_S: Record<Activity, number> = {
  run: 12.5,
  walk: 5.0,
  hike: 5.0,
  cycle: 35.0,
  swim: 3.0,
  row: 7.0,
  strength: 12.5,
  yoga: 12.5,
  hiit: 12.5,
  other: 12.5,
};

/** "2026-11-22T07:30" in the browser's zone → "2026-11-22T07:30:00+01:00". */
export function withLocalOffset(local: string): string | null {
  const date = new Date(local);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(local) || Number.isNaN(date.getTime())) return null;
  const offsetMin = -date.getTimezoneOffset();
  const sign = offsetMin >= 0 ? "+" : "-";
  const abs = Math.abs(offsetMin);
  const pad = (n: number) => String(n).padStart(2, "0");
  const seconds = local.length >= 19 ? local.slice(0, 19) : `${local.slice(0, 16)}:00`;
  return `${seconds}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The current local time as a datetime-local value, to the minute. */
export function localNow(now = new Date()): string {
  const shifted = new Date(now.getTime() - now.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

function number(text: string): number | null | "invalid" {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : "invalid";
}

/** The body to send, or the errors by API field name (started_at, duration_s, ...). */
export function toWorkout(
  draft: WorkoutDraft,
  now: Date = new Date(),
): { body: WorkoutIn; errors: null } | { body: null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const activity = draft.activity as Activity;
  if (!ACTIVITIES.includes(activity)) errors.activity = "choose an activity";

  const startedAt = draft.startedAt ? withLocalOffset(draft.startedAt) : null;
  const latest = now.getTime() + CLOCK_SKEW_S * 1000;
  const start = startedAt ? new Date(startedAt).getTime() : null;
  if (!draft.startedAt) errors.started_at = "when did it start? Field required";
  else if (start === null) errors.started_at = "is not a date and time";
  else if (start > latest) errors.started_at = "is in the future; check the device's clock";
  else if (start < EARLIEST_START) errors.started_at = "must be after 1990-01-01";

  const minutes = number(draft.durationMin);
  let durationS = 0;
  if (minutes === null) errors.duration_s = "how long was it? Field required";
  else if (minutes === "invalid") errors.duration_s = "must be a number of minutes";
  else {
    durationS = Math.round(minutes * 60);
    if (durationS <= 0) errors.duration_s = "must be more than 0 seconds";
    else if (durationS > MAX_DURATION_S) errors.duration_s = "must be at most 14 days";
    else if (start !== null && start + durationS * 1000 > latest)
      errors.duration_s = "the workout would end in the future";
  }

  const km = number(draft.distanceKm);
  let distanceM: number | undefined;
  if (km === "invalid") errors.distance_m = "must be a number of kilometres";
  else if (km !== null) {
    distanceM = Math.round(km * 1000 * 10) / 10;
    if (distanceM < 0) errors.distance_m = "must not be negative";
    else if (durationS > 0 && activity in HARD_SPEED_LIMIT_M_S) {
      const speed = distanceM / durationS;
      const limit = HARD_SPEED_LIMIT_M_S[activity];
      if (speed > limit)
        errors.distance_m =
          `an average speed of ${(speed * 3.6).toFixed(1)} km/h is impossible for ${activity} ` +
          `(limit ${(limit * 3.6).toFixed(0)} km/h); check the distance, duration and activity`;
    }
  }

  const elevation = number(draft.elevationM);
  if (elevation === "invalid") errors.elevation_gain_m = "must be a number of metres";
  else if (elevation !== null && durationS > 0) {
    const climbable = Math.min(MAX_ELEVATION_GAIN_M, (MAX_ELEVATION_GAIN_M_PER_HOUR * durationS) / 3600);
    if (elevation < 0 || elevation > climbable)
      errors.elevation_gain_m = `must be between 0 and ${climbable.toFixed(0)} m: at most ${MAX_ELEVATION_GAIN_M_PER_HOUR} m per hour of workout`;
  }

  const heartRate = number(draft.heartRate);
  if (heartRate === "invalid" || (heartRate !== null && !Number.isInteger(heartRate)))
    errors.avg_heart_rate = "must be a whole number of beats per minute";
  else if (heartRate !== null && (heartRate < MIN_HEART_RATE || heartRate > MAX_HEART_RATE))
    errors.avg_heart_rate = `must be between ${MIN_HEART_RATE} and ${MAX_HEART_RATE} bpm`;

  const calories = number(draft.calories);
  if (calories === "invalid") errors.calories = "must be a number of kcal";
  else if (calories !== null) {
    const most = Math.max(DEVICE_CALORIES_ANY_DURATION, (MAX_DEVICE_CALORIES_PER_HOUR * durationS) / 3600);
    if (calories < 0 || calories > most) errors.calories = `must be between 0 and ${most.toFixed(0)} kcal`;
  }

  // The API takes `indoor` as a JSON boolean or nothing (`Strict` in the WorkoutIn schema):
  // a ticked or unticked box is sent as true or false where the form asks, and nothing is
  // sent elsewhere. A box is a boolean by construction; a 422 naming `indoor` would still be
  // shown next to it.
  const indoor = indoorShown(draft);

  if (draft.notes.length > MAX_NOTES) errors.notes = `must be at most ${MAX_NOTES} characters`;

  if (Object.keys(errors).length > 0 || startedAt === null) return { body: null, errors };
  const body: WorkoutIn = { activity, started_at: startedAt, duration_s: durationS };
  if (distanceM !== undefined) body.distance_m = distanceM;
  if (elevation !== null && elevation !== "invalid") body.elevation_gain_m = elevation;
  if (heartRate !== null && heartRate !== "invalid") body.avg_heart_rate = heartRate;
  if (calories !== null && calories !== "invalid") body.calories = calories;
  if (indoor !== null) body.indoor = indoor;
  if (draft.notes.trim()) body.notes = draft.notes.trim();
  return { body, errors: null };
}

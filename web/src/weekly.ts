// Weekly totals of the athlete's own workouts, for the training chart.

import type { Workout } from "./types";

/** The ISO week (Monday first) of a date, as the API names weeks: "2026-W47". */
export function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()));
  const weekday = day.getUTCDay() || 7;
  // The Thursday of the same week decides the ISO year.
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

export interface WeekTotals {
  week: string;
  workouts: number;
  calories: number;
  distanceKm: number;
  durationMin: number;
  points: number;
}

/** The last `weeks` ISO weeks up to the one holding `now`, oldest first. */
export function recentWeeks(weeks: number, now: Date): string[] {
  const names: string[] = [];
  for (let i = weeks - 1; i >= 0; i--) {
    names.push(isoWeek(new Date(now.getFullYear(), now.getMonth(), now.getDate() - 7 * i)));
  }
  return names;
}

/**
 * Totals per week of the workouts that count (processed ones; flagged and rejected ones are
 * off the boards, so off the chart), for the last `weeks` weeks, oldest first, empty weeks
 * included. Weeks are cut in the browser's time zone.
 */
export function weeklyTotals(workouts: Workout[], weeks: number, now: Date): WeekTotals[] {
  const totals = new Map<string, WeekTotals>(
    recentWeeks(weeks, now).map((week) => [
      week,
      { week, workouts: 0, calories: 0, distanceKm: 0, durationMin: 0, points: 0 },
    ]),
  );
  for (const workout of workouts) {
    if (workout.status !== "processed") continue;
    const bucket = totals.get(isoWeek(new Date(workout.started_at)));
    if (!bucket) continue;
    bucket.workouts += 1;
    bucket.calories += workout.calories;
    bucket.distanceKm += (workout.distance_m ?? 0) / 1000;
    bucket.durationMin += workout.duration_s / 60;
    bucket.points += workout.points;
  }
  return [...totals.values()];
}

// Bodies of the public interface (/work/shared/API.md); field names are the API's own.

export const ACTIVITIES = [
  "run",
  "walk",
  "hike",
  "cycle",
  "swim",
  "row",
  "strength",
  "yoga",
  "hiit",
  "other",
] as const;
export type Activity = (typeof ACTIVITIES)[number];

export const METRICS = ["points", "calories", "distance", "duration", "workouts", "active_days"] as const;
export type Metric = (typeof METRICS)[number];

export const PERIODS = ["day", "week", "month", "year", "all"] as const;
export type Period = (typeof PERIODS)[number];

export const SEXES = ["female", "male"] as const;

export interface User {
  id: string;
  username: string;
  display_name: string;
  weight_kg: number | null;
  birth_year: number | null;
  sex: string | null;
  timezone: string;
  show_on_leaderboards: boolean;
  is_admin: boolean;
  created_at: string;
}

export interface Registered {
  user: User;
  access_token: string;
  token_type: "bearer";
  expires_in: number;
}

export interface Token {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
}

export interface WorkoutIn {
  activity: Activity;
  started_at: string;
  duration_s: number;
  distance_m?: number;
  elevation_gain_m?: number;
  avg_heart_rate?: number;
  calories?: number;
  /** On a treadmill, a trainer or a rowing ergometer (API.md). */
  indoor?: boolean;
  notes?: string;
}

export interface Accepted {
  id: string;
  status: "queued";
}

export interface ImportItem {
  file: string;
  id?: string | null;
  status: "queued" | "duplicate" | "invalid";
  error?: string | null;
}

export interface Workout {
  id: string;
  status: "processed" | "flagged" | "rejected";
  activity: Activity;
  started_at: string;
  duration_s: number;
  distance_m: number | null;
  elevation_gain_m: number | null;
  avg_heart_rate: number | null;
  calories: number;
  points: number;
  notes: string | null;
  flag_reason: string | null;
  achievements: string[];
  source: "manual" | "gpx" | "tcx" | "fit";
  /** An admin's latest decision; only `GET /v1/workouts/{id}` and the admin list carry it. */
  decision?: Decision | null;
}

export type DecisionKind = "approve" | "reject";

/** An admin's latest decision on a workout, as its athlete sees it (docs/moderation.md). */
export interface Decision {
  decision: DecisionKind;
  reason: string | null;
  decided_at: string;
}

/** A workout in the admin's review list: as its athlete sees it, plus whose and who decided. */
export interface ReviewedWorkout extends Omit<Workout, "decision"> {
  user_id: string;
  decision: (Decision & { decided_by: string }) | null;
}

export interface ReviewPage {
  items: ReviewedWorkout[];
  next_cursor: string | null;
}

export interface DecisionQueued {
  id: string;
  status: "queued";
  decision_id: string;
}

export interface WorkoutPage {
  items: Workout[];
  next_cursor: string | null;
}

export interface Entry {
  rank: number;
  user_id: string;
  display_name: string;
  score: number;
}

export interface Board {
  metric: string;
  period: string;
  period_key: string;
  scope: string;
  starts_at: string | null;
  ends_at: string | null;
  total: number;
  entries: Entry[];
  next_cursor: string | null;
}

export interface Standing {
  rank: number | null;
  score: number | null;
  total: number;
  neighbors: Entry[];
}

export interface Achievement {
  id: string;
  name: string;
  description: string;
  kind: string;
  progress: number | null;
  held: boolean;
}

export interface HeldAchievement {
  id: string;
  name: string;
  awarded_at: string;
  workout_id?: string | null;
  period_key?: string | null;
}

export interface Totals {
  workouts: number;
  active_days: number;
  distance_m: number;
  duration_s: number;
  calories: number;
  points: number;
}

export interface MonthlyReport extends Totals {
  month: string;
  by_activity: Record<string, Totals>;
  best_workout: {
    id: string;
    activity: Activity;
    started_at: string;
    distance_m: number | null;
    duration_s: number;
    calories: number;
    points: number;
  } | null;
  closed: boolean;
  final_rank: number | null;
}

export interface Group {
  id: string;
  name: string;
  invite_code: string;
}

/** One of the athlete's groups, as `GET /v1/groups` lists them. */
export interface MyGroup extends Group {
  owner_id: string;
  member_count: number;
}

export interface Challenge {
  id: string;
  name: string;
  metric: Metric;
  scope: string;
  starts_at: string;
  ends_at: string;
  goal: number | null;
  created_by: string;
}

export interface ChallengeBoard extends Board {
  challenge: Challenge;
  starts_at: string;
  ends_at: string;
}

export interface DeadLetter {
  message_id: string;
  routing_key: string;
  reason: string;
  attempts: number;
  failed_at: string;
}

// Live updates (Socket.IO).
export interface BoardUpdate {
  board: string;
  period_key: string;
  entries: Entry[];
  version: number;
}

export interface RankUpdate {
  board: string;
  period_key: string;
  rank: number | null;
  previous_rank: number | null;
  score: number;
}

export interface Overtaken {
  board: string;
  period_key: string;
  rank: number;
  by: { user_id: string; display_name: string };
}

export interface WorkoutProcessed {
  id: string;
  status: string;
  calories: number;
  points: number;
}

export interface AchievementAwarded {
  id: string;
  name: string;
  awarded_at: string;
  workout_id: string | null;
}

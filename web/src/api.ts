// The HTTP half of the public interface. Every call goes to the origin that served the app.

import type {
  Accepted,
  Achievement,
  Board,
  Challenge,
  ChallengeBoard,
  DeadLetter,
  DecisionKind,
  DecisionQueued,
  Group,
  HeldAchievement,
  ImportItem,
  MonthlyReport,
  MyGroup,
  Registered,
  ReviewPage,
  Standing,
  Token,
  User,
  Workout,
  WorkoutIn,
  WorkoutPage,
} from "./types";

export type FieldErrors = Record<string, string>;

/** A refusal, with what the API said: `detail` for a person, `fields` for the form that sent it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: FieldErrors = {},
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

interface ValidationItem {
  loc?: (string | number)[];
  msg?: string;
}

/**
 * The per-field messages of a 422. FastAPI's locations are ["body", field, ...]; the
 * domain's own refusals are [where, field]; the field is the second part either way.
 */
export function fieldErrors(detail: unknown): FieldErrors {
  const fields: FieldErrors = {};
  if (!Array.isArray(detail)) return fields;
  for (const item of detail as ValidationItem[]) {
    const loc = item.loc ?? [];
    const field = loc.length > 1 ? String(loc[1]) : String(loc[0] ?? "");
    const message = (item.msg ?? "is invalid").replace(/^Value error, /, "");
    if (field && !(field in fields)) fields[field] = message;
  }
  return fields;
}

/** One sentence for a person out of any refusal body. */
export function describe(status: number, body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    const fields = fieldErrors(detail);
    const parts = Object.entries(fields).map(([field, msg]) => `${field}: ${msg}`);
    if (parts.length) return parts.join("; ");
  }
  if (status === 429) return "Too many requests; wait a moment and try again.";
  if (status >= 500) return "The server could not answer; try again in a moment.";
  return `The request was refused (${status}).`;
}

export async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page, say): the status alone tells what happened.
  }
  const detail = (body as { detail?: unknown } | null)?.detail;
  const retry = response.headers.get("Retry-After");
  return new ApiError(
    response.status,
    describe(response.status, body),
    fieldErrors(detail),
    retry === null ? null : Number(retry),
  );
}

/** Called once with every 401, so the app can send the athlete back to sign in. */
let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

let token: string | null = null;
export function setToken(value: string | null): void {
  token = value;
}

type Query = Record<string, string | number | undefined | null>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export async function request<T>(
  method: string,
  path: string,
  options: { body?: unknown; query?: Query; form?: URLSearchParams } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (options.form) {
    body = options.form;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const response = await fetch(withQuery(path, options.query), { method, headers, body });
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && token) onUnauthorized();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  register: (body: { username: string; password: string; display_name?: string }) =>
    request<Registered>("POST", "/v1/auth/register", { body }),
  signIn: (username: string, password: string) =>
    request<Token>("POST", "/v1/auth/token", {
      form: new URLSearchParams({ username, password }),
    }),
  me: () => request<User>("GET", "/v1/me"),
  updateMe: (patch: Partial<User>) => request<User>("PATCH", "/v1/me", { body: patch }),

  logWorkout: (body: WorkoutIn) => request<Accepted>("POST", "/v1/workouts", { body }),
  workouts: (cursor?: string | null, limit = 50) =>
    request<WorkoutPage>("GET", "/v1/workouts", { query: { limit, cursor } }),
  workout: (id: string) => request<Workout | Accepted>("GET", `/v1/workouts/${id}`),

  board: (metric: string, period: string, scope: string, limit = 10) =>
    request<Board>("GET", `/v1/leaderboards/${metric}/${period}`, { query: { scope, limit } }),
  standing: (metric: string, period: string, scope: string, around = 2) =>
    request<Standing>("GET", `/v1/leaderboards/${metric}/${period}/me`, {
      query: { scope, around },
    }),

  catalog: () => request<Achievement[]>("GET", "/v1/achievements"),
  myAchievements: () => request<HeldAchievement[]>("GET", "/v1/me/achievements"),
  report: (month: string) => request<MonthlyReport>("GET", `/v1/me/reports/${month}`),

  myGroups: () => request<MyGroup[]>("GET", "/v1/groups"),
  createGroup: (name: string) => request<Group>("POST", "/v1/groups", { body: { name } }),
  joinGroup: (id: string, invite_code: string) =>
    request<Group>("POST", `/v1/groups/${id}/join`, { body: { invite_code } }),
  leaveGroup: (id: string) => request<undefined>("DELETE", `/v1/groups/${id}/members/me`),

  challenges: () => request<Challenge[]>("GET", "/v1/challenges"),
  createChallenge: (body: { name: string; metric: string; starts_at: string; ends_at: string; scope: string; goal?: number }) =>
    request<Challenge>("POST", "/v1/challenges", { body }),
  challengeBoard: (id: string, limit = 10) =>
    request<ChallengeBoard>("GET", `/v1/challenges/${id}/leaderboard`, { query: { limit } }),

  deadLetters: (limit = 100) =>
    request<{ items: DeadLetter[] }>("GET", "/v1/admin/dead-letters", { query: { limit } }),
  replay: (ids?: string[]) =>
    request<{ replayed: number }>("POST", "/v1/admin/dead-letters/replay", {
      body: ids ? { ids } : {},
    }),
  flaggedWorkouts: (cursor?: string | null, limit = 20) =>
    request<ReviewPage>("GET", "/v1/admin/workouts", { query: { status: "flagged", limit, cursor } }),
  decide: (id: string, decision: DecisionKind, reason?: string) =>
    request<DecisionQueued>("POST", `/v1/admin/workouts/${id}/${decision}`, {
      body: reason ? { reason } : {},
    }),
  rebuild: () => request<{ boards: number; entries: number }>("POST", "/v1/admin/leaderboards/rebuild"),
};

export type ImportAnswer =
  | { kind: "queued"; id: string; results: ImportItem[] }
  | { kind: "duplicate"; id: string; detail: string }
  | { kind: "archive"; results: ImportItem[] };

/**
 * POST /v1/workouts/import through XMLHttpRequest, the one browser API that reports upload
 * progress (fetch does not).
 */
export function importFile(
  file: File,
  activity: string | null,
  onProgress: (fraction: number) => void,
): Promise<ImportAnswer> {
  const form = new FormData();
  form.append("file", file);
  if (activity) form.append("activity", activity);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/workouts/import");
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onerror = () => reject(new ApiError(0, "The upload failed: the server could not be reached."));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Handled below by the status.
      }
      const data = body as { id?: string; results?: ImportItem[]; detail?: unknown };
      if (xhr.status === 202 && data.id) {
        resolve({ kind: "queued", id: data.id, results: data.results ?? [] });
      } else if (xhr.status === 207) {
        resolve({ kind: "archive", results: data.results ?? [] });
      } else if (xhr.status === 409 && data.id) {
        resolve({ kind: "duplicate", id: data.id, detail: describe(409, body) });
      } else {
        if (xhr.status === 401) onUnauthorized();
        reject(new ApiError(xhr.status, describe(xhr.status, body), fieldErrors(data?.detail)));
      }
    };
    xhr.send(form);
  });
}

// My training: weekly totals over recent months and every workout with its status.

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { Alert, Card, SelectField } from "../components";
import { useApp } from "../context";
import { capitalize, formatDate, formatDistance, formatDuration } from "../format";
import { describeDecision, mayHaveDecision } from "../moderation";
import type { Workout } from "../types";
import { weeklyTotals } from "../weekly";
import { CHART_METRICS, type ChartMetric, WeeklyChart } from "../weeklyChart";

const WEEKS = 16;
// Enough pages for sixteen weeks of a busy athlete, and a bound for anyone busier.
const MAX_PAGES = 10;

async function recentWorkouts(since: Date): Promise<{ items: Workout[]; cursor: string | null }> {
  const items: Workout[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await api.workouts(cursor, 100);
    items.push(...answer.items);
    cursor = answer.next_cursor;
    const oldest = answer.items[answer.items.length - 1];
    if (!cursor || !oldest || new Date(oldest.started_at) < since) break;
  }
  return { items, cursor };
}

/**
 * The workouts with their admin's decision: the list has none, so the few that can have
 * one (moderation.mayHaveDecision) are read one by one; one that cannot be read is shown
 * without it.
 */
async function withDecisions(items: Workout[]): Promise<Workout[]> {
  return Promise.all(
    items.map(async (w) => {
      if (!mayHaveDecision(w)) return w;
      try {
        const full = await api.workout(w.id);
        return "decision" in full ? { ...w, decision: full.decision ?? null } : w;
      } catch {
        return w;
      }
    }),
  );
}

export function WorkoutsPage() {
  const { processedCount } = useApp();
  const [workouts, setWorkouts] = useState<Workout[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [metric, setMetric] = useState<ChartMetric>("calories");
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const since = new Date(Date.now() - WEEKS * 7 * 86_400_000);
    recentWorkouts(since).then(
      async ({ items: listed, cursor: next }) => {
        const items = await withDecisions(listed);
        setWorkouts(items);
        setCursor(next);
      },
      (e: unknown) => setError(e instanceof ApiError ? e.message : "Your workouts could not be read."),
    );
  }, [processedCount]);

  const more = async () => {
    if (!cursor) return;
    const answer = await api.workouts(cursor, 50);
    const items = await withDecisions(answer.items);
    setWorkouts((all) => [...(all ?? []), ...items]);
    setCursor(answer.next_cursor);
  };

  return (
    <div class="page">
      <div class="page-head">
        <h1>My training</h1>
      </div>
      {error && <Alert>{error}</Alert>}
      <Card title={`Weekly totals, last ${WEEKS} weeks`}>
        <div class="narrow">
          <SelectField label="Show" name="chart-metric" value={metric} options={CHART_METRICS} onChange={(m) => setMetric(m as ChartMetric)} />
        </div>
        {workouts && <WeeklyChart weeks={weeklyTotals(workouts, WEEKS, new Date())} metric={metric} />}
      </Card>
      <Card title="Workouts">
        {workouts === null ? (
          <p class="muted">Loading…</p>
        ) : workouts.length === 0 ? (
          <p class="empty">No workouts yet.</p>
        ) : (
          <ul class="workout-list">
            {workouts.map((w) => (
              <WorkoutItem key={w.id} workout={w} />
            ))}
          </ul>
        )}
        {cursor && (
          <button type="button" class="secondary" onClick={more}>
            Show older workouts
          </button>
        )}
      </Card>
    </div>
  );
}

const STATUS_TEXT: Record<string, string> = { processed: "Counted", flagged: "Flagged", rejected: "Rejected" };

function WorkoutItem(props: { workout: Workout }) {
  const w = props.workout;
  return (
    <li class="workout" data-status={w.status}>
      <div class="workout-main">
        <strong>{capitalize(w.activity)}</strong>
        <span class="muted">{formatDate(w.started_at)}</span>
      </div>
      <div class="workout-stats">
        <span>{formatDuration(w.duration_s)}</span>
        {w.distance_m !== null && <span>{formatDistance(w.distance_m)}</span>}
        <span>{Math.round(w.calories)} kcal</span>
        <span>{w.points} pts</span>
        {w.source !== "manual" && <span class="muted">from {w.source.toUpperCase()}</span>}
      </div>
      <span class={`status ${w.status}`}>{STATUS_TEXT[w.status] ?? w.status}</span>
      {w.flag_reason && <p class="flag-reason">Why: {w.flag_reason}</p>}
      {w.decision && (
        <p class="decision" data-decision={w.decision.decision}>
          {describeDecision(w.decision)}
        </p>
      )}
    </li>
  );
}

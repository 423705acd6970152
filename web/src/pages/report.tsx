// My monthly report: totals, by activity, the best workout and (once closed) the final rank.

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { Alert, Card, Field } from "../components";
import { useApp } from "../context";
import { capitalize, formatDate, formatDistance, formatDuration, ordinal } from "../format";
import type { MonthlyReport } from "../types";

function thisMonth(): string {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
}

export function ReportPage() {
  const { processedCount } = useApp();
  const [month, setMonth] = useState(thisMonth);
  const [report, setReport] = useState<MonthlyReport | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  useEffect(() => {
    if (!/^\d{4}-\d{2}$/.test(month)) return;
    setMessage(null);
    api.report(month).then(setReport, (e: unknown) => {
      setReport(null);
      setMessage(e instanceof ApiError ? e.message : "The report could not be read.");
    });
  }, [month, processedCount]);

  return (
    <div class="page">
      <div class="page-head">
        <h1>Monthly report</h1>
      </div>
      <form class="card selectors" onSubmit={(e) => e.preventDefault()} aria-label="Choose a month">
        <Field label="Month" name="month" input={{ type: "month", value: month, max: thisMonth(), onInput: (e) => setMonth((e.target as HTMLInputElement).value) }} />
      </form>
      {message && <Alert kind="info">{message}</Alert>}
      {report && (
        <>
          <div class="stats">
            <Stat label="Workouts" value={String(report.workouts)} />
            <Stat label="Active days" value={String(report.active_days)} />
            <Stat label="Distance" value={formatDistance(report.distance_m)} />
            <Stat label="Time" value={formatDuration(report.duration_s)} />
            <Stat label="Calories" value={`${Math.round(report.calories)} kcal`} />
            <Stat label="Points" value={String(report.points)} />
          </div>
          {report.closed && (
            <Alert kind="info">
              {report.final_rank === null ? "This month is closed." : `This month is closed: you finished ${ordinal(report.final_rank)} on the monthly points board.`}
            </Alert>
          )}
          <Card title="By activity">
            <div class="table-scroll">
            <table class="plain">
              <thead>
                <tr>
                  <th scope="col">Activity</th>
                  <th scope="col">Workouts</th>
                  <th scope="col">Distance</th>
                  <th scope="col">Time</th>
                  <th scope="col">Points</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(report.by_activity).map(([activity, t]) => (
                  <tr key={activity}>
                    <th scope="row">{capitalize(activity)}</th>
                    <td>{t.workouts}</td>
                    <td>{formatDistance(t.distance_m)}</td>
                    <td>{formatDuration(t.duration_s)}</td>
                    <td>{t.points}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            </div>
          </Card>
          {report.best_workout && (
            <Card title="Best workout">
              <p>
                {capitalize(report.best_workout.activity)} on {formatDate(report.best_workout.started_at)}: {formatDuration(report.best_workout.duration_s)}
                {report.best_workout.distance_m !== null && `, ${formatDistance(report.best_workout.distance_m)}`}, {Math.round(report.best_workout.calories)} kcal,{" "}
                {report.best_workout.points} points.
              </p>
            </Card>
          )}
        </>
      )}
    </div>
  );
}

function Stat(props: { label: string; value: string }) {
  return (
    <div class="stat card">
      <span class="stat-value">{props.value}</span>
      <span class="stat-label">{props.label}</span>
    </div>
  );
}

// Log a workout by hand, or upload a GPX, TCX or FIT file (or a .zip of them).

import { useState } from "preact/hooks";
import { api, ApiError, type FieldErrors, type ImportAnswer, importFile } from "../api";
import { Alert, Card, Field, Link, Progress, SelectField } from "../components";
import { useApp } from "../context";
import { capitalize } from "../format";
import { IndoorField } from "../indoorField";
import { ACTIVITIES } from "../types";
import { EMPTY_DRAFT, localNow, toWorkout, type WorkoutDraft } from "../workoutForm";

export function LogWorkoutPage() {
  return (
    <div class="page">
      <div class="page-head">
        <h1>Log a workout</h1>
      </div>
      <div class="columns">
        <WorkoutForm />
        <ImportForm />
      </div>
    </div>
  );
}

function WorkoutForm() {
  const { toast } = useApp();
  const [draft, setDraft] = useState<WorkoutDraft>(() => ({ ...EMPTY_DRAFT, startedAt: localNow(new Date(Date.now() - 3600_000)) }));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const input = (key: Exclude<keyof WorkoutDraft, "indoor">) => ({
    value: draft[key],
    onInput: (event: Event) => setDraft({ ...draft, [key]: (event.target as HTMLInputElement).value }),
  });

  const submit = async (event: Event) => {
    event.preventDefault();
    setMessage(null);
    const checked = toWorkout(draft);
    if (checked.errors) {
      setErrors(checked.errors);
      focusFirstError();
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      await api.logWorkout(checked.body);
      toast({ title: "Workout logged", body: "Your boards update in a moment." });
      setDraft({ ...EMPTY_DRAFT, activity: draft.activity, startedAt: draft.startedAt, indoor: draft.indoor });
    } catch (error) {
      if (error instanceof ApiError && Object.keys(error.fields).length > 0) {
        setErrors(error.fields);
        focusFirstError();
      } else {
        setMessage(error instanceof ApiError ? error.message : "The server could not be reached.");
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title="By hand">
      <form onSubmit={submit} noValidate aria-label="Log a workout" class="workout-form">
        <SelectField
          label="Activity"
          name="activity"
          value={draft.activity}
          options={ACTIVITIES.map((a) => ({ value: a, label: capitalize(a) }))}
          // Another activity starts from its own default for "Indoors".
          onChange={(activity) => setDraft({ ...draft, activity, indoor: null })}
          error={errors.activity}
        />
        <IndoorField draft={draft} onChange={(indoor) => setDraft({ ...draft, indoor })} error={errors.indoor} />
        <Field label="Started at" name="started_at" error={errors.started_at} input={{ type: "datetime-local", required: true, ...input("startedAt") }} />
        <div class="row">
          <Field label="Duration (minutes)" name="duration_s" error={errors.duration_s} input={{ type: "number", inputMode: "decimal", min: 0, step: "any", required: true, ...input("durationMin") }} />
          <Field label="Distance (km)" name="distance_m" error={errors.distance_m} input={{ type: "number", inputMode: "decimal", min: 0, step: "any", ...input("distanceKm") }} />
        </div>
        <div class="row">
          <Field label="Elevation gain (m)" name="elevation_gain_m" error={errors.elevation_gain_m} input={{ type: "number", inputMode: "decimal", min: 0, step: "any", ...input("elevationM") }} />
          <Field label="Average heart rate (bpm)" name="avg_heart_rate" error={errors.avg_heart_rate} input={{ type: "number", inputMode: "numeric", min: 25, max: 250, step: 1, ...input("heartRate") }} />
        </div>
        <Field
          label="Device calories (kcal)"
          name="calories"
          hint="Kept with the workout; boards use fitboard's own estimate."
          error={errors.calories}
          input={{ type: "number", inputMode: "decimal", min: 0, step: "any", ...input("calories") }}
        />
        <Field label="Notes" name="notes" error={errors.notes} input={{ maxLength: 2000, ...input("notes") }} />
        {message && <Alert>{message}</Alert>}
        <button type="submit" class="primary wide" disabled={busy}>
          {busy ? "Saving…" : "Log workout"}
        </button>
      </form>
    </Card>
  );
}

function focusFirstError() {
  // After the errors render, move the keyboard to the first field that has one.
  requestAnimationFrame(() => document.querySelector<HTMLElement>(".field.invalid input, .field.invalid select")?.focus());
}

function ImportForm() {
  const { toast } = useApp();
  const [file, setFile] = useState<File | null>(null);
  const [activity, setActivity] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [answer, setAnswer] = useState<ImportAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setAnswer(null);
    setError(null);
    if (!file) {
      setError("Choose a file first.");
      return;
    }
    setProgress(0);
    try {
      const result = await importFile(file, activity || null, setProgress);
      setAnswer(result);
      if (result.kind === "queued") toast({ title: "File imported", body: `${file.name} is being processed.` });
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "The upload failed.");
    } finally {
      setProgress(null);
    }
  };

  return (
    <Card title="From a file">
      <form onSubmit={submit} noValidate aria-label="Import an activity file">
        <div class="field">
          <label for="import-file">Activity file (.gpx, .tcx, .fit or .zip)</label>
          <input
            id="import-file"
            name="file"
            type="file"
            accept=".gpx,.tcx,.fit,.zip"
            onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)}
          />
        </div>
        <SelectField
          label="Activity (when the file does not say)"
          name="import-activity"
          value={activity}
          options={[{ value: "", label: "As recorded" }, ...ACTIVITIES.map((a) => ({ value: a, label: capitalize(a) }))]}
          onChange={setActivity}
        />
        {progress !== null && (
          <div class="upload-progress">
            <Progress value={progress} label="Upload progress" />
            <span class="muted">{progress < 1 ? `Uploading… ${Math.round(progress * 100)}%` : "Reading the file…"}</span>
          </div>
        )}
        {error && <Alert>{error}</Alert>}
        {answer && <ImportResult answer={answer} />}
        <button type="submit" class="primary wide" disabled={progress !== null}>
          Upload
        </button>
      </form>
    </Card>
  );
}

function ImportResult(props: { answer: ImportAnswer }) {
  const a = props.answer;
  if (a.kind === "duplicate")
    return (
      <Alert kind="info">
        {a.detail} <Link href="/workouts">See your workouts</Link>
      </Alert>
    );
  const results = a.results;
  return (
    <div role="status" class="import-results">
      {a.kind === "queued" && results.length === 0 && <p>Imported; it is being processed.</p>}
      <ul>
        {results.map((r, i) => (
          <li key={i} class={r.status}>
            <strong>{r.file}</strong>: {r.status === "queued" ? "imported" : r.status}
            {r.error && ` — ${r.error}`}
          </li>
        ))}
      </ul>
    </div>
  );
}

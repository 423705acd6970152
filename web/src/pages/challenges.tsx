// Challenges: every challenge, my progress toward its goal, and a way to its board.

import { useEffect, useState } from "preact/hooks";
import { api, ApiError, type FieldErrors } from "../api";
import { Alert, Card, Field, Link, Progress, SelectField } from "../components";
import { useApp } from "../context";
import { formatScore, METRIC_LABELS } from "../format";
import { ownedBy, useMyGroups } from "../myGroups";
import { type Challenge, METRICS } from "../types";
import { withLocalOffset } from "../workoutForm";

export function ChallengesPage() {
  const { user, processedCount } = useApp();
  const [challenges, setChallenges] = useState<Challenge[] | null>(null);
  const [scores, setScores] = useState<Map<string, number>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    api.challenges().then(
      async (all) => {
        setChallenges(all);
        const mine = new Map<string, number>();
        await Promise.all(
          all.map((c) =>
            api.challengeBoard(c.id, 100).then(
              (b) => mine.set(c.id, b.entries.find((e) => e.user_id === user.id)?.score ?? 0),
              () => undefined,
            ),
          ),
        );
        setScores(mine);
      },
      (e: unknown) => setError(e instanceof ApiError ? e.message : "Challenges could not be read."),
    );
  }, [processedCount, reload]);

  const now = Date.now();
  return (
    <div class="page">
      <div class="page-head">
        <h1>Challenges</h1>
      </div>
      {error && <Alert>{error}</Alert>}
      <Card title="All challenges">
        {challenges === null ? (
          <p class="muted">Loading…</p>
        ) : challenges.length === 0 ? (
          <p class="empty">No challenge yet.</p>
        ) : (
          <ul class="challenges">
            {challenges.map((c) => {
              const score = scores.get(c.id) ?? 0;
              const state = new Date(c.ends_at).getTime() < now ? "Ended" : new Date(c.starts_at).getTime() > now ? "Upcoming" : "Running";
              return (
                <li key={c.id} class="challenge">
                  <div class="grow">
                    <strong>{c.name}</strong> <span class={`pill ${state.toLowerCase()}`}>{state}</span>
                    <p class="muted">
                      {METRIC_LABELS[c.metric] ?? c.metric} · {new Date(c.starts_at).toLocaleDateString()} – {new Date(c.ends_at).toLocaleDateString()}
                      {c.scope !== "global" && ` · ${c.scope.startsWith("group:") ? "group challenge" : c.scope}`}
                    </p>
                    {c.goal !== null ? (
                      <>
                        <Progress value={score / c.goal} label={`Progress toward the goal of ${c.name}`} />
                        <p class="muted">
                          {formatScore(c.metric, score)} of {formatScore(c.metric, c.goal)}
                        </p>
                      </>
                    ) : (
                      <p class="muted">Your score: {formatScore(c.metric, score)}</p>
                    )}
                  </div>
                  <Link href={`/?challenge=${c.id}`} class="button secondary">
                    Board
                  </Link>
                </li>
              );
            })}
          </ul>
        )}
      </Card>
      <CreateChallenge onCreated={() => setReload((n) => n + 1)} />
    </div>
  );
}

/** Admins may create any challenge, group owners one for their group; the API decides. */
function CreateChallenge(props: { onCreated(): void }) {
  const { user, toast } = useApp();
  // Only a group's owner may create a challenge for it.
  const groups = ownedBy(useMyGroups().groups ?? [], user.id);
  const [name, setName] = useState("");
  const [metric, setMetric] = useState("distance");
  const [startsAt, setStartsAt] = useState("");
  const [endsAt, setEndsAt] = useState("");
  const [goal, setGoal] = useState("");
  const [scope, setScope] = useState("global");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setMessage(null);
    const found: FieldErrors = {};
    if (!name.trim()) found.name = "give the challenge a name";
    const starts = withLocalOffset(startsAt);
    const ends = withLocalOffset(endsAt);
    if (!starts) found.starts_at = "when does it start?";
    if (!ends) found.ends_at = "when does it end?";
    const goalValue = goal.trim() === "" ? null : Number(goal);
    if (goalValue !== null && (!Number.isInteger(goalValue) || goalValue <= 0)) found.goal = "must be a whole number above 0";
    setErrors(found);
    if (Object.keys(found).length > 0 || !starts || !ends) return;
    try {
      await api.createChallenge({ name: name.trim(), metric, starts_at: starts, ends_at: ends, scope, ...(goalValue === null ? {} : { goal: goalValue }) });
      toast({ title: `Challenge "${name.trim()}" created` });
      setName("");
      props.onCreated();
    } catch (e) {
      if (e instanceof ApiError) {
        setErrors(e.fields);
        if (Object.keys(e.fields).length === 0) setMessage(e.status === 403 ? "Only admins, or a group's owner for that group, may create challenges." : e.message);
      }
    }
  };

  return (
    <Card title="Create a challenge">
      <form onSubmit={submit} noValidate aria-label="Create a challenge">
        <Field label="Name" name="name" error={errors.name} input={{ value: name, maxLength: 80, onInput: (e) => setName((e.target as HTMLInputElement).value) }} />
        <div class="row">
          <SelectField label="Metric" name="metric" value={metric} options={METRICS.map((m) => ({ value: m, label: METRIC_LABELS[m] ?? m }))} onChange={setMetric} error={errors.metric} />
          <SelectField
            label="Who takes part"
            name="scope"
            value={scope}
            options={[{ value: "global", label: "Everyone" }, ...groups.map((g) => ({ value: `group:${g.id}`, label: g.name }))]}
            onChange={setScope}
            error={errors.scope}
          />
        </div>
        <div class="row">
          <Field label="Starts" name="starts_at" error={errors.starts_at} input={{ type: "datetime-local", value: startsAt, onInput: (e) => setStartsAt((e.target as HTMLInputElement).value) }} />
          <Field label="Ends" name="ends_at" error={errors.ends_at} input={{ type: "datetime-local", value: endsAt, onInput: (e) => setEndsAt((e.target as HTMLInputElement).value) }} />
        </div>
        <Field label="Goal (optional, in the metric's unit: kcal, metres, seconds or a count)" name="goal" error={errors.goal} input={{ type: "number", step: 1, min: 1, value: goal, onInput: (e) => setGoal((e.target as HTMLInputElement).value) }} />
        {message && <Alert>{message}</Alert>}
        <button type="submit" class="primary">
          Create challenge
        </button>
      </form>
    </Card>
  );
}

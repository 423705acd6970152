// Administration: flagged workouts (approve, reject), dead letters (list, replay) and
// rebuilding the boards from the record.

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { Alert, Card, Field } from "../components";
import { useApp } from "../context";
import { capitalize, formatDate, formatDistance, formatDuration } from "../format";
import { appendPage, decisionError } from "../moderation";
import type { DeadLetter, DecisionKind, ReviewedWorkout } from "../types";

export function AdminPage() {
  const { toast } = useApp();
  const [letters, setLetters] = useState<DeadLetter[] | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = () =>
    api.deadLetters().then(
      (answer) => {
        setLetters(answer.items);
        setSelected(new Set());
      },
      (e: unknown) => setError(e instanceof ApiError ? e.message : "Dead letters could not be read."),
    );
  useEffect(() => {
    load();
  }, []);

  const act = async (work: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    try {
      toast({ title: await work() });
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "The server could not be reached.");
    } finally {
      setBusy(false);
    }
  };

  const toggle = (id: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <div class="page">
      <div class="page-head">
        <h1>Administration</h1>
      </div>
      {error && <Alert>{error}</Alert>}
      <FlaggedWorkouts />
      <Card title="Leaderboards">
        <p>Drop every board and load it again from the record of workouts.</p>
        <button
          type="button"
          class="secondary"
          disabled={busy}
          onClick={() => act(async () => {
            const r = await api.rebuild();
            return `Rebuilt ${r.boards} boards (${r.entries} entries)`;
          })}
        >
          Rebuild leaderboards
        </button>
      </Card>
      <Card title="Dead letters">
        {letters === null ? (
          <p class="muted">Loading…</p>
        ) : letters.length === 0 ? (
          <p class="empty">No dead letters: every message was processed.</p>
        ) : (
          <>
            <div class="table-scroll">
              <table class="plain">
                <thead>
                  <tr>
                    <th scope="col">
                      <span class="visually-hidden">Select</span>
                    </th>
                    <th scope="col">Message</th>
                    <th scope="col">Queue</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">Failed at</th>
                  </tr>
                </thead>
                <tbody>
                  {letters.map((l) => (
                    <tr key={l.message_id}>
                      <td>
                        <input type="checkbox" aria-label={`Select ${l.message_id}`} checked={selected.has(l.message_id)} onChange={() => toggle(l.message_id)} />
                      </td>
                      <td>
                        <code>{l.message_id}</code>
                      </td>
                      <td>{l.routing_key}</td>
                      <td>{l.reason}</td>
                      <td>{l.attempts}</td>
                      <td>{formatDate(l.failed_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div class="actions">
              <button
                type="button"
                class="primary"
                disabled={busy || selected.size === 0}
                onClick={() => act(async () => `Replayed ${(await api.replay([...selected])).replayed} messages`)}
              >
                Replay selected
              </button>
              <button type="button" class="secondary" disabled={busy} onClick={() => act(async () => `Replayed ${(await api.replay()).replayed} messages`)}>
                Replay all
              </button>
            </div>
          </>
        )}
      </Card>
    </div>
  );
}

/** `GET /v1/admin/workouts?status=flagged`, page by page, each with Approve and Reject. */
export function FlaggedWorkouts() {
  const { toast } = useApp();
  const [items, setItems] = useState<ReviewedWorkout[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [queued, setQueued] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  const readError = (e: unknown) => setError(e instanceof ApiError ? e.message : "Flagged workouts could not be read.");

  const refresh = async () => {
    setLoading(true);
    try {
      const page = await api.flaggedWorkouts();
      setItems(page.items);
      setCursor(page.next_cursor);
    } catch (e) {
      readError(e);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void refresh();
  }, []);

  const more = async () => {
    if (!cursor) return;
    setLoading(true);
    try {
      const page = await api.flaggedWorkouts(cursor);
      setItems((shown) => appendPage(shown ?? [], page.items));
      setCursor(page.next_cursor);
    } catch (e) {
      readError(e);
    } finally {
      setLoading(false);
    }
  };

  const decide = async (id: string, kind: DecisionKind, reason: string) => {
    setError(null);
    try {
      await api.decide(id, kind, reason.trim() || undefined);
      setQueued((current) => new Set(current).add(id));
      toast({ title: kind === "approve" ? "Approval queued" : "Rejection queued" });
      await refresh();
    } catch (e) {
      setError(decisionError(e, kind));
    }
  };

  return (
    <Card title="Flagged workouts">
      {error && <Alert>{error}</Alert>}
      {items === null ? (
        <p class="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p class="empty">No flagged workouts: nothing waits for a review.</p>
      ) : (
        <ul class="workout-list" aria-label="Flagged workouts">
          {items.map((w) => (
            <FlaggedItem key={w.id} workout={w} queued={queued.has(w.id)} onDecide={decide} />
          ))}
        </ul>
      )}
      <div class="actions">
        {cursor && (
          <button type="button" class="secondary" disabled={loading} onClick={() => void more()}>
            Load more
          </button>
        )}
        <button type="button" class="secondary" disabled={loading} onClick={() => void refresh()}>
          Refresh
        </button>
      </div>
    </Card>
  );
}

function FlaggedItem(props: {
  workout: ReviewedWorkout;
  queued: boolean;
  onDecide: (id: string, kind: DecisionKind, reason: string) => Promise<void>;
}) {
  const w = props.workout;
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const decide = async (kind: DecisionKind) => {
    setBusy(true);
    try {
      await props.onDecide(w.id, kind, reason);
    } finally {
      setBusy(false);
    }
  };
  return (
    <li class="workout flagged-review" data-workout-id={w.id} data-user-id={w.user_id}>
      <div class="workout-main">
        <strong>{capitalize(w.activity)}</strong>
        <span class="muted">{formatDate(w.started_at)}</span>
      </div>
      <div class="workout-stats">
        <span>{formatDuration(w.duration_s)}</span>
        {w.distance_m !== null && <span>{formatDistance(w.distance_m)}</span>}
      </div>
      {props.queued ? (
        <span class="status" data-queued>
          queued
        </span>
      ) : (
        <span class="status flagged">Flagged</span>
      )}
      {w.flag_reason && <p class="flag-reason">Why: {w.flag_reason}</p>}
      <div class="review">
        <Field
          label="Reason (optional, shown to the athlete)"
          name="reason"
          input={{ type: "text", maxLength: 500, value: reason, onInput: (e) => setReason((e.target as HTMLInputElement).value) }}
        />
        <div class="actions">
          <button type="button" class="primary" disabled={busy || props.queued} onClick={() => void decide("approve")}>
            Approve
          </button>
          <button type="button" class="secondary" disabled={busy || props.queued} onClick={() => void decide("reject")}>
            Reject
          </button>
        </div>
      </div>
    </li>
  );
}

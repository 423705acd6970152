// Administration: dead letters (list, replay) and rebuilding the boards from the record.

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { Alert, Card } from "../components";
import { useApp } from "../context";
import { formatDate } from "../format";
import type { DeadLetter } from "../types";

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

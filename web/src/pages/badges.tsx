// My badges: what I hold, and how far I am from the ones I do not.

import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { Alert, Card, Progress } from "../components";
import { useApp } from "../context";
import { formatDate } from "../format";
import type { Achievement, HeldAchievement } from "../types";

export function BadgesPage() {
  const { processedCount } = useApp();
  const [catalog, setCatalog] = useState<Achievement[] | null>(null);
  const [held, setHeld] = useState<HeldAchievement[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    Promise.all([api.catalog(), api.myAchievements()]).then(
      ([all, mine]) => {
        setCatalog(all);
        setHeld(mine);
      },
      (e: unknown) => setError(e instanceof ApiError ? e.message : "Badges could not be read."),
    );
  }, [processedCount]);

  const earnedAt = new Map<string, string>();
  for (const h of held) if (!earnedAt.has(h.id)) earnedAt.set(h.id, h.awarded_at);
  const earned = catalog?.filter((a) => a.held) ?? [];
  // The nearest next badges first.
  const next = (catalog?.filter((a) => !a.held) ?? []).sort((a, b) => (b.progress ?? -1) - (a.progress ?? -1));

  return (
    <div class="page">
      <div class="page-head">
        <h1>My badges</h1>
        {catalog && (
          <span class="muted">
            {earned.length} of {catalog.length} earned
          </span>
        )}
      </div>
      {error && <Alert>{error}</Alert>}
      <Card title="Earned">
        {earned.length === 0 ? (
          <p class="empty">No badge yet: your first workout earns one.</p>
        ) : (
          <ul class="badges">
            {earned.map((a) => (
              <li key={a.id} class="badge earned" data-badge={a.id}>
                <span class="badge-icon" aria-hidden="true">
                  ★
                </span>
                <div>
                  <strong>{a.name}</strong>
                  <p>{a.description}</p>
                  {earnedAt.has(a.id) && <p class="muted">Earned {formatDate(earnedAt.get(a.id)!)}</p>}
                </div>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card title="Next up">
        <ul class="badges">
          {next.map((a) => (
            <li key={a.id} class="badge">
              <span class="badge-icon locked" aria-hidden="true">
                ☆
              </span>
              <div class="grow">
                <strong>{a.name}</strong>
                <p>{a.description}</p>
                {a.progress !== null && (
                  <>
                    <Progress value={a.progress} label={`Progress toward ${a.name}`} />
                    <p class="muted">{Math.round(a.progress * 100)}% there</p>
                  </>
                )}
              </div>
            </li>
          ))}
        </ul>
      </Card>
    </div>
  );
}

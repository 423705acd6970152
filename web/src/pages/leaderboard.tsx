// The leaderboard: choose a metric, a period and a scope; the board follows live.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { BoardTable } from "../boardTable";
import { boardName, type Move, rankMoves, withAroundMe } from "../boards";
import { Alert, Progress, SelectField } from "../components";
import { useApp } from "../context";
import { capitalize, formatScore, METRIC_LABELS, ordinal, PERIOD_LABELS } from "../format";
import { challengeBoard } from "../live";
import { useMyGroups } from "../myGroups";
import { ACTIVITIES, type Challenge, type Entry, METRICS, PERIODS, type Standing } from "../types";

type ScopeKind = "global" | "activity" | "group" | "challenge";

interface Selection {
  metric: string;
  period: string;
  kind: ScopeKind;
  activity: string;
  group: string;
  challenge: string;
}

const SAVED = "fitboard.board";

function initialSelection(): Selection {
  const fallback: Selection = { metric: "points", period: "week", kind: "global", activity: "run", group: "", challenge: "" };
  const query = new URLSearchParams(location.search);
  try {
    const saved = JSON.parse(sessionStorage.getItem(SAVED) ?? "{}") as Partial<Selection>;
    const selection = { ...fallback, ...saved };
    const challenge = query.get("challenge");
    const group = query.get("group");
    if (challenge) return { ...selection, kind: "challenge", challenge };
    if (group) return { ...selection, kind: "group", group };
    return selection;
  } catch {
    return fallback;
  }
}

export function LeaderboardPage() {
  const [selection, setSelection] = useState<Selection>(initialSelection);
  const [challenges, setChallenges] = useState<Challenge[]>([]);
  const mine = useMyGroups();
  const groups = mine.groups ?? [];

  useEffect(() => {
    api.challenges().then(setChallenges, () => setChallenges([]));
  }, []);
  useEffect(() => sessionStorage.setItem(SAVED, JSON.stringify(selection)), [selection]);

  const set = (patch: Partial<Selection>) => setSelection((s) => ({ ...s, ...patch }));
  const scopeOptions = [
    { value: "global", label: "Everyone" },
    { value: "activity", label: "One activity" },
    { value: "group", label: "My groups" },
    { value: "challenge", label: "Challenges" },
  ];

  let scope: string | null = "global";
  if (selection.kind === "activity") scope = `activity:${selection.activity}`;
  if (selection.kind === "group") scope = groups.some((g) => g.id === selection.group) ? `group:${selection.group}` : null;
  const challenge = challenges.find((c) => c.id === selection.challenge) ?? null;

  return (
    <div class="page">
      <div class="page-head">
        <h1>Leaderboard</h1>
      </div>
      <form class="card selectors" aria-label="Choose a board" onSubmit={(e) => e.preventDefault()}>
        {selection.kind !== "challenge" && (
          <>
            <SelectField
              label="Metric"
              name="metric"
              value={selection.metric}
              options={METRICS.map((m) => ({ value: m, label: METRIC_LABELS[m] ?? m }))}
              onChange={(metric) => set({ metric })}
            />
            <SelectField
              label="Period"
              name="period"
              value={selection.period}
              options={PERIODS.map((p) => ({ value: p, label: PERIOD_LABELS[p] ?? p }))}
              onChange={(period) => set({ period })}
            />
          </>
        )}
        <SelectField label="Scope" name="scope" value={selection.kind} options={scopeOptions} onChange={(kind) => set({ kind: kind as ScopeKind })} />
        {selection.kind === "activity" && (
          <SelectField
            label="Activity"
            name="activity"
            value={selection.activity}
            options={ACTIVITIES.map((a) => ({ value: a, label: capitalize(a) }))}
            onChange={(activity) => set({ activity })}
          />
        )}
        {selection.kind === "group" && groups.length > 0 && (
          <SelectField
            label="Group"
            name="group"
            value={selection.group}
            options={[{ value: "", label: "Choose a group" }, ...groups.map((g) => ({ value: g.id, label: g.name }))]}
            onChange={(group) => set({ group })}
          />
        )}
        {selection.kind === "challenge" && challenges.length > 0 && (
          <SelectField
            label="Challenge"
            name="challenge"
            value={selection.challenge}
            options={[{ value: "", label: "Choose a challenge" }, ...challenges.map((c) => ({ value: c.id, label: c.name }))]}
            onChange={(id) => set({ challenge: id })}
          />
        )}
      </form>
      {selection.kind === "group" && mine.error && <Alert>{mine.error}</Alert>}
      {selection.kind === "group" && mine.groups?.length === 0 && (
        <Alert kind="info">You are in no group yet. Create or join one on the Groups page.</Alert>
      )}
      {selection.kind === "challenge" && challenges.length === 0 && <Alert kind="info">There are no challenges yet.</Alert>}
      {selection.kind === "challenge"
        ? challenge && <ChallengeBoardView key={challenge.id} challenge={challenge} />
        : scope && <LiveBoard key={`${selection.metric}/${selection.period}/${scope}`} metric={selection.metric} period={selection.period} scope={scope} />}
    </div>
  );
}

function LiveBoard(props: { metric: string; period: string; scope: string }) {
  const { user, live, processedCount } = useApp();
  const [top, setTop] = useState<Entry[] | null>(null);
  const [standing, setStanding] = useState<Standing | null>(null);
  const [periodKey, setPeriodKey] = useState<string>("");
  const [total, setTotal] = useState(0);
  const [moves, setMoves] = useState<Map<string, Move>>(new Map());
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const previous = useRef<Entry[]>([]);
  const board = boardName(props.metric, props.period, props.scope);

  const refreshStanding = () =>
    api.standing(props.metric, props.period, props.scope).then(
      (s) => {
        setStanding(s);
        setTotal(s.total);
      },
      () => undefined,
    );

  const show = (entries: Entry[]) => {
    setMoves(rankMoves(previous.current, entries));
    previous.current = entries;
    setTop(entries);
    setVersion((v) => v + 1);
  };

  useEffect(() => {
    let gone = false;
    api.board(props.metric, props.period, props.scope).then(
      (b) => {
        if (gone) return;
        setPeriodKey(b.period_key);
        setTotal(b.total);
        // A live snapshot may have come first; it is at least as new.
        if (previous.current.length === 0) show(b.entries);
      },
      (e: unknown) => !gone && setError(e instanceof ApiError ? e.message : "The board could not be read."),
    );
    refreshStanding();
    const stop = live.follow(board, (update) => {
      setPeriodKey(update.period_key);
      show(update.entries);
      refreshStanding();
    });
    return () => {
      gone = true;
      stop();
    };
  }, [board]);

  useEffect(() => {
    if (processedCount > 0) refreshStanding();
  }, [processedCount]);

  if (error) return <Alert>{error}</Alert>;
  const rows = withAroundMe(top ?? [], standing?.neighbors ?? []);
  const title = `${METRIC_LABELS[props.metric] ?? props.metric} · ${PERIOD_LABELS[props.period] ?? props.period}`;
  return (
    <section class="card board-card" aria-labelledby="board-title" aria-busy={top === null}>
      <div class="board-head">
        <h2 id="board-title">{title}</h2>
        <span class="muted">
          {periodKey} · {total} {total === 1 ? "athlete" : "athletes"}
        </span>
      </div>
      <MyStanding metric={props.metric} standing={standing} />
      {top === null ? (
        <p class="muted">Loading…</p>
      ) : top.length === 0 ? (
        <p class="empty">Nobody is on this board yet. Log a workout to take the lead!</p>
      ) : (
        <BoardTable caption={title} metric={props.metric} top={rows.top} around={rows.around} me={user.id} moves={moves} version={version} />
      )}
    </section>
  );
}

function MyStanding(props: { metric: string; standing: Standing | null }) {
  const s = props.standing;
  if (!s) return null;
  return (
    <p class="my-standing" data-my-rank={s.rank ?? ""}>
      {s.rank === null ? (
        "You have no score on this board yet."
      ) : (
        <>
          You are <strong>{ordinal(s.rank)}</strong> of {s.total} with {formatScore(props.metric, s.score ?? 0)}.
        </>
      )}
    </p>
  );
}

// A challenge's board follows live like a calendar board: its room's snapshot on
// subscribe, then one each time a workout moves it (the top 10, as on every live board).
// The athlete's own score, for the goal, is read over HTTP when one of their workouts is
// processed (only their workouts change it), so it is right even outside the top 10.
const SNAPSHOT_SIZE = 10;
const MY_SCORE_WITHIN = 100;

function ChallengeBoardView(props: { challenge: Challenge }) {
  const { user, live, processedCount } = useApp();
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [myScore, setMyScore] = useState<number | null>(null);
  const [moves, setMoves] = useState<Map<string, Move>>(new Map());
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const previous = useRef<Entry[]>([]);
  const c = props.challenge;

  const show = (shown: Entry[]) => {
    setMoves(rankMoves(previous.current, shown));
    previous.current = shown;
    setEntries(shown);
    setVersion((v) => v + 1);
  };

  useEffect(() => {
    let gone = false;
    api.challengeBoard(c.id, SNAPSHOT_SIZE).then(
      (b) => {
        // A live snapshot may have come first; it is at least as new.
        if (!gone && previous.current.length === 0) show(b.entries);
      },
      (e: unknown) => !gone && setError(e instanceof ApiError ? e.message : "The challenge could not be read."),
    );
    const stop = live.follow(challengeBoard(c.id), (update) => show(update.entries));
    return () => {
      gone = true;
      stop();
    };
  }, [c.id]);

  useEffect(() => {
    if (c.goal === null) return;
    api.challengeBoard(c.id, MY_SCORE_WITHIN).then(
      (b) => setMyScore(b.entries.find((e) => e.user_id === user.id)?.score ?? 0),
      () => undefined,
    );
  }, [c.id, processedCount]);

  if (error) return <Alert>{error}</Alert>;
  const score = myScore ?? entries?.find((e) => e.user_id === user.id)?.score ?? 0;
  return (
    <section class="card board-card" aria-labelledby="board-title">
      <div class="board-head">
        <h2 id="board-title">{c.name}</h2>
        <span class="muted">
          {METRIC_LABELS[c.metric] ?? c.metric} · {new Date(c.starts_at).toLocaleDateString()} – {new Date(c.ends_at).toLocaleDateString()}
        </span>
      </div>
      {c.goal !== null && (
        <div class="goal">
          <p>
            Goal: {formatScore(c.metric, c.goal)} · you: {formatScore(c.metric, score)}
          </p>
          <Progress value={score / c.goal} label={`Progress toward the goal of ${c.name}`} />
        </div>
      )}
      {entries === null ? (
        <p class="muted">Loading…</p>
      ) : entries.length === 0 ? (
        <p class="empty">No scores yet in this challenge.</p>
      ) : (
        <BoardTable caption={c.name} metric={c.metric} top={entries} around={[]} me={user.id} moves={moves} version={version} />
      )}
    </section>
  );
}

// A board's rows, with the athlete's own row highlighted, ties marked, and rows that
// changed place sliding to their new place (FLIP: measure, then animate the difference).

import { useLayoutEffect, useRef } from "preact/hooks";
import { type Move, tiedRanks } from "./boards";
import { formatScore } from "./format";
import type { Entry } from "./types";

const MOVE_TEXT: Record<Move, string> = { up: "moved up", down: "moved down", new: "new on the board" };
const MOVE_ICON: Record<Move, string> = { up: "▲", down: "▼", new: "★" };

export function BoardTable(props: {
  caption: string;
  metric: string;
  top: Entry[];
  around: Entry[];
  me: string;
  moves: Map<string, Move>;
  /** Changes whenever a new snapshot arrives, so the move highlights play again. */
  version: number;
}) {
  const rows = useRef(new Map<string, HTMLTableRowElement>());
  const positions = useRef(new Map<string, number>());

  useLayoutEffect(() => {
    const reduced = typeof matchMedia !== "function" || matchMedia("(prefers-reduced-motion: reduce)").matches;
    const next = new Map<string, number>();
    for (const [id, row] of rows.current) {
      const top = row.offsetTop;
      next.set(id, top);
      const before = positions.current.get(id);
      if (!reduced && before !== undefined && before !== top && typeof row.animate === "function") {
        row.animate([{ transform: `translateY(${before - top}px)` }, { transform: "translateY(0)" }], {
          duration: 600,
          easing: "cubic-bezier(.2,.8,.2,1)",
        });
      }
    }
    positions.current = next;
  }, [props.version, props.top, props.around]);

  const all = [...props.top, ...props.around];
  const ties = tiedRanks(all);
  const register = (id: string) => (element: HTMLTableRowElement | null) => {
    if (element) rows.current.set(id, element);
    else rows.current.delete(id);
  };

  const row = (entry: Entry) => {
    const mine = entry.user_id === props.me;
    const move = props.moves.get(entry.user_id);
    return (
      <tr
        key={entry.user_id}
        ref={register(entry.user_id)}
        class={`${mine ? "me" : ""} ${move ? `moved-${move}` : ""}`}
        data-user-id={entry.user_id}
        data-rank={entry.rank}
        data-move={move}
      >
        <td class="rank">
          <span class={`rank-badge r${Math.min(entry.rank, 4)}`}>
            {ties.has(entry.rank) ? "=" : ""}
            {entry.rank}
          </span>
          {ties.has(entry.rank) && <span class="visually-hidden"> (tied)</span>}
        </td>
        <td class="name">
          {entry.display_name}
          {mine && <span class="you-tag">you</span>}
          {move && (
            <span class={`move ${move}`} title={MOVE_TEXT[move]}>
              <span aria-hidden="true">{MOVE_ICON[move]}</span>
              <span class="visually-hidden"> {MOVE_TEXT[move]}</span>
            </span>
          )}
        </td>
        <td class="score">{formatScore(props.metric, entry.score)}</td>
      </tr>
    );
  };

  return (
    <table class="board">
      <caption class="visually-hidden">{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">Rank</th>
          <th scope="col">Athlete</th>
          <th scope="col" class="score">
            Score
          </th>
        </tr>
      </thead>
      <tbody>
        {props.top.map(row)}
        {props.around.length > 0 && (
          <tr class="gap" aria-hidden="true">
            <td colSpan={3}>⋯</td>
          </tr>
        )}
        {props.around.map(row)}
      </tbody>
    </table>
  );
}

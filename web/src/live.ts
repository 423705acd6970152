// The Socket.IO half of the public interface: one connection per signed-in tab.
//
// Board subscriptions are remembered here and sent again on every (re)connect; the server
// answers each subscribe with a snapshot, which is how a board recovers by itself after a
// dropped connection without a reload. A board is a calendar board
// ("<metric>/<period>/<scope>") or a challenge's ("challenge:<id>", `challengeBoard`).

import { io, type Socket } from "socket.io-client";
import type {
  AchievementAwarded,
  BoardUpdate,
  Overtaken,
  RankUpdate,
  WorkoutProcessed,
} from "./types";

export type LiveStatus = "connecting" | "live" | "offline";

export interface LiveHandlers {
  status(status: LiveStatus): void;
  rank(update: RankUpdate): void;
  overtaken(event: Overtaken): void;
  processed(event: WorkoutProcessed): void;
  achievement(event: AchievementAwarded): void;
  refused(message: string): void;
}

type BoardListener = (update: BoardUpdate) => void;

const CHALLENGE = "challenge:";

/** A challenge's board, as `leaderboard:update` names it. */
export function challengeBoard(challengeId: string): string {
  return `${CHALLENGE}${challengeId}`;
}

/** What `subscribe` and `unsubscribe` send for a board. */
export function subscription(board: string): { board: string } | { challenge: string } {
  return board.startsWith(CHALLENGE) ? { challenge: board.slice(CHALLENGE.length) } : { board };
}

export class Live {
  private readonly socket: Socket;
  private readonly boards = new Map<string, Set<BoardListener>>();

  constructor(token: string, handlers: LiveHandlers) {
    this.socket = io({ auth: { token }, transports: ["websocket", "polling"] });
    handlers.status("connecting");
    this.socket.on("connect", () => {
      handlers.status("live");
      for (const board of this.boards.keys()) this.sendSubscribe(board);
    });
    this.socket.on("disconnect", () => handlers.status("offline"));
    this.socket.on("connect_error", (error: Error) => {
      handlers.status("offline");
      // A refused token is final (the client does not retry it); a network error is retried.
      if (!this.socket.active) handlers.refused(error.message);
    });
    this.socket.on("leaderboard:update", (update: BoardUpdate) => {
      for (const listener of this.boards.get(update.board) ?? []) listener(update);
    });
    this.socket.on("rank:update", (update: RankUpdate) => handlers.rank(update));
    this.socket.on("rank:overtaken", (event: Overtaken) => handlers.overtaken(event));
    this.socket.on("workout:processed", (event: WorkoutProcessed) => handlers.processed(event));
    this.socket.on("achievement:awarded", (event: AchievementAwarded) => handlers.achievement(event));
  }

  /** Follow a board; `listener` gets a snapshot now (and after any reconnect), then every change. */
  follow(board: string, listener: BoardListener): () => void {
    let listeners = this.boards.get(board);
    if (!listeners) {
      listeners = new Set();
      this.boards.set(board, listeners);
      if (this.socket.connected) this.sendSubscribe(board);
    }
    listeners.add(listener);
    return () => {
      const current = this.boards.get(board);
      current?.delete(listener);
      if (current && current.size === 0) {
        this.boards.delete(board);
        if (this.socket.connected) this.socket.emit("unsubscribe", subscription(board));
      }
    };
  }

  close(): void {
    this.socket.disconnect();
  }

  private sendSubscribe(board: string): void {
    this.socket.emit("subscribe", subscription(board), (ack: { ok: boolean; error?: string }) => {
      if (!ack.ok) console.warn(`subscribing to ${board} was refused: ${ack.error ?? "no reason"}`);
    });
  }
}

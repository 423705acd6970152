// What every page can reach: the athlete, the live connection and the toasts.

import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Live, LiveStatus } from "./live";
import type { User } from "./types";

export interface ToastInput {
  title: string;
  body?: string;
  kind?: "badge" | "overtaken" | "info" | "error";
}

export interface AppState {
  user: User;
  live: Live;
  liveStatus: LiveStatus;
  toast(toast: ToastInput): void;
  setUser(user: User): void;
  signOut(): void;
  /** Bumped on each of the athlete's processed workouts, so pages showing totals reload. */
  processedCount: number;
}

export const App = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(App);
  if (!state) throw new Error("useApp outside the signed-in app");
  return state;
}

// The app: signed out, the sign-in page; signed in, the shell with its pages and the live
// connection that feeds them.

import { useEffect, useMemo, useState } from "preact/hooks";
import { api, setToken, whenUnauthorized } from "./api";
import { App, type AppState } from "./context";
import { Live, type LiveStatus } from "./live";
import { Shell } from "./shell";
import { clearSession, loadSession, saveSession } from "./session";
import { SignIn } from "./pages/signIn";
import { Toasts, useToasts } from "./toasts";
import type { User } from "./types";
import { ordinal } from "./format";

export function Root() {
  const [token, setTokenState] = useState<string | null>(() => loadSession()?.token ?? null);
  const [user, setUser] = useState<User | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { toasts, push, dismiss } = useToasts();

  setToken(token);

  const signOut = (reason?: string) => {
    clearSession();
    setToken(null);
    setTokenState(null);
    setUser(null);
    setNotice(reason ?? null);
  };

  useEffect(() => {
    whenUnauthorized(() => signOut("Your session has ended; please sign in again."));
  }, []);

  useEffect(() => {
    if (!token) return;
    api.me().then(setUser, () => undefined);
  }, [token]);

  const signedIn = (accessToken: string, expiresIn: number, known?: User) => {
    saveSession(accessToken, expiresIn);
    setToken(accessToken);
    setNotice(null);
    setTokenState(accessToken);
    if (known) setUser(known);
  };

  if (!token) {
    return (
      <>
        <SignIn onSignedIn={signedIn} notice={notice} />
        <Toasts toasts={toasts} dismiss={dismiss} />
      </>
    );
  }
  if (!user) {
    return (
      <main class="loading" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  }
  return (
    <>
      <SignedIn token={token} user={user} setUser={setUser} signOut={() => signOut()} toast={push} />
      <Toasts toasts={toasts} dismiss={dismiss} />
    </>
  );
}

function SignedIn(props: {
  token: string;
  user: User;
  setUser(user: User): void;
  signOut(): void;
  toast: AppState["toast"];
}) {
  const [liveStatus, setLiveStatus] = useState<LiveStatus>("connecting");
  const [processedCount, setProcessedCount] = useState(0);
  const { toast } = props;
  const live = useMemo(
    () =>
      new Live(props.token, {
        status: setLiveStatus,
        rank: () => undefined,
        overtaken: (event) =>
          toast({
            kind: "overtaken",
            title: `${event.by.display_name} overtook you`,
            body: `You are now ${ordinal(event.rank)} on ${event.board.replaceAll("/", " · ")}.`,
          }),
        processed: (event) => {
          setProcessedCount((n) => n + 1);
          if (event.status === "flagged")
            toast({ kind: "error", title: "Workout flagged", body: "It is kept off the boards until an admin reviews it." });
        },
        achievement: (event) => toast({ kind: "badge", title: `Badge earned: ${event.name}` }),
        refused: (message) => toast({ kind: "error", title: "Live updates refused", body: message }),
      }),
    [props.token],
  );
  useEffect(() => () => live.close(), [live]);

  const state: AppState = {
    user: props.user,
    live,
    liveStatus,
    toast,
    setUser: props.setUser,
    signOut: props.signOut,
    processedCount,
  };
  return (
    <App.Provider value={state}>
      <Shell />
    </App.Provider>
  );
}

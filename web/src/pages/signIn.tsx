// Sign in, or sign up: the two ways into the app.

import { useState } from "preact/hooks";
import { api, ApiError, type FieldErrors } from "../api";
import { Alert, Field } from "../components";
import type { User } from "../types";

export function SignIn(props: {
  onSignedIn(token: string, expiresIn: number, user?: User): void;
  notice: string | null;
}) {
  const [mode, setMode] = useState<"in" | "up">("in");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setMessage(null);
    try {
      if (mode === "up") {
        const body: { username: string; password: string; display_name?: string } = { username, password };
        if (displayName.trim()) body.display_name = displayName.trim();
        const registered = await api.register(body);
        props.onSignedIn(registered.access_token, registered.expires_in, registered.user);
      } else {
        const token = await api.signIn(username, password);
        props.onSignedIn(token.access_token, token.expires_in);
      }
    } catch (error) {
      if (error instanceof ApiError) {
        setErrors(error.fields);
        if (Object.keys(error.fields).length === 0) {
          setMessage(error.status === 401 ? "Wrong username or password." : error.message);
        }
      } else {
        setMessage("The server could not be reached.");
      }
    } finally {
      setBusy(false);
    }
  };

  const switchTo = (next: "in" | "up") => {
    setMode(next);
    setErrors({});
    setMessage(null);
  };

  return (
    <main class="auth" id="main">
      <div class="auth-hero">
        <p class="brand big">
          <span class="brand-mark" aria-hidden="true">
            ▲
          </span>
          fitboard
        </p>
        <p class="tagline">Log a workout, watch the board move. Live leaderboards, badges and monthly reports.</p>
      </div>
      <section class="card auth-card">
        <h1>{mode === "in" ? "Sign in" : "Create your account"}</h1>
        <div class="segmented" role="group" aria-label="Sign in or sign up">
          <button type="button" aria-pressed={mode === "in"} onClick={() => switchTo("in")}>
            Sign in
          </button>
          <button type="button" aria-pressed={mode === "up"} onClick={() => switchTo("up")}>
            Sign up
          </button>
        </div>
        {props.notice && <Alert kind="info">{props.notice}</Alert>}
        <form onSubmit={submit} noValidate>
          <Field
            label="Username"
            name="username"
            error={errors.username}
            hint={mode === "up" ? "3–32 letters, digits, '_', '.' or '-'" : undefined}
            input={{
              value: username,
              autocomplete: "username",
              required: true,
              onInput: (e) => setUsername((e.target as HTMLInputElement).value),
            }}
          />
          {mode === "up" && (
            <Field
              label="Display name (shown on boards)"
              name="display_name"
              error={errors.display_name}
              input={{
                value: displayName,
                autocomplete: "nickname",
                onInput: (e) => setDisplayName((e.target as HTMLInputElement).value),
              }}
            />
          )}
          <Field
            label="Password"
            name="password"
            error={errors.password}
            hint={mode === "up" ? "A few unrelated words make a strong password" : undefined}
            input={{
              type: "password",
              value: password,
              required: true,
              autocomplete: mode === "up" ? "new-password" : "current-password",
              onInput: (e) => setPassword((e.target as HTMLInputElement).value),
            }}
          />
          {message && <Alert>{message}</Alert>}
          <button type="submit" class="primary wide" disabled={busy}>
            {busy ? "Please wait…" : mode === "in" ? "Sign in" : "Sign up"}
          </button>
        </form>
      </section>
    </main>
  );
}

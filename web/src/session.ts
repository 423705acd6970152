// Where the signed-in athlete's token is kept between page loads.

const KEY = "fitboard.session";

export interface StoredSession {
  token: string;
  expiresAt: number; // ms since the epoch
}

export function loadSession(now = Date.now()): StoredSession | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as StoredSession;
    if (typeof session.token !== "string" || session.expiresAt <= now) return null;
    return session;
  } catch {
    return null;
  }
}

export function saveSession(token: string, expiresInS: number, now = Date.now()): StoredSession {
  const session = { token, expiresAt: now + expiresInS * 1000 };
  localStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
}

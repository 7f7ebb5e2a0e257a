// Sessions: the access token lives in memory only (never localStorage, never a URL). The refresh
// token is the httpOnly cookie the auth function sets on /api/auth; it renews the access token
// before it expires, on a 401, and when the page loads.
import { signal } from "@preact/signals";
import { apiUrl } from "./config";
import type { components } from "./api/schema";

type Me = components["schemas"]["Me"];
type TokenResponse = components["schemas"]["TokenResponse"];

let token: string | null = null;
// A hint (not a secret) that this browser holds a refresh cookie: anonymous visitors then make no
// refresh call that can only fail. The cookie itself is httpOnly and invisible here.
const HINT = "lait.session";
let timer: ReturnType<typeof setTimeout> | undefined;
let inflight: Promise<boolean> | null = null;

export const me = signal<Me | null>(null);
/** False until the first refresh attempt has finished (pages wait before redirecting). */
export const authReady = signal(false);

export function accessToken(): string | null {
  return token;
}

/** When the access token expires (epoch ms). */
let expiresAt = 0;

/**
 * The access token, renewed first when it has expired or is about to: a page that was offline or
 * asleep past its renewal timer sends no stale token (no 401 to recover from).
 */
export async function currentToken(): Promise<string | null> {
  if (token && Date.now() >= expiresAt - 2_000) await refreshSession();
  return token;
}

function adopt(t: TokenResponse): void {
  token = t.access_token;
  expiresAt = Date.now() + t.expires_in * 1000;
  localStorage.setItem(HINT, "1");
  clearTimeout(timer);
  // Renew a minute before expiry (or halfway for very short tokens).
  const ms = Math.max(5_000, Math.min(t.expires_in * 500, (t.expires_in - 60) * 1000));
  timer = setTimeout(() => void refreshSession(), ms);
}

function drop(): void {
  token = null;
  localStorage.removeItem(HINT);
  clearTimeout(timer);
  me.value = null;
}

async function post(path: string, body?: unknown, bearer?: string): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  return fetch(apiUrl(path), {
    method: "POST",
    credentials: "include",
    headers,
    body: JSON.stringify(body ?? {}),
  });
}

async function loadMe(): Promise<void> {
  if (!token) return;
  const res = await fetch(apiUrl("/api/users/me"), { headers: { authorization: `Bearer ${token}` } });
  if (res.ok) me.value = (await res.json()) as Me;
}

/** Renews the access token from the cookie; false when there is no session. Concurrent callers share one call. */
export function refreshSession(): Promise<boolean> {
  inflight ??= (async () => {
    try {
      const res = await post("/api/auth/refresh");
      if (!res.ok) {
        drop();
        return false;
      }
      adopt((await res.json()) as TokenResponse);
      if (!me.value) await loadMe();
      return true;
    } catch {
      // The network, not the session, failed (offline, server restarting): try again shortly.
      clearTimeout(timer);
      if (token) timer = setTimeout(() => void refreshSession(), 3_000);
      return false;
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

export async function bootAuth(): Promise<void> {
  // After an external (Kakao) login the callback lands on the app with a fresh cookie: `?signed_in`.
  const external = new URLSearchParams(location.search).has("signed_in");
  if (external || localStorage.getItem(HINT)) await refreshSession();
  authReady.value = true;
}

export async function login(email: string, password: string): Promise<Response> {
  const res = await post("/api/auth/login", { email, password });
  if (res.ok) {
    adopt((await res.json()) as TokenResponse);
    await loadMe();
  }
  return res;
}

export async function signup(email: string, nickname: string, password: string): Promise<Response> {
  return post("/api/auth/signup", { email, nickname, password });
}

export async function logout(everywhere = false): Promise<void> {
  try {
    if (everywhere && token) await post("/api/auth/logout-all", {}, token);
    await post("/api/auth/logout");
  } finally {
    drop();
  }
}

/** Updates the signed-in user after a profile change. */
export function setMe(m: Me): void {
  me.value = m;
}

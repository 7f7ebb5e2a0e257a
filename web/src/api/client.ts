// The typed API client: openapi-fetch over the types generated from web/openapi.json (the Rust
// code's spec). Adds the in-memory access token (renewed first when it has expired) and, on a
// 401, refreshes once through the httpOnly cookie and retries.
import createClient from "openapi-fetch";
import { config } from "../config";
import type { components, paths } from "./schema";
import { accessToken, currentToken, refreshSession } from "../auth";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

async function authFetch(input: Request): Promise<Response> {
  const retry = input.clone();
  const token = await currentToken();
  if (token) input.headers.set("authorization", `Bearer ${token}`);
  const res = await fetch(input);
  if (res.status !== 401 || !token) return res;
  // The token expired or was revoked: one silent refresh, then the same request again.
  if (!(await refreshSession())) return res;
  const again = accessToken();
  if (again) retry.headers.set("authorization", `Bearer ${again}`);
  return fetch(retry);
}

let client: ReturnType<typeof createClient<paths>> | null = null;

/** The client, created once the runtime config is known. */
export function api() {
  client ??= createClient<paths>({ baseUrl: config.apiBase, fetch: authFetch, credentials: "same-origin" });
  return client;
}

let shared: ReturnType<typeof createClient<paths>> | null = null;

/**
 * The client for public data many viewers poll (a channel, its live, VODs, notices): no token, no
 * cookie, so the CDN answers every viewer from one cached copy (the server marks these answers
 * `public, s-maxage`). Personal fields come from their own calls (`/api/channels/{id}/follow`).
 */
export function publicApi() {
  shared ??= createClient<paths>({ baseUrl: config.apiBase, credentials: "omit" });
  return shared;
}

/** A problem+json error as a message for the user (the server's `detail`, or a generic one). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem> | undefined,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
  }
}

/** The data of an openapi-fetch result, or throws ApiError. */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || !r.response.ok) {
    throw new ApiError(r.response.status, (r.error ?? undefined) as Partial<Problem> | undefined);
  }
  return r.data as T;
}

// Every URL the app uses comes from the page's origin and /config.json, so one bundle runs
// locally (lait-local) and behind CloudFront.

import { type AppConfig, type RawConfig, resolveConfig } from "./urls";

export type { AppConfig };

export let config: AppConfig = resolveConfig({}, location.origin);

export async function loadConfig(): Promise<void> {
  try {
    const res = await fetch("/config.json", { cache: "no-cache" });
    if (res.ok) config = resolveConfig((await res.json()) as RawConfig, location.origin);
  } catch {
    // Same-origin defaults then.
  }
}

/** A media URL from the API (`/media/...` or absolute) made absolute against the page. */
export function mediaUrl(url: string): string {
  return new URL(url, location.origin).toString();
}

/** An API path (`/api/...` as the spec names it) on the configured API base. */
export function apiUrl(path: string): string {
  return config.apiBase + path;
}

// Resolving the runtime config's URLs: pure, so it is unit-tested without a browser.

export interface AppConfig {
  /** Origin (and stage path, if any) the spec's `/api/...` paths are appended to. */
  apiBase: string;
  /** Absolute ws:// or wss:// URL of the WebSocket API. */
  wsUrl: string;
  /** Absolute base of the CDN (media bucket). */
  cdnBase: string;
  /** The external (Kakao) login is configured. */
  kakao: boolean;
}

export interface RawConfig {
  api_base?: unknown;
  ws_url?: unknown;
  cdn_base?: unknown;
  kakao?: unknown;
}

function absolute(value: unknown, fallback: string, origin: string): string {
  const raw = typeof value === "string" && value !== "" ? value : fallback;
  return new URL(raw, origin).toString().replace(/\/$/, "");
}

export function resolveConfig(raw: RawConfig, origin: string): AppConfig {
  const ws = new URL(absolute(raw.ws_url, "/ws", origin));
  if (ws.protocol === "http:") ws.protocol = "ws:";
  if (ws.protocol === "https:") ws.protocol = "wss:";
  return {
    apiBase: absolute(raw.api_base, "/", origin),
    wsUrl: ws.toString().replace(/\/$/, ""),
    cdnBase: absolute(raw.cdn_base, "/media", origin),
    kakao: raw.kakao === true,
  };
}

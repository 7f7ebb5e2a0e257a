// The chat WebSocket protocol (docs/chat-protocol.md) as types, and a parser that checks every
// frame the server sends against them: a frame that does not match is reported, never trusted.

import type { components } from "../api/schema";

// The types are generated from the Rust definitions (shared/src/chat/protocol.rs, exported into
// web/openapi.json); this file adds the checks a frame from the network gets before it is used.
type Schemas = components["schemas"];

export type Badge = Schemas["Badge"];
export type ChatUser = Schemas["ChatUser"];
/** A chat message as `history` and the REST history return it. */
export type ChatMessage = Schemas["ChatMessage"];
export type ChatEvent = Schemas["Event"];
export type ErrorCode = Schemas["ErrorCode"];
export type RequestId = Schemas["RequestId"];
export type ServerFrame = Schemas["ServerFrame"];
export type ClientFrame = Schemas["ClientFrame"] & { request_id?: RequestId };

// A record, so the compiler fails when the server gains a code this list lacks.
const ERROR_CODE: Record<ErrorCode, true> = {
  bad_request: true, forbidden: true, not_found: true, banned: true, timed_out: true, rate_limited: true,
  slow_mode: true, duplicate: true, filtered: true, too_long: true, reconnect: true, unavailable: true,
  internal: true,
};
const ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(ERROR_CODE));

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const ID = /^\d+-\d+$/;
const isId = (v: unknown): v is string => isStr(v) && ID.test(v);
const optReq = (o: Obj) => o.request_id === undefined || isStr(o.request_id) || isNum(o.request_id);

function isUser(v: unknown): v is ChatUser {
  return (
    isObj(v) &&
    isStr(v.id) &&
    isStr(v.nickname) &&
    Array.isArray(v.badges) &&
    v.badges.every((b) => b === "owner" || b === "moderator")
  );
}

export function isChatMessage(v: unknown): v is ChatMessage {
  return isObj(v) && isId(v.id) && isStr(v.channel_id) && isUser(v.user) && isStr(v.text) && isStr(v.ts);
}

export function isChatEvent(v: unknown): v is ChatEvent {
  if (!isObj(v) || !isId(v.id) || !isStr(v.channel_id)) return false;
  switch (v.type) {
    case "message":
      return isUser(v.user) && isStr(v.text) && isStr(v.ts);
    case "deleted":
      return isId(v.message_id);
    case "cleared":
      return true;
    case "slow_mode":
      return isNum(v.seconds);
    case "user_banned":
      return isStr(v.user_id);
    case "user_timed_out":
      return isStr(v.user_id) && isNum(v.seconds);
    default:
      return false;
  }
}

/** The frame, if `raw` is a server frame of the protocol; null otherwise. */
export function parseServerFrame(raw: string): ServerFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!isObj(v) || !optReq(v)) return null;
  switch (v.type) {
    case "batch":
      return Array.isArray(v.messages) && v.messages.every(isChatEvent) ? (v as ServerFrame) : null;
    case "history":
      return Array.isArray(v.messages) && v.messages.every(isChatMessage) && typeof v.more === "boolean"
        ? (v as ServerFrame)
        : null;
    case "ack":
      return isStr(v.action) && (v.id === undefined || isId(v.id)) ? (v as ServerFrame) : null;
    case "pong":
      return v as ServerFrame;
    case "error":
      return isStr(v.code) &&
        ERROR_CODES.has(v.code) &&
        isStr(v.message) &&
        (v.action === undefined || isStr(v.action)) &&
        (v.retry_after_ms === undefined || isNum(v.retry_after_ms))
        ? (v as ServerFrame)
        : null;
    default:
      return null;
  }
}

/** Event ids are `<unix ms>-<sequence>`: compare as a pair of integers. */
export function compareIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  const d = Number(am) - Number(bm);
  return d !== 0 ? d : Number(as) - Number(bs);
}

/** A message of the history as the event the room would have sent. */
export function messageEvent(m: ChatMessage): ChatEvent {
  return { type: "message", ...m };
}

/** Whether a refused ticket means chatting read-only: signed out (401), banned (403), or no such
 * channel (404). Any other answer (a 503 while a store is down, a 429) is retried: taken as
 * read-only, it left a signed-in viewer who reconnected during a Redis restart unable to send on
 * the new connection. */
export function readOnlyAfter(status: number): boolean {
  return status === 401 || status === 403 || status === 404;
}

// One chat connection with everything docs/chat-protocol.md asks of a client: ticket, history on
// open, batches, reconnect with backoff and jitter, resume from the last id without gaps or
// duplicates, one `send` in flight at a time (frames of a connection may be handled
// concurrently, so a fast typist's messages would otherwise arrive out of order).
import { signal } from "@preact/signals";
import { api } from "../api/client";
import { accessToken } from "../auth";
import { config } from "../config";
import {
  type ChatEvent,
  type ClientFrame,
  type ServerFrame,
  compareIds,
  messageEvent,
  parseServerFrame,
  readOnlyAfter,
} from "./protocol";

export type ChatStatus = "connecting" | "open" | "reconnecting" | "closed";
export type Reply = Extract<ServerFrame, { type: "ack" | "error" | "pong" | "history" }>;

export interface ChatHandlers {
  /** New events in id order, each once. `reset` is true for the first history of a connection without a resume point. */
  onEvents(events: ChatEvent[], reset: boolean): void;
}

const PING_MS = 4 * 60_000;
/** API Gateway cuts every WebSocket at 2 hours. A connection is renewed before that, at a random
 * moment 5–20 minutes ahead, so a room's clients (who joined together when the stream began) do
 * not all come back in the same second; the new one resumes from the last event seen. */
const MAX_AGE_MS = 2 * 3600_000;
const RENEW_AHEAD_MS = [5 * 60_000, 20 * 60_000] as const;
const SEND_PROBE_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;

export class ChatClient {
  readonly status = signal<ChatStatus>("connecting");
  /** Whether this connection may send (signed in when it opened). */
  readonly canSend = signal(false);
  /** Whether its ticket granted moderation (the owner and moderators). */
  readonly moderate = signal(false);
  /** Frames that did not parse as the protocol (a test checks it stays 0). */
  invalidFrames = 0;

  private ws: WebSocket | null = null;
  private last: string | null = null;
  private attempt = 0;
  private stopped = false;
  private nextRequest = 1;
  private pending = new Map<string, (r: Reply) => void>();
  private resuming = false;
  private buffered: ChatEvent[] = [];
  private sendChain: Promise<unknown> = Promise.resolve();
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  /** The next reconnect is a planned renewal, not a failure: no backoff. */
  private renewing = false;

  constructor(
    readonly channelId: string,
    private readonly handlers: ChatHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.renewTimer);
    clearInterval(this.pingTimer);
    this.ws?.close(1000);
    this.ws = null;
    this.status.value = "closed";
  }

  /** Reconnects now (e.g. after signing in, to get a ticket). */
  restart(): void {
    this.ws?.close(1000);
  }

  private async ticket(): Promise<string | null> {
    if (!accessToken()) return null;
    // A refusal (signed out, banned) leaves the connection read-only; anything else (a store
    // down, too many tickets, no network) throws, and the connection is tried again later.
    const r = await api().POST("/api/chat/tickets", { body: { channel_id: this.channelId } });
    this.granted = r.data?.capabilities.moderate ?? false;
    if (r.data) return r.data.ticket;
    if (readOnlyAfter(r.response.status)) return null;
    throw new Error(`ticket: ${r.response.status}`);
  }

  private granted = false;

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.status.value = this.last === null && this.attempt === 0 ? "connecting" : "reconnecting";
    let ticket: string | null = null;
    try {
      ticket = await this.ticket();
    } catch {
      // The network is down: try again later rather than fall back to read-only.
      this.retry();
      return;
    }
    const url = new URL(config.wsUrl);
    url.searchParams.set("channel", this.channelId);
    if (ticket) url.searchParams.set("ticket", ticket);
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => void this.opened(ws, ticket !== null);
    ws.onmessage = (e) => this.frame(typeof e.data === "string" ? e.data : "");
    ws.onclose = () => this.closed(ws);
  }

  private async opened(ws: WebSocket, signedIn: boolean): Promise<void> {
    this.canSend.value = signedIn;
    this.moderate.value = signedIn && this.granted;
    this.resuming = true;
    this.buffered = [];
    try {
      if (this.last === null) {
        const r = await this.history({ action: "history", limit: 50 });
        if (r.type !== "history") throw new Error(r.type);
        this.deliver(r.messages.map(messageEvent), true);
      } else {
        // Everything after the last event seen, in pages of up to 500.
        for (;;) {
          const r = await this.history({ action: "history", after: this.last });
          if (r.type !== "history") throw new Error(r.type);
          this.deliver(r.messages.map(messageEvent), false);
          if (!r.more || r.messages.length === 0) break;
        }
      }
    } catch {
      if (this.ws === ws) ws.close(4000);
      return;
    }
    this.resuming = false;
    const held = this.buffered;
    this.buffered = [];
    this.deliver(held, false);
    this.attempt = 0;
    this.status.value = "open";
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => void this.request({ action: "ping" }).catch(() => {}), PING_MS);
    clearTimeout(this.renewTimer);
    const [least, most] = RENEW_AHEAD_MS;
    const ahead = least + Math.random() * (most - least);
    this.renewTimer = setTimeout(() => this.renew(ws), MAX_AGE_MS - ahead);
  }

  /** Replaces a connection near its 2-hour end with a new one, at once. */
  private renew(ws: WebSocket): void {
    if (this.ws !== ws || this.stopped) return;
    this.renewing = true;
    ws.close(1000);
  }

  private closed(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    clearTimeout(this.renewTimer);
    this.canSend.value = false;
    for (const resolve of this.pending.values()) {
      resolve({ type: "error", code: "reconnect", message: "connection lost" });
    }
    this.pending.clear();
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    this.status.value = "reconnecting";
    if (this.renewing) {
      this.renewing = false;
      this.retryTimer = setTimeout(() => void this.connect(), 0);
      return;
    }
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempt);
    this.attempt++;
    // Full jitter around the step so a room's clients do not come back together.
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  private frame(raw: string): void {
    const f = parseServerFrame(raw);
    if (!f) {
      this.invalidFrames++;
      console.warn("chat: a frame outside the protocol was ignored");
      return;
    }
    if (f.type === "batch") {
      if (this.resuming) this.buffered.push(...f.messages);
      else this.deliver(f.messages, false);
      return;
    }
    if (f.type === "error" && f.code === "reconnect") this.ws?.close(4001);
    const id = f.request_id === undefined ? undefined : String(f.request_id);
    const resolve = id === undefined ? undefined : this.pending.get(id);
    if (id !== undefined && resolve) {
      this.pending.delete(id);
      resolve(f);
    }
  }

  /** Drops what is at or below the last id seen; the rest goes out in order. */
  private deliver(events: ChatEvent[], reset: boolean): void {
    const fresh: ChatEvent[] = [];
    for (const e of [...events].sort((a, b) => compareIds(a.id, b.id))) {
      if (this.last !== null && compareIds(e.id, this.last) <= 0) continue;
      fresh.push(e);
      this.last = e.id;
    }
    if (fresh.length > 0 || reset) this.handlers.onEvents(fresh, reset);
  }

  /** Sends a frame and resolves with its answer (an `error` with code `reconnect` if the connection drops first). */
  request(frame: ClientFrame): Promise<Reply> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.resolve({ type: "error", code: "reconnect", message: "not connected" });
    }
    const request_id = `c${this.nextRequest++}`;
    return new Promise((resolve) => {
      this.pending.set(request_id, resolve);
      ws.send(JSON.stringify({ ...frame, request_id }));
    });
  }

  /** A `history` request, asked again on the same connection while the answer is `unavailable`
   * (a store briefly down; at most 5 times): cheaper for everyone than a new ticket and
   * connection, which is what a whole room does at once after a Redis restart. */
  private async history(frame: ClientFrame): Promise<Reply> {
    for (let tries = 1; ; tries++) {
      const r = await this.request(frame);
      if (r.type !== "error" || r.code !== "unavailable" || tries === 5) return r;
      await new Promise((wake) => setTimeout(wake, r.retry_after_ms ?? 2000));
    }
  }

  /** Sends a chat message after the previous one was answered. */
  send(text: string): Promise<Reply> {
    const next = this.sendChain.then(() => this.sendProbed(text));
    this.sendChain = next.catch(() => undefined);
    return next;
  }

  /** A send, and a `ping` every 10 s while it waits: a send whose message Redis lost with its
   * connection's registration (a restart) is never answered, and held every later send behind
   * it; the ping is then answered `reconnect`, which closes the connection and so answers the
   * send. A send that only waits for its message to be stored (DynamoDB slow) keeps waiting. */
  private async sendProbed(text: string): Promise<Reply> {
    const answer = this.request({ action: "send", text });
    const probe = setInterval(() => void this.request({ action: "ping" }).catch(() => {}), SEND_PROBE_MS);
    try {
      return await answer;
    } finally {
      clearInterval(probe);
    }
  }
}

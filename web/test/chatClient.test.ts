// The chat connection under faults (tests/e2e/chat_faults.py drives bench's chat-fleet, which
// behaves the same way, against a real server): a ticket refused because a store is down is
// retried, not taken as read-only; a send that will never be answered is found out by a ping.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const tickets: Array<{ status: number }> = [];
vi.mock("../src/config", () => ({ config: { wsUrl: "ws://lait.test/ws" } }));
vi.mock("../src/auth", () => ({ accessToken: () => "token" }));
vi.mock("../src/api/client", () => ({
  api: () => ({
    POST: async () => {
      const { status } = tickets.shift() ?? { status: 201 };
      const data = status === 201 ? { ticket: "t", capabilities: { send: true, moderate: false } } : undefined;
      return { data, response: { status } };
    },
  }),
}));

/** A WebSocket the test plays the server of. */
class FakeSocket {
  static OPEN = 1;
  static made: FakeSocket[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: URL) {
    FakeSocket.made.push(this);
    queueMicrotask(() => {
      this.readyState = FakeSocket.OPEN;
      this.onopen?.();
    });
  }
  send(raw: string) {
    this.sent.push(JSON.parse(raw) as Record<string, unknown>);
  }
  close() {
    this.readyState = 3;
    this.onclose?.();
  }
  answer(frame: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  /** Answers the history request that opens every connection. */
  resume() {
    const h = this.sent.find((f) => f.action === "history");
    this.answer({ type: "history", messages: [], more: false, request_id: h?.request_id });
  }
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.made = [];
  vi.stubGlobal("WebSocket", FakeSocket);
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

async function open() {
  const { ChatClient } = await import("../src/chat/client");
  const c = new ChatClient("ch", { onEvents: () => {} });
  c.start();
  return c;
}

describe("ChatClient under faults", () => {
  it("retries a ticket refused with 503 instead of chatting read-only", async () => {
    tickets.push({ status: 503 });
    const c = await open();
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.made).toHaveLength(0);
    expect(c.status.value).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(1000);
    const ws = FakeSocket.made[0];
    expect(ws?.url.searchParams.get("ticket")).toBe("t");
    ws?.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.canSend.value).toBe(true);
    c.stop();
  });

  it("asks for the history again while it is unavailable, on the same connection", async () => {
    const c = await open();
    await vi.advanceTimersByTimeAsync(0);
    const ws = FakeSocket.made[0]!;
    const first = ws.sent.at(-1);
    ws.answer({ type: "error", code: "unavailable", message: "m", retry_after_ms: 2000, request_id: first?.request_id });
    await vi.advanceTimersByTimeAsync(1999);
    expect(ws.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(ws.sent).toHaveLength(2);
    expect(ws.sent[1]?.action).toBe("history");
    ws.answer({ type: "history", messages: [], more: false, request_id: ws.sent[1]?.request_id });
    await vi.advanceTimersByTimeAsync(0);
    expect(c.status.value).toBe("open");
    expect(FakeSocket.made).toHaveLength(1);
    c.stop();
  });

  it("renews its connection before API Gateway's 2-hour cut, at a jittered moment, resuming from the last event", async () => {
    const c = await open();
    await vi.advanceTimersByTimeAsync(0);
    const first = FakeSocket.made[0]!;
    first.resume();
    first.answer({ type: "batch", messages: [{ type: "message", id: "5-0", channel_id: "ch", user: { id: "u", nickname: "n", badges: [] }, text: "hi", ts: "2026-12-08T00:00:00.000Z" }] });
    await vi.advanceTimersByTimeAsync(0);
    // Never in the first 1 h 40 min.
    await vi.advanceTimersByTimeAsync(100 * 60_000 - 1);
    expect(FakeSocket.made).toHaveLength(1);
    // Always before the 2-hour mark.
    await vi.advanceTimersByTimeAsync(15 * 60_000);
    expect(FakeSocket.made).toHaveLength(2);
    const second = FakeSocket.made[1]!;
    await vi.advanceTimersByTimeAsync(0);
    expect(second.sent[0]).toMatchObject({ action: "history", after: "5-0" });
    second.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.status.value).toBe("open");
    c.stop();
  });

  it("spreads a room's renewals over a quarter of an hour", async () => {
    const spread = new Set<number>();
    for (let i = 0; i < 20; i++) {
      FakeSocket.made = [];
      const c = await open();
      await vi.advanceTimersByTimeAsync(0);
      FakeSocket.made[0]!.resume();
      await vi.advanceTimersByTimeAsync(0);
      let waited = 0;
      while (FakeSocket.made.length < 2 && waited < 2 * 3600_000) {
        await vi.advanceTimersByTimeAsync(60_000);
        waited += 60_000;
      }
      spread.add(waited / 60_000);
      c.stop();
    }
    expect(Math.min(...spread)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...spread)).toBeLessThanOrEqual(116);
    expect(spread.size).toBeGreaterThan(5);
  });

  it("probes a send left unanswered and gives it up when the connection is gone", async () => {
    const c = await open();
    await vi.advanceTimersByTimeAsync(0);
    const ws = FakeSocket.made[0]!;
    ws.resume();
    await vi.advanceTimersByTimeAsync(0);
    let answer: unknown = null;
    void c.send("hello").then((r) => (answer = r));
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.sent.at(-1)?.action).toBe("send");
    await vi.advanceTimersByTimeAsync(10_000);
    const ping = ws.sent.at(-1);
    expect(ping?.action).toBe("ping");
    expect(answer).toBeNull();
    // Redis lost the registration: the ping is answered `reconnect` and the connection closes.
    ws.answer({ type: "error", code: "reconnect", message: "reconnect", request_id: ping?.request_id });
    await vi.advanceTimersByTimeAsync(0);
    expect(answer).toMatchObject({ type: "error", code: "reconnect" });
    c.stop();
  });
});

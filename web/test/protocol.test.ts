import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compareIds, parseServerFrame } from "../src/chat/protocol";

const doc = readFileSync(new URL("../../docs/chat-protocol.md", import.meta.url), "utf8");

/** Every JSON value in the doc's ```json blocks (one per line, or one block-wide object). */
function examples(): unknown[] {
  const out: unknown[] = [];
  for (const [, block] of doc.matchAll(/```json\n([\s\S]*?)```/g)) {
    const text = block ?? "";
    try {
      out.push(JSON.parse(text));
      continue;
    } catch {
      // One frame per line.
    }
    for (const line of text.split("\n").filter((l) => l.trim())) out.push(JSON.parse(line));
  }
  return out;
}

describe("docs/chat-protocol.md", () => {
  const frames = examples() as Record<string, unknown>[];

  it("has examples of both directions", () => {
    expect(frames.filter((f) => "type" in f).length).toBeGreaterThanOrEqual(2);
    expect(frames.filter((f) => "action" in f).length).toBeGreaterThanOrEqual(5);
  });

  it("every server frame example parses", () => {
    for (const f of frames.filter((f) => "type" in f)) {
      expect(parseServerFrame(JSON.stringify(f)), JSON.stringify(f)).not.toBeNull();
    }
  });

  it("every client action in the doc's table is a known action", () => {
    const known = ["send", "history", "delete", "timeout", "ban", "unban", "slow", "clear", "ping"];
    for (const f of frames.filter((f) => "action" in f && !("type" in f))) {
      expect(known).toContain(f.action);
    }
  });
});

describe("parseServerFrame", () => {
  const message = { type: "message", id: "1-0", channel_id: "c", user: { id: "u", nickname: "n", badges: [] }, text: "hi", ts: "2026-01-01T00:00:00.000Z" };

  it("accepts every frame type", () => {
    expect(parseServerFrame(JSON.stringify({ type: "batch", messages: [message, { type: "deleted", id: "2-0", channel_id: "c", message_id: "1-0" }] }))).not.toBeNull();
    expect(parseServerFrame(JSON.stringify({ type: "history", messages: [{ ...message, type: undefined }], more: false, request_id: "c1" }))).not.toBeNull();
    expect(parseServerFrame(JSON.stringify({ type: "ack", action: "send", id: "5-1", request_id: 3 }))).not.toBeNull();
    expect(parseServerFrame(JSON.stringify({ type: "pong" }))).not.toBeNull();
    expect(parseServerFrame(JSON.stringify({ type: "error", code: "slow_mode", message: "m", retry_after_ms: 10 }))).not.toBeNull();
  });

  it("refuses what is not the protocol", () => {
    for (const bad of [
      "not json",
      "[]",
      JSON.stringify({ type: "unknown" }),
      JSON.stringify({ type: "batch", messages: [{ ...message, id: "x" }] }),
      JSON.stringify({ type: "batch", messages: [{ ...message, user: { id: "u", nickname: "n", badges: ["admin"] } }] }),
      JSON.stringify({ type: "error", code: "teapot", message: "m" }),
      JSON.stringify({ type: "history", messages: [], more: "no" }),
      JSON.stringify({ type: "ack", action: "send", request_id: {} }),
    ]) {
      expect(parseServerFrame(bad), bad).toBeNull();
    }
  });
});

describe("compareIds", () => {
  it("compares as pairs of integers, not strings", () => {
    expect(compareIds("9-0", "10-0")).toBeLessThan(0);
    expect(compareIds("10-2", "10-10")).toBeLessThan(0);
    expect(compareIds("10-1", "10-1")).toBe(0);
  });
});

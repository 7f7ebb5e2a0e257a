import { describe, expect, it } from "vitest";
import { applyEvents, type Line, liveWindow } from "../src/chat/lines";
import { reached, timeline } from "../src/chat/replay";
import { type ChatEvent, readOnlyAfter } from "../src/chat/protocol";

const user = (id: string) => ({ id, nickname: id, badges: [] as [] });
const msg = (id: string, from: string, text = "t"): ChatEvent => ({ type: "message", id, channel_id: "c", user: user(from), text, ts: "2026-01-01T00:00:00Z" });

describe("applyEvents", () => {
  it("adds messages and removes deleted, banned and cleared ones", () => {
    let { lines } = applyEvents([], [msg("1-0", "a"), msg("2-0", "b"), msg("3-0", "a")], false);
    expect(lines.map((l) => l.id)).toEqual(["1-0", "2-0", "3-0"]);
    ({ lines } = applyEvents(lines, [{ type: "deleted", id: "4-0", channel_id: "c", message_id: "2-0" }], false));
    expect(lines.map((l) => l.id)).toEqual(["1-0", "3-0"]);
    ({ lines } = applyEvents(lines, [{ type: "user_banned", id: "5-0", channel_id: "c", user_id: "a" }], false));
    expect(lines).toEqual([]);
    ({ lines } = applyEvents([], [msg("6-0", "c"), { type: "cleared", id: "7-0", channel_id: "c" }, msg("8-0", "c")], false));
    expect(lines.map((l) => l.id)).toEqual(["8-0"]);
  });

  it("keeps the last 500 lines and reports slow mode", () => {
    const many = Array.from({ length: 620 }, (_, i) => msg(`${i + 1}-0`, "a"));
    const r = applyEvents([], [...many, { type: "slow_mode", id: "999-0", channel_id: "c", seconds: 10 }], false);
    expect(r.lines.length).toBe(500);
    expect(r.lines[0]?.id).toBe("121-0");
    expect(r.slow).toBe(10);
  });

  it("keeps more while the user reads back", () => {
    const many = Array.from({ length: 620 }, (_, i) => msg(`${i + 1}-0`, "a"));
    expect(applyEvents([], many, false, 2000).lines.length).toBe(620);
  });

  it("keeps user text as given (rendering escapes it)", () => {
    const { lines } = applyEvents([], [msg("1-0", "a", "<img src=x onerror=alert(1)>")], false);
    expect(lines[0]?.text).toBe("<img src=x onerror=alert(1)>");
  });
});

describe("VOD chat replay", () => {
  const m = (id: string, ts: string) => ({ id, channel_id: "c", user: user("a"), text: id, ts });
  const timed = timeline([m("1-0", "2026-01-01T00:00:01.000Z"), m("2-0", "2026-01-01T00:00:05.500Z"), m("3-0", "2026-01-01T00:01:00.000Z")], "2026-01-01T00:00:00.000Z");

  it("places messages at their offset into the broadcast", () => {
    expect(timed.map((x) => x.at)).toEqual([1, 5.5, 60]);
  });

  it("shows what playback has reached, and less after seeking back", () => {
    expect(reached(timed, 0)).toBe(0);
    expect(reached(timed, 1)).toBe(1);
    expect(reached(timed, 30)).toBe(2);
    expect(reached(timed, 61)).toBe(3);
    expect(reached(timed, 2)).toBe(1);
  });
});

describe("liveWindow", () => {
  const line = (n: number): Line => ({ id: `${n}-0`, userId: "u", nickname: "u", badges: [], text: "t" });
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => line(i + 1));

  it("appends until the window is over its maximum, then keeps the newest minimum in one go", () => {
    let w = liveWindow(upTo(3), null, 2, 4);
    expect(w.lines.map((l) => l.id)).toEqual(["1-0", "2-0", "3-0"]);
    w = liveWindow(upTo(4), w.from, 2, 4);
    expect(w.lines).toHaveLength(4);
    w = liveWindow(upTo(5), w.from, 2, 4);
    expect(w.lines.map((l) => l.id)).toEqual(["4-0", "5-0"]);
    w = liveWindow(upTo(6), w.from, 2, 4);
    expect(w.lines.map((l) => l.id)).toEqual(["4-0", "5-0", "6-0"]);
  });

  it("starts over when the lines it started from are gone (history reloaded, room cleared)", () => {
    const w = liveWindow([line(1), line(2)], "9-0", 2, 4);
    expect(w.lines.map((l) => l.id)).toEqual(["1-0", "2-0"]);
    expect(liveWindow([], "9-0", 2, 4)).toEqual({ from: null, lines: [] });
  });
});

describe("a refused chat ticket", () => {
  it("means read-only only when the viewer may not chat, else a retry", () => {
    expect([401, 403, 404].map(readOnlyAfter)).toEqual([true, true, true]);
    expect([429, 500, 502, 503].map(readOnlyAfter)).toEqual([false, false, false, false]);
  });
});

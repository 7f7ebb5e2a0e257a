// VOD chat replay: where each message of a broadcast falls on the video's timeline.
import type { ChatMessage } from "./protocol";

export interface Timed {
  at: number;
  m: ChatMessage;
}

/** The messages of a broadcast with their offset (seconds) from its start, oldest first. */
export function timeline(messages: ChatMessage[], startedAt: string): Timed[] {
  const t0 = Date.parse(startedAt);
  return messages.map((m) => ({ at: (Date.parse(m.ts) - t0) / 1000, m }));
}

/** How many of `timed` (sorted) are at or before `pos`. */
export function reached(timed: Timed[], pos: number): number {
  let lo = 0;
  let hi = timed.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((timed[mid]?.at ?? Infinity) <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// What the chat panel shows, as a pure function of the room's events.
import { type ChatEvent, compareIds } from "./protocol";

/** The panel keeps this many lines (older ones scroll away for good)... */
export const KEEP = 500;
/** ...or this many while the user reads back, so the lines they read stay. */
export const KEEP_PAUSED = 2000;

export interface Line {
  id: string;
  userId: string;
  nickname: string;
  badges: string[];
  text: string;
}

/** Applies room events to the visible lines (the part of the panel tests reason about). */
export function applyEvents(lines: Line[], events: ChatEvent[], reset: boolean, keep = KEEP): { lines: Line[]; slow?: number } {
  let out = reset ? [] : lines;
  let slow: number | undefined;
  for (const e of events) {
    switch (e.type) {
      case "message":
        out = [...out, { id: e.id, userId: e.user.id, nickname: e.user.nickname, badges: e.user.badges, text: e.text }];
        break;
      case "deleted":
        out = out.filter((l) => l.id !== e.message_id);
        break;
      case "cleared":
        out = [];
        break;
      case "user_banned":
      case "user_timed_out":
        out = out.filter((l) => l.userId !== e.user_id);
        break;
      case "slow_mode":
        slow = e.seconds;
        break;
    }
  }
  if (out.length > keep) out = out.slice(out.length - keep);
  return slow === undefined ? { lines: out } : { lines: out, slow };
}

/**
 * The lines a panel at the live edge shows: from the line with id `from` on, until more than
 * `max` are shown, then the newest `min`. Dropping the oldest line on every new one would shift
 * (lay out and repaint) the whole log each time; this drops them in batches, so in between a
 * new line is only appended.
 */
export function liveWindow(lines: Line[], from: string | null, min: number, max: number): { from: string | null; lines: Line[] } {
  let i = from === null ? 0 : lines.findIndex((l) => compareIds(l.id, from) >= 0);
  if (i < 0 || lines.length - i > max) i = Math.max(0, lines.length - min);
  return { from: lines[i]?.id ?? null, lines: lines.slice(i) };
}

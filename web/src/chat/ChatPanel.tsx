// The live chat panel: history on open, batches, resume after a reconnect, inline typed errors,
// moderation tools for the owner and moderators, auto-scroll that pauses while the user reads
// back. Incoming events are applied once per animation frame and the list keeps the last 500.
import type { VNode } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { me } from "../auth";
import { lang, t, type Key } from "../i18n";
import { Link } from "../router";
import { Icon } from "../ui/Icon";
import { ChatClient, type Reply } from "./client";
import { type ChatEvent, compareIds } from "./protocol";
import { applyEvents, KEEP, KEEP_PAUSED, type Line, liveWindow } from "./lines";

const MAX_CHARS = 500;
/** Lines in the DOM while the view follows the newest message. */
const LIVE_WINDOW = 150;
// ...and lets it grow to this before dropping the oldest in one go (`liveWindow`).
const LIVE_WINDOW_MAX = 200;
// A busy room is drawn at most this often: at 100 messages a second, a frame each would lay the
// log out 60 times a second for two lines at a time; ten batches a second read the same and
// leave the main thread to the video. A quiet room's message still shows on the next frame.
const FLUSH_EVERY_MS = 100;

function errorText(r: Extract<Reply, { type: "error" }>): string {
  const s = Math.ceil((r.retry_after_ms ?? 0) / 1000);
  const key = `chatErr.${r.code}` as Key;
  return t(key, { s });
}

/** One chat line. Rendered once per line and reused (see `rendered`): with 500 lines and a busy
 * room, re-diffing every line on every frame was the panel's main cost. */
function renderLine(l: Line, moderate: boolean, self: string | undefined, act: (f: Parameters<ChatClient["request"]>[0]) => void): VNode {
  return (
    <div key={l.id} class="chat-line" data-id={l.id}>
      {l.badges.includes("owner") && (
        <span class="badge owner" title={t("chat.owner")} aria-label={t("chat.owner")}>
          <Icon name="star" size={14} />
        </span>
      )}
      {l.badges.includes("moderator") && (
        <span class="badge mod" title={t("chat.moderator")} aria-label={t("chat.moderator")}>
          <Icon name="shield" size={14} />
        </span>
      )}
      <span class="nick">{l.nickname}</span>
      <span class="sep">: </span>
      <span class="text">{l.text}</span>
      {moderate && l.userId !== self && (
        <span class="mod-actions" role="group" aria-label={t("chat.actionsFor", { name: l.nickname })}>
          <button type="button" aria-label={`${t("chat.delete")} — ${l.nickname}`} onClick={() => act({ action: "delete", message_id: l.id })}>
            <Icon name="trash" size={16} />
          </button>
          <button type="button" aria-label={`${t("chat.timeout")} — ${l.nickname}`} onClick={() => act({ action: "timeout", user_id: l.userId, seconds: 600 })}>
            <Icon name="timer" size={16} />
          </button>
          <button type="button" aria-label={`${t("chat.ban")} — ${l.nickname}`} onClick={() => act({ action: "ban", user_id: l.userId })}>
            <Icon name="ban" size={16} />
          </button>
        </span>
      )}
      {moderate && l.userId === self && (
        <span class="mod-actions" role="group" aria-label={t("chat.actionsFor", { name: l.nickname })}>
          <button type="button" aria-label={`${t("chat.delete")} — ${l.nickname}`} onClick={() => act({ action: "delete", message_id: l.id })}>
            <Icon name="trash" size={16} />
          </button>
        </span>
      )}
    </div>
  );
}

interface Props {
  channelId: string;
  onClient?: (c: ChatClient | null) => void;
}

export function ChatPanel({ channelId, onClient }: Props) {
  const [lines, setLines] = useState<Line[]>([]);
  const [slow, setSlow] = useState(0);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [cooldown, setCooldown] = useState(0);
  const [unseen, setUnseen] = useState(0);
  const [sending, setSending] = useState(false);
  const list = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  // Only the user pauses the view (wheel, touch, keys, the scrollbar): layout settling under a
  // programmatic scroll must not.
  const userScroll = useRef(-Infinity);
  // Scrolled up: the view stops at this id (like Twitch's "chat paused") and shows everything
  // kept up to it; at the bottom it shows only the newest LIVE_WINDOW lines, which keeps a busy
  // room's per-frame layout small.
  const [pausedAt, setPausedAt] = useState<string | null>(null);
  const windowFrom = useRef<string | null>(null);
  const pending = useRef<{ events: ChatEvent[]; reset: boolean }>({ events: [], reset: false });
  const frame = useRef(0);
  const timer = useRef(0);
  const lastFlush = useRef(-Infinity);

  function schedule() {
    if (frame.current || timer.current) return;
    const wait = lastFlush.current + FLUSH_EVERY_MS - performance.now();
    if (wait <= 0) {
      frame.current = requestAnimationFrame(flush);
      return;
    }
    timer.current = window.setTimeout(() => {
      timer.current = 0;
      frame.current = requestAnimationFrame(flush);
    }, wait);
  }

  const client = useMemo(
    () =>
      new ChatClient(channelId, {
        onEvents(events, reset) {
          const p = pending.current;
          if (reset) p.events = [];
          p.events.push(...events);
          p.reset ||= reset;
          schedule();
        },
      }),
    [channelId],
  );

  function live(): Line[] {
    const w = liveWindow(lines, windowFrom.current, LIVE_WINDOW, LIVE_WINDOW_MAX);
    windowFrom.current = w.from;
    return w.lines;
  }

  function flush() {
    frame.current = 0;
    lastFlush.current = performance.now();
    const { events, reset } = pending.current;
    pending.current = { events: [], reset: false };
    const added = events.filter((e) => e.type === "message").length;
    setLines((prev) => {
      const r = applyEvents(prev, events, reset, pinned.current ? KEEP : KEEP_PAUSED);
      if (r.slow !== undefined) setSlow(r.slow);
      return r.lines;
    });
    if (!pinned.current) setUnseen((n) => n + added);
  }

  useEffect(() => {
    client.start();
    onClient?.(client);
    (window as unknown as { __laitChat?: ChatClient }).__laitChat = client;
    return () => {
      cancelAnimationFrame(frame.current);
      clearTimeout(timer.current);
      frame.current = timer.current = 0;
      client.stop();
      onClient?.(null);
    };
  }, [client]);

  // Reconnect with a ticket once the user signs in (or without one after signing out).
  const user = me.value;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    client.restart();
  }, [user?.id]);

  // Keep the newest line in view unless the user scrolled up.
  useEffect(() => {
    const el = list.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [lines, pausedAt]);

  useEffect(() => {
    if (cooldown <= 0) return;
    const id = setTimeout(() => setCooldown((c) => Math.max(0, c - 1)), 1000);
    return () => clearTimeout(id);
  }, [cooldown]);

  const onScroll = () => {
    const el = list.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (atBottom) {
      pinned.current = true;
      setUnseen(0);
      setPausedAt(null);
    } else if (pinned.current && performance.now() - userScroll.current < 1000) {
      pinned.current = false;
      setPausedAt(lines[lines.length - 1]?.id ?? null);
    }
  };
  const byUser = () => {
    userScroll.current = performance.now();
  };
  const toBottom = () => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
    pinned.current = true;
    setUnseen(0);
    setPausedAt(null);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    const body = text.trim();
    if (!body || sending) return;
    setSending(true);
    setError(null);
    const r = await client.send(body);
    setSending(false);
    if (r.type === "ack") {
      setText("");
      if (slow > 0 && !client.moderate.value) setCooldown(slow);
    } else if (r.type === "error") {
      setError(errorText(r));
      if (r.code === "slow_mode" && r.retry_after_ms) setCooldown(Math.ceil(r.retry_after_ms / 1000));
    }
  };

  const act = async (frame: Parameters<ChatClient["request"]>[0]) => {
    const r = await client.request(frame);
    if (r.type === "error") setError(errorText(r));
  };

  // Moderation tools: what the connection's ticket granted.
  const moderate = client.moderate.value;
  const status = client.status.value;
  // The same vnode for an unchanged line lets Preact skip it; a change of rights redraws all.
  const cache = useMemo(() => new WeakMap<Line, VNode>(), [moderate, user?.id, lang.value]);
  const rendered = (l: Line) => {
    let v = cache.get(l);
    if (!v) {
      v = renderLine(l, moderate, user?.id, (f) => void act(f));
      cache.set(l, v);
    }
    return v;
  };
  const canSend = client.canSend.value;
  const chars = [...text].length;

  return (
    <section class="chat" aria-label={t("chat.title")}>
      <header class="chat-head">
        <h2>{t("chat.title")}</h2>
        {status !== "open" && (
          <span class="chat-status" role="status">
            {status === "reconnecting" ? t("chat.reconnecting") : t("chat.connecting")}
          </span>
        )}
      </header>
      {slow > 0 && <p class="chat-note">{t("chat.slowOn", { s: slow })}</p>}
      <div class="chat-log" role="log" aria-label={t("chat.log")} aria-live="polite" ref={list} onScroll={onScroll} onWheel={byUser} onTouchMove={byUser} onKeyDown={byUser} onPointerDown={byUser} tabIndex={0}>
        {(pausedAt === null ? live() : lines.filter((l) => compareIds(l.id, pausedAt) <= 0)).map(rendered)}
      </div>
      {unseen > 0 && (
        <button type="button" class="unseen" onClick={toBottom}>
          {t("chat.newMessages", { n: unseen })} ↓
        </button>
      )}
      {error && (
        <p class="chat-error" role="alert">
          {error}
        </p>
      )}
      {user ? (
        <form class="chat-form" onSubmit={submit}>
          <input
            type="text"
            aria-label={t("chat.input")}
            placeholder={t("chat.input")}
            value={text}
            maxLength={MAX_CHARS * 2}
            disabled={!canSend}
            onInput={(e) => setText(e.currentTarget.value)}
          />
          {chars > MAX_CHARS - 50 && (
            <span class={chars > MAX_CHARS ? "count over" : "count"} aria-live="polite">
              {chars}/{MAX_CHARS}
            </span>
          )}
          <button type="submit" disabled={!canSend || sending || cooldown > 0 || chars === 0 || chars > MAX_CHARS}>
            {cooldown > 0 ? `${cooldown}s` : t("chat.send")}
          </button>
        </form>
      ) : (
        <p class="chat-signin">
          <Link href={`/login?next=${encodeURIComponent(location.pathname)}`}>{t("chat.signinPrompt")}</Link>
        </p>
      )}
    </section>
  );
}

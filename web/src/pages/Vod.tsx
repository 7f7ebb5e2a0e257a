// A recording with its chat replayed in step with the video: a message sent t seconds into the
// broadcast appears when playback reaches t; seeking re-syncs, pausing pauses the chat.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, unwrap } from "../api/client";
import type { ChatMessage } from "../chat/protocol";
import { reached, timeline } from "../chat/replay";
import { mediaUrl } from "../config";
import { formatDate, t } from "../i18n";
import { Player } from "../player/Player";
import { Link } from "../router";
import { Icon } from "../ui/Icon";
import { PageError, PageLoading } from "../ui/Page";
import { useLoad } from "../ui/util";

const MAX_PAGES = 40;
const SHOWN = 200;

export function Vod({ id }: { id: string }) {
  const live = useLoad(async () => unwrap(await api().GET("/api/lives/{id}", { params: { path: { id } } })), [id]);
  const chat = useLoad(async () => {
    const all: ChatMessage[] = [];
    let after: string | undefined;
    for (let i = 0; i < MAX_PAGES; i++) {
      const page = unwrap(await api().GET("/api/lives/{id}/chat", { params: { path: { id }, query: { limit: 500, ...(after ? { after } : {}) } } }));
      all.push(...(page.messages as ChatMessage[]));
      if (!page.next_after) break;
      after = page.next_after;
    }
    return all;
  }, [id]);
  const timed = useMemo(() => (live.data && chat.data ? timeline(chat.data, live.data.started_at) : []), [live.data, chat.data]);
  const [video, setVideo] = useState<HTMLVideoElement | null>(null);
  const [count, setCount] = useState(0);
  const list = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!video) return;
    const sync = () => setCount(reached(timed, video.currentTime));
    const id = setInterval(sync, 250);
    video.addEventListener("seeked", sync);
    video.addEventListener("timeupdate", sync);
    sync();
    return () => {
      clearInterval(id);
      video.removeEventListener("seeked", sync);
      video.removeEventListener("timeupdate", sync);
    };
  }, [video, timed]);

  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [count]);

  if (live.error) return <PageError message={live.error} />;
  const l = live.data;
  if (!l) return <PageLoading />;
  const visible = timed.slice(Math.max(0, count - SHOWN), count);
  return (
    <div class="watch">
      <div class="watch-main">
        {l.playlist_url ? (
          <Player key={l.id} src={mediaUrl(l.playlist_url)} live={l.status === "live"} lowLatency={l.low_latency} onVideo={setVideo} />
        ) : (
          <div class="offline" role="status">
            {t("vod.notFound")}
          </div>
        )}
        <header class="channel-head">
          <div class="channel-info">
            <h1>{l.title}</h1>
            <p class="meta">
              {l.category && <span class="cat">{l.category}</span>}
              <span>{t("vod.recorded", { d: formatDate(l.started_at) })}</span>
              <Link href={`/c/${l.channel_id}`}>{t("profile.channel")}</Link>
            </p>
          </div>
        </header>
      </div>
      <section class="chat replay" aria-label={t("chat.replay")}>
        <header class="chat-head">
          <h2>{t("chat.replay")}</h2>
        </header>
        <div class="chat-log" role="log" aria-label={t("chat.log")} ref={list} tabIndex={0}>
          {visible.map(({ m, at }) => (
            <div key={m.id} class="chat-line" data-id={m.id} data-at={at.toFixed(2)}>
              {m.user.badges.includes("owner") && <span class="badge owner" aria-label={t("chat.owner")}><Icon name="star" size={14} /></span>}
              {m.user.badges.includes("moderator") && <span class="badge mod" aria-label={t("chat.moderator")}><Icon name="shield" size={14} /></span>}
              <span class="nick">{m.user.nickname}</span>
              <span class="sep">: </span>
              <span class="text">{m.text}</span>
            </div>
          ))}
        </div>
        {chat.data && visible.length === 0 && <p class="empty">{t("chat.replayEmpty")}</p>}
      </section>
    </div>
  );
}

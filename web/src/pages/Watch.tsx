import { useEffect, useState } from "preact/hooks";
import { api, publicApi, unwrap, type Schemas } from "../api/client";
import { me } from "../auth";
import { ChatPanel } from "../chat/ChatPanel";
import { mediaUrl } from "../config";
import { count, formatDate, formatDuration, t } from "../i18n";
import { Player } from "../player/Player";
import { Link, navigate } from "../router";
import { LoadedList } from "../ui/LoadedList";
import { PageError, PageLoading } from "../ui/Page";
import { message, uptime, useLoad, useTick } from "../ui/util";

export function VodList({ channelId, limit = 12 }: { channelId: string; limit?: number }) {
  const vods = useLoad(
    async () => unwrap(await publicApi().GET("/api/channels/{id}/vods", { params: { path: { id: channelId }, query: { limit } } })).items,
    [channelId],
  );
  return (
    <LoadedList items={vods.data} empty={t("watch.noVods")} class="grid vods">
      {(v) => (
        <li class="card" key={v.id}>
          <Link href={`/v/${v.id}`} class="card-link">
            <div class="thumb">
              {v.thumbnail_url ? <img src={mediaUrl(v.thumbnail_url)} alt="" loading="lazy" width={320} height={180} /> : <span class="thumb-ph" aria-hidden="true" />}
              {v.duration_secs != null && <span class="pill uptime">{formatDuration(v.duration_secs)}</span>}
            </div>
            <h3 class="card-title">{v.title}</h3>
          </Link>
          <p class="card-meta">{formatDate(v.started_at)}</p>
        </li>
      )}
    </LoadedList>
  );
}

function Notices({ channelId }: { channelId: string }) {
  const notices = useLoad(
    async () => unwrap(await publicApi().GET("/api/channels/{id}/notices", { params: { path: { id: channelId }, query: { limit: 10 } } })).items,
    [channelId],
  );
  return (
    <LoadedList items={notices.data} empty={t("watch.noNotices")} class="notices">
      {(n) => (
        <li key={n.id}>
          <h3>{n.title}</h3>
          <p class="pre">{n.body}</p>
          <small>{formatDate(n.created_at)}</small>
        </li>
      )}
    </LoadedList>
  );
}

function ChannelHeader({ channel, live, onFollow }: { channel: Schemas["ChannelView"]; live: Schemas["LiveView"] | null; onFollow: (now: boolean) => void }) {
  useTick(1000);
  const user = me.value;
  // The one personal call of the page, once: the channel itself is the CDN's shared copy.
  const following = useLoad(
    async () => (user ? unwrap(await api().GET("/api/channels/{id}/follow", { params: { path: { id: channel.id } } })).following : false),
    [channel.id, user?.id],
  );
  const isFollowing = following.data ?? false;
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const follow = async () => {
    if (!user) {
      navigate(`/login?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    setBusy(true);
    try {
      const path = { params: { path: { id: channel.id } } };
      if (isFollowing) unwrap(await api().DELETE("/api/channels/{id}/follow", path));
      else unwrap(await api().PUT("/api/channels/{id}/follow", path));
      following.set(!isFollowing);
      onFollow(!isFollowing);
    } catch (e) {
      setErr(message(e));
    } finally {
      setBusy(false);
    }
  };
  const avatar = channel.image_url ?? channel.owner.avatar_url;
  return (
    <header class="channel-head">
      {avatar ? <img class="avatar" src={mediaUrl(avatar)} alt="" width={56} height={56} /> : <span class="avatar ph" aria-hidden="true">{channel.name.slice(0, 1)}</span>}
      <div class="channel-info">
        <h1>{channel.name}</h1>
        <p class="stream-title">{live?.title ?? channel.stream_title ?? channel.description}</p>
        <p class="meta">
          {(live?.category ?? channel.stream_category ?? channel.category) && <span class="cat">{live?.category ?? channel.stream_category ?? channel.category}</span>}
          {live && <span>{count(live.viewer_count, "card.viewer", "card.viewers")}</span>}
          {live && <span>{formatDuration(uptime(live.started_at))}</span>}
          <span>{count(channel.follower_count, "watch.follower", "watch.followers")}</span>
          <Link href={`/u/${channel.owner.id}`}>{channel.owner.nickname}</Link>
        </p>
      </div>
      {user?.channel_id !== channel.id && (
        <button type="button" class={isFollowing ? "" : "primary"} disabled={busy || (following.data === undefined && !following.error)} aria-pressed={isFollowing} onClick={follow}>
          {isFollowing ? t("watch.unfollow") : t("watch.follow")}
        </button>
      )}
      {err && <p class="error" role="alert">{err}</p>}
    </header>
  );
}

export function Watch({ id }: { id: string }) {
  // The player's chunk loads while the channel and live are looked up, not after (first frame).
  useEffect(() => void import("hls.js"), []);
  // Live/offline, title and viewers without a reload: the channel and its live are polled, as the
  // anonymous public copy every viewer shares at the CDN (s-maxage 5 s), so 100k viewers cost the
  // API about one request per edge per 5 s, not 20k requests a second.
  const channel = useLoad(async () => unwrap(await publicApi().GET("/api/channels/{id}", { params: { path: { id } } })), [id], 5000);
  const liveId = channel.data?.live ? channel.data.live_id : null;
  const live = useLoad(
    async () => (liveId ? unwrap(await publicApi().GET("/api/lives/{id}", { params: { path: { id: liveId } } })) : null),
    [liveId],
    15_000,
  );
  const [tab, setTab] = useState<"vods" | "notices">("vods");

  if (channel.error && !channel.data) return <PageError message={channel.error} />;
  const c = channel.data;
  if (!c) return <PageLoading />;
  const current = live.data && live.data.status === "live" && live.data.id === liveId ? live.data : null;
  return (
    <div class="watch">
      <div class="watch-main">
        {current?.playlist_url ? (
          <Player key={current.id} src={mediaUrl(current.playlist_url)} live lowLatency={current.low_latency} onFatal={channel.reload} />
        ) : (
          <div class="offline" role="status">
            <strong>{liveId ? "…" : t("watch.offline")}</strong>
            {!liveId && <p>{t("watch.offlineText", { name: c.name })}</p>}
          </div>
        )}
        <ChannelHeader
          channel={c}
          live={current}
          onFollow={(now) => channel.set((old) => old && { ...old, follower_count: old.follower_count + (now ? 1 : -1) })}
        />
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={tab === "vods"} onClick={() => setTab("vods")}>
            {t("watch.lastVods")}
          </button>
          <button type="button" role="tab" aria-selected={tab === "notices"} onClick={() => setTab("notices")}>
            {t("watch.notices")}
          </button>
        </div>
        <div role="tabpanel">{tab === "vods" ? <VodList channelId={c.id} limit={current ? 6 : 12} /> : <Notices channelId={c.id} />}</div>
      </div>
      <ChatPanel channelId={c.id} />
    </div>
  );
}

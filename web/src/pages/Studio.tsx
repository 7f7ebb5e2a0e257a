// The streamer's studio: where and with what key to stream, live status with stream health, a
// preview, the live's title and category, chat moderation, notices and recordings.
import { useEffect, useState } from "preact/hooks";
import { api, unwrap, type Schemas } from "../api/client";
import { me } from "../auth";
import { ChatPanel } from "../chat/ChatPanel";
import type { ChatClient } from "../chat/client";
import { mediaUrl } from "../config";
import { formatDate, formatDuration, formatNumber, formatTime, t } from "../i18n";
import { Player } from "../player/Player";
import { Link } from "../router";
import { Field, TextField } from "../ui/Field";
import { PageError, PageLoading } from "../ui/Page";
import { uptime, useAction, useLoad, useTick } from "../ui/util";

// Keyed by the API's Category type, so a category added or dropped in Rust fails the type-check.
const CATEGORY_SET: Record<Schemas["Category"], true> = {
  "just-chatting": true, games: true, music: true, art: true, sports: true,
  education: true, tech: true, food: true, travel: true, other: true,
};
export const CATEGORIES = Object.keys(CATEGORY_SET) as Schemas["Category"][];

function Copy({ value, label }: { value: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      aria-label={`${t("studio.copy")} — ${label}`}
      onClick={() =>
        void navigator.clipboard.writeText(value).then(() => {
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        })
      }
    >
      {done ? t("studio.copied") : t("studio.copy")}
    </button>
  );
}

function Setup({ mine, onRotated }: { mine: Schemas["MineView"]; onRotated: () => void }) {
  const [shown, setShown] = useState(false);
  const { note, run } = useAction();
  const rotate = async () => {
    if (!confirm(t("studio.rotateConfirm"))) return;
    await run(async () => unwrap(await api().POST("/api/channels/mine/stream-key")), onRotated, t("studio.rotated"));
  };
  return (
    <section class="panel" aria-labelledby="setup-h">
      <h2 id="setup-h">{t("studio.stream")}</h2>
      <div class="field-row">
        <label for="ingest">{t("studio.server")}</label>
        <input id="ingest" readOnly value={mine.ingest_url} data-testid="ingest-url" />
        <Copy value={mine.ingest_url} label={t("studio.server")} />
      </div>
      <div class="field-row">
        <label for="stream-key">{t("studio.key")}</label>
        <input id="stream-key" readOnly type={shown ? "text" : "password"} value={mine.stream_key} autocomplete="off" spellcheck={false} />
        <button type="button" aria-pressed={shown} onClick={() => setShown(!shown)}>
          {shown ? t("studio.hide") : t("studio.reveal")}
        </button>
        <Copy value={mine.stream_key} label={t("studio.key")} />
        <button type="button" class="danger" onClick={rotate}>
          {t("studio.rotate")}
        </button>
      </div>
      {note && <p role="status">{note}</p>}
      <details class="obs">
        <summary>{t("studio.obs")}</summary>
        <ul>
          <li>Settings → Stream: Service <b>Custom</b>, Server <code>{mine.ingest_url}</code>, Stream Key ↑</li>
          <li>Output (Advanced): Rate control <b>CBR</b>, 2500–6000 kbps, <b>Keyframe interval 1 s</b>, CPU preset <b>veryfast</b>, Tune <b>zerolatency</b>, Profile high</li>
          <li>Audio: AAC 128–160 kbps, 48 kHz</li>
          <li>Video: 1280×720 or 1920×1080, 30 or 60 fps</li>
        </ul>
      </details>
    </section>
  );
}

function Health({ liveId }: { liveId: string }) {
  useTick(1000);
  const health = useLoad(async () => unwrap(await api().GET("/api/lives/{id}/health", { params: { path: { id: liveId } } })), [liveId], 3000);
  const live = useLoad(async () => unwrap(await api().GET("/api/lives/{id}", { params: { path: { id: liveId } } })), [liveId], 5000);
  const h = health.data?.health;
  const l = live.data;
  const ready = health.data?.ready ?? false;
  return (
    <>
      <p class="status-line" role="status">
        <span class={ready ? "pill live" : "pill"}>{ready ? t("studio.live") : t("studio.starting")}</span>
        {h?.error && <span class="error"> {h.error}</span>}
      </p>
      <dl class="health">
        <div>
          <dt>{t("studio.bitrate")}</dt>
          <dd data-health="bitrate">{h ? `${formatNumber(Math.round(h.bitrate_kbps ?? 0))} kbps` : "–"}</dd>
        </div>
        <div>
          <dt>{t("studio.fps")}</dt>
          <dd>{h ? (h.fps ?? 0).toFixed(1) : "–"}</dd>
        </div>
        <div>
          <dt>{t("studio.keyframe")}</dt>
          <dd>{h ? `${(h.keyframe_interval ?? 0).toFixed(2)} s` : "–"}</dd>
        </div>
        <div>
          <dt>{t("studio.topRendition")}</dt>
          <dd data-health="passthrough" title={t("studio.passthroughHint")}>
            {h ? (h.passthrough ? t("studio.passthrough") : t("studio.reencoded")) : "–"}
          </dd>
        </div>
        <div>
          <dt>{t("studio.dropped")}</dt>
          <dd>{h ? formatNumber(h.dropped_frames ?? 0) : "–"}</dd>
        </div>
        <div>
          <dt>{t("studio.uploadLag")}</dt>
          <dd>{h ? `${formatNumber(h.upload_lag_ms ?? 0)} ms` : "–"}</dd>
        </div>
        <div>
          <dt>{t("studio.viewers")}</dt>
          <dd>{l ? formatNumber(l.viewer_count) : "–"}</dd>
        </div>
        <div>
          <dt>{t("studio.uptime")}</dt>
          <dd>{l ? formatDuration(uptime(l.started_at)) : "–"}</dd>
        </div>
      </dl>
      {ready && l?.playlist_url && (
        <div class="preview" aria-label={t("studio.preview")}>
          <Player key={l.id} src={mediaUrl(l.playlist_url)} live lowLatency={l.low_latency} />
        </div>
      )}
      {l && <StreamInfo live={l} onSaved={live.reload} />}
    </>
  );
}

function StreamInfo({ live, onSaved }: { live: Schemas["LiveView"]; onSaved: () => void }) {
  const [title, setTitle] = useState(live.title);
  const [category, setCategory] = useState(live.category ?? "");
  const { note, run } = useAction();
  useEffect(() => {
    setTitle(live.title);
    setCategory(live.category ?? "");
  }, [live.id]);
  const save = async (e: Event) => {
    e.preventDefault();
    await run(async () => unwrap(await api().PATCH("/api/lives/{id}", { params: { path: { id: live.id } }, body: { title, ...(category ? { category } : {}) } })), onSaved);
  };
  return (
    <form class="form inline" onSubmit={save} aria-label={t("studio.streamInfo")}>
      <TextField label={t("studio.streamTitle")} value={title} maxLength={100} required onValue={setTitle} />
      <CategorySelect value={category} onChange={setCategory} />
      <button type="submit">{t("studio.save")}</button>
      {note && <span role="status">{note}</span>}
    </form>
  );
}

/** One labelled field and an Add button; the field clears once `onAdd` succeeds. */
function AddForm({ label, maxLength, onAdd }: { label: string; maxLength?: number; onAdd: (value: string) => Promise<boolean> }) {
  const [value, setValue] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    if (await onAdd(value)) setValue("");
  };
  return (
    <form class="form inline" onSubmit={submit}>
      <TextField label={label} value={value} required maxLength={maxLength} onValue={setValue} />
      <button type="submit">{t("studio.add")}</button>
    </form>
  );
}

function CategorySelect({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  return (
    <Field label={t("studio.category")}>
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">–</option>
        {CATEGORIES.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    </Field>
  );
}

function ChannelSettings({ mine, onSaved }: { mine: Schemas["MineView"]; onSaved: () => void }) {
  const [name, setName] = useState(mine.name);
  const [description, setDescription] = useState(mine.description);
  const [title, setTitle] = useState(mine.stream_title ?? "");
  const [category, setCategory] = useState(mine.stream_category ?? "");
  const [lowLatency, setLowLatency] = useState(mine.low_latency);
  const { note, run } = useAction();
  const save = async (e: Event) => {
    e.preventDefault();
    const body = { name, description, stream_title: title || null, stream_category: category || null, low_latency: lowLatency };
    await run(async () => unwrap(await api().PATCH("/api/channels/{id}", { params: { path: { id: mine.id } }, body })), onSaved);
  };
  return (
    <section class="panel" aria-labelledby="channel-h">
      <h2 id="channel-h">{t("studio.channel")}</h2>
      <form class="form" onSubmit={save}>
        <TextField label={t("studio.channelName")} value={name} maxLength={40} required onValue={setName} />
        <TextField label={t("studio.description")} multiline value={description} maxLength={500} onValue={setDescription} />
        <TextField label={t("studio.streamTitle")} value={title} maxLength={100} onValue={setTitle} />
        <CategorySelect value={category} onChange={setCategory} />
        <label class="check">
          <input type="checkbox" checked={lowLatency} onChange={(e) => setLowLatency(e.currentTarget.checked)} />
          {t("studio.lowLatency")}
        </label>
        <button type="submit">{t("studio.save")}</button>
        {note && <span role="status">{note}</span>}
      </form>
    </section>
  );
}

function Moderation({ channelId, client }: { channelId: string; client: ChatClient | null }) {
  const path = { params: { path: { id: channelId } } };
  const settings = useLoad(async () => unwrap(await api().GET("/api/channels/{id}/chat/settings", path)), [channelId]);
  const words = useLoad(async () => unwrap(await api().GET("/api/channels/{id}/chat/words", path)), [channelId]);
  const bans = useLoad(async () => unwrap(await api().GET("/api/channels/{id}/chat/bans", { params: { path: { id: channelId }, query: { limit: 100 } } })).items, [channelId], 10_000);
  const mods = useLoad(async () => unwrap(await api().GET("/api/channels/{id}/moderators", path)), [channelId]);
  const audit = useLoad(async () => unwrap(await api().GET("/api/channels/{id}/chat/audit", { params: { path: { id: channelId }, query: { limit: 50 } } })).items, [channelId], 10_000);
  const { note, run } = useAction();
  const s = settings.data;
  return (
    <section class="panel" aria-labelledby="mod-h">
      <h2 id="mod-h">{t("studio.chat")}</h2>
      {note && <p role="status">{note}</p>}
      {s && (
        <form
          class="form inline"
          onSubmit={(e) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            void run(
              async () =>
                unwrap(
                  await api().PATCH("/api/channels/{id}/chat/settings", {
                    ...path,
                    body: {
                      slow_seconds: Number(f.get("slow")),
                      messages_per_second: Number(f.get("rate")),
                      burst: Number(f.get("burst")),
                      filter_action: f.get("action") === "reject" ? "reject" : "mask",
                    },
                  }),
                ),
              settings.reload,
            );
          }}
        >
          <Field label={t("studio.slow")}>
            <input name="slow" type="number" min={0} max={3600} defaultValue={String(s.slow_seconds)} />
          </Field>
          <Field label={t("studio.rate")}>
            <input name="rate" type="number" min={0.05} max={50} step={0.05} defaultValue={String(s.messages_per_second)} />
          </Field>
          <Field label={t("studio.burst")}>
            <input name="burst" type="number" min={1} max={100} defaultValue={String(s.burst)} />
          </Field>
          <Field label={t("studio.filterAction")}>
            <select name="action" defaultValue={s.filter_action}>
              <option value="mask">{t("studio.mask")}</option>
              <option value="reject">{t("studio.reject")}</option>
            </select>
          </Field>
          <button type="submit">{t("studio.save")}</button>
        </form>
      )}
      <h3>{t("studio.words")}</h3>
      <ul class="tags">
        {(words.data?.words ?? []).map((w) => (
          <li key={w}>
            {w}{" "}
            <button
              type="button"
              aria-label={`${t("studio.remove")} — ${w}`}
              onClick={() => void run(async () => unwrap(await api().DELETE("/api/channels/{id}/chat/words/{word}", { params: { path: { id: channelId, word: w } } })), words.reload)}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      <AddForm
        label={t("studio.addWord")}
        maxLength={50}
        onAdd={(word) => run(async () => unwrap(await api().POST("/api/channels/{id}/chat/words", { ...path, body: { word } })), words.reload)}
      />
      <h3>{t("studio.bans")}</h3>
      {bans.data && bans.data.length === 0 && <p class="empty">{t("studio.noBans")}</p>}
      <ul class="rows">
        {(bans.data ?? []).map((b) => (
          <li key={b.user_id}>
            <span>{b.nickname || b.user_id}</span> <small>{b.reason}</small> <small>{formatDate(b.at)}</small>
            <button
              type="button"
              disabled={!client}
              onClick={() =>
                void run(async () => {
                  const r = await client?.request({ action: "unban", user_id: b.user_id });
                  if (r?.type === "error") throw new Error(r.message);
                }, bans.reload)
              }
            >
              {t("studio.unban")}
            </button>
          </li>
        ))}
      </ul>
      <h3>{t("studio.moderators")}</h3>
      {mods.data && mods.data.length === 0 && <p class="empty">{t("studio.noModerators")}</p>}
      <ul class="rows">
        {(mods.data ?? []).map((m) => (
          <li key={m.id}>
            <Link href={`/u/${m.id}`}>{m.nickname}</Link>
            <button
              type="button"
              onClick={() => void run(async () => unwrap(await api().DELETE("/api/channels/{id}/moderators/{user_id}", { params: { path: { id: channelId, user_id: m.id } } })), mods.reload)}
            >
              {t("studio.remove")}
            </button>
          </li>
        ))}
      </ul>
      <AddForm
        label={t("studio.addModerator")}
        onAdd={(id) => run(async () => unwrap(await api().PUT("/api/channels/{id}/moderators/{user_id}", { params: { path: { id: channelId, user_id: id.trim() } } })), mods.reload)}
      />
      <h3>{t("studio.audit")}</h3>
      {audit.data && audit.data.length === 0 && <p class="empty">{t("studio.noAudit")}</p>}
      <ul class="rows audit">
        {(audit.data ?? []).map((a, i) => (
          <li key={`${a.at}-${i}`}>
            <small>{formatDate(a.at)}</small> <b>{a.action}</b> {a.target_user && <Link href={`/u/${a.target_user}`}>{a.target_user.slice(0, 8)}</Link>} <small>{a.detail}</small>
          </li>
        ))}
      </ul>
    </section>
  );
}

function NoticesEditor({ channelId }: { channelId: string }) {
  const list = useLoad(async () => unwrap(await api().GET("/api/channels/{id}/notices", { params: { path: { id: channelId }, query: { limit: 20 } } })).items, [channelId]);
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const { note, run } = useAction();
  const publish = async (e: Event) => {
    e.preventDefault();
    const posted = () => {
      setTitle("");
      setBody("");
      list.reload();
    };
    await run(async () => unwrap(await api().POST("/api/channels/{id}/notices", { params: { path: { id: channelId } }, body: { title, body } })), posted, null);
  };
  const remove = (id: string) =>
    run(async () => unwrap(await api().DELETE("/api/channels/{id}/notices/{notice_id}", { params: { path: { id: channelId, notice_id: id } } })), list.reload, null);
  return (
    <section class="panel" aria-labelledby="notices-h">
      <h2 id="notices-h">{t("studio.notices")}</h2>
      <form class="form" onSubmit={publish}>
        <TextField label={t("studio.noticeTitle")} value={title} required maxLength={100} onValue={setTitle} />
        <TextField label={t("studio.noticeBody")} multiline value={body} required maxLength={5000} onValue={setBody} />
        <button type="submit">{t("studio.publish")}</button>
        {note && <span role="status">{note}</span>}
      </form>
      <ul class="rows">
        {(list.data ?? []).map((n) => (
          <li key={n.id}>
            <b>{n.title}</b> <small>{formatDate(n.created_at)}</small>
            <button type="button" aria-label={`${t("studio.remove")} — ${n.title}`} onClick={() => void remove(n.id)}>
              {t("studio.remove")}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Recordings({ channelId }: { channelId: string }) {
  const vods = useLoad(async () => unwrap(await api().GET("/api/channels/{id}/vods", { params: { path: { id: channelId }, query: { limit: 50 } } })).items, [channelId], 15_000);
  const { note, run } = useAction();
  const remove = async (id: string) => {
    if (!confirm(t("studio.deleteVodConfirm"))) return;
    await run(async () => unwrap(await api().DELETE("/api/vods/{id}", { params: { path: { id } } })), vods.reload, null);
  };
  return (
    <section class="panel" aria-labelledby="vods-h">
      <h2 id="vods-h">{t("studio.vods")}</h2>
      {note && <p role="status">{note}</p>}
      {vods.data && vods.data.length === 0 && <p class="empty">{t("watch.noVods")}</p>}
      <ul class="rows">
        {(vods.data ?? []).map((v) => (
          <li key={v.id}>
            <Link href={`/v/${v.id}`}>{v.title}</Link> <small>{formatDate(v.started_at)}</small>{" "}
            {v.duration_secs != null && <small>{formatDuration(v.duration_secs)}</small>}
            <button type="button" class="danger" aria-label={`${t("studio.deleteVod")} — ${v.title}`} onClick={() => void remove(v.id)}>
              {t("studio.deleteVod")}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Studio() {
  const user = me.value;
  const mine = useLoad(async () => unwrap(await api().GET("/api/channels/mine")), [user?.id], 3000);
  const [client, setClient] = useState<ChatClient | null>(null);
  const m = mine.data;
  if (mine.error && !m) return <PageError message={mine.error} />;
  if (!m) return <PageLoading />;
  return (
    <div class="page studio">
      <h1>
        {t("studio.title")} · <Link href={`/c/${m.id}`}>{m.name}</Link>
      </h1>
      <div class="studio-grid">
        <div class="studio-main">
          <Setup mine={m} onRotated={mine.reload} />
          <section class="panel" aria-labelledby="status-h">
            <h2 id="status-h">{t("studio.status")}</h2>
            {m.live_id ? (
              <Health liveId={m.live_id} />
            ) : (
              <>
                <p class="status-line" role="status">
                  {t("studio.offline")}
                </p>
                {m.ingest_refusal && (
                  <p class="error" role="alert" data-testid="ingest-refusal">
                    {t(`studio.refused.${m.ingest_refusal.reason}`, { time: formatTime(m.ingest_refusal.at) })}
                  </p>
                )}
              </>
            )}
          </section>
          <ChannelSettings mine={m} onSaved={mine.reload} />
          <Moderation channelId={m.id} client={client} />
          <NoticesEditor channelId={m.id} />
          <Recordings channelId={m.id} />
        </div>
        <ChatPanel channelId={m.id} onClient={setClient} />
      </div>
    </div>
  );
}

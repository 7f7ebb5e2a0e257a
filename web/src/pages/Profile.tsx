import { useState } from "preact/hooks";
import { api, unwrap } from "../api/client";
import { me, setMe } from "../auth";
import { mediaUrl } from "../config";
import { formatDate, t } from "../i18n";
import { Link } from "../router";
import { TextField } from "../ui/Field";
import { useAction, useLoad } from "../ui/util";
import { PageError, PageLoading } from "../ui/Page";
import { VodList } from "./Watch";

export function Profile({ id }: { id: string }) {
  const user = useLoad(async () => unwrap(await api().GET("/api/users/{id}", { params: { path: { id } } })), [id]);
  if (user.error) return <PageError message={user.error} />;
  const u = user.data;
  if (!u) return <PageLoading />;
  return (
    <div class="page">
      <header class="channel-head">
        {u.avatar_url ? <img class="avatar" src={mediaUrl(u.avatar_url)} alt="" width={56} height={56} /> : <span class="avatar ph" aria-hidden="true">{u.nickname.slice(0, 1)}</span>}
        <div class="channel-info">
          <h1>{u.nickname}</h1>
          <p class="pre">{u.bio}</p>
          <p class="meta">
            <span>{t("profile.joined", { d: formatDate(u.created_at) })}</span>
            <Link href={`/c/${u.channel_id}`}>{t("profile.channel")}</Link>
          </p>
        </div>
      </header>
      <h2>{t("watch.lastVods")}</h2>
      <VodList channelId={u.channel_id} />
    </div>
  );
}

export function Settings() {
  const m = me.value;
  const [nickname, setNickname] = useState(m?.nickname ?? "");
  const [bio, setBio] = useState(m?.bio ?? "");
  const { note, run } = useAction();
  if (!m) return null;
  const save = async (e: Event) => {
    e.preventDefault();
    await run(async () => setMe(unwrap(await api().PATCH("/api/users/me", { body: { nickname, bio } }))), undefined, t("settings.saved"));
  };
  // The presigned flow: ask for an upload URL, PUT the file to S3, confirm the key.
  const upload = (file: File) =>
    run(async () => {
      const p = unwrap(await api().POST("/api/users/me/avatar", { body: { content_type: file.type, content_length: file.size } }));
      const put = await fetch(p.upload_url, { method: p.method, headers: { "content-type": p.headers["content-type"] }, body: file });
      if (!put.ok) throw new Error(`upload ${put.status}`);
      setMe(unwrap(await api().PUT("/api/users/me/avatar", { body: { key: p.key } })));
    }, undefined, t("settings.saved"));
  return (
    <div class="page narrow">
      <h1>{t("settings.title")}</h1>
      <form class="form" onSubmit={save}>
        <TextField label={t("auth.nickname")} value={nickname} required minLength={2} maxLength={20} onValue={setNickname} />
        <TextField label={t("settings.bio")} multiline value={bio} maxLength={300} onValue={setBio} />
        <button type="submit" class="primary">{t("studio.save")}</button>
      </form>
      <label class="upload">
        {t("settings.avatar")}
        {m.avatar_url && <img class="avatar" src={mediaUrl(m.avatar_url)} alt="" width={56} height={56} />}
        <input type="file" accept="image/png,image/jpeg,image/webp" onChange={(e) => e.currentTarget.files?.[0] && void upload(e.currentTarget.files[0])} />
      </label>
      {note && <p role="status">{note}</p>}
    </div>
  );
}

export function NotFound() {
  return (
    <div class="page narrow">
      <h1>{t("notfound.title")}</h1>
      <Link href="/">{t("notfound.back")}</Link>
    </div>
  );
}

import type { Schemas } from "../api/client";
import { mediaUrl } from "../config";
import { count, formatDuration, t } from "../i18n";
import { Link } from "../router";
import { uptime } from "./util";

/** One live in a grid; `tick` changes every ~10 s so the thumbnail refreshes. */
export function LiveCard({ live, tick }: { live: Schemas["LiveSummary"]; tick: number }) {
  // The first thumbnail takes a moment after the live starts: a placeholder until then.
  const thumb = live.thumbnail_url ? `${mediaUrl(live.thumbnail_url)}?v=${tick}` : null;
  return (
    <li class="card">
      <Link href={`/c/${live.channel.id}`} class="card-link">
        <div class="thumb">
          {thumb ? <img src={thumb} alt="" loading="lazy" width={320} height={180} /> : <span class="thumb-ph" aria-hidden="true" />}
          <span class="pill live">{t("watch.live")}</span>
          <span class="pill viewers">{count(live.viewer_count, "card.viewer", "card.viewers")}</span>
          <span class="pill uptime">{formatDuration(uptime(live.started_at))}</span>
        </div>
        <h3 class="card-title">{live.title}</h3>
      </Link>
      <p class="card-meta">
        <Link href={`/c/${live.channel.id}`}>{live.channel.name}</Link>
        {live.category && <span class="cat">{live.category}</span>}
      </p>
    </li>
  );
}

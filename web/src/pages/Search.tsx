import { api, unwrap } from "../api/client";
import { t } from "../i18n";
import { Link, query } from "../router";
import { useLoad } from "../ui/util";

export function Search() {
  const q = query.value.get("q")?.trim() ?? "";
  const hits = useLoad(
    async () => (q ? unwrap(await api().GET("/api/search", { params: { query: { q } } })) : []),
    [q],
  );
  return (
    <div class="page">
      <h1>{t("search.title", { q })}</h1>
      {hits.error && <p class="error" role="alert">{hits.error}</p>}
      {hits.data && hits.data.length === 0 && <p class="empty">{t("search.empty")}</p>}
      <ul class="results">
        {(hits.data ?? []).map((h) => (
          <li key={`${h.type}:${h.id}`}>
            <Link href={`/c/${h.channel_id}`}>
              {h.live && <span class="pill live">{t("search.live")}</span>} {h.text}
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}

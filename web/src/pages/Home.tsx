import { useState } from "preact/hooks";
import { api, unwrap, type Schemas } from "../api/client";
import { me } from "../auth";
import { t } from "../i18n";
import { LiveCard } from "../ui/LiveCard";
import { Link } from "../router";
import { useLoad, useTick } from "../ui/util";

export function Home() {
  const tick = useTick(10_000);
  const lives = useLoad(async () => unwrap(await api().GET("/api/lives", { params: { query: { limit: 100 } } })).items, [], 10_000);
  const user = me.value;
  const following = useLoad(
    async () => (user ? unwrap(await api().GET("/api/users/me/following")) : []),
    [user?.id],
    30_000,
  );
  const [category, setCategory] = useState<Schemas["Category"] | null>(null);
  const all = lives.data ?? [];
  const categories = [...new Set(all.map((l) => l.category).filter((c): c is Schemas["Category"] => !!c))].sort();
  const shown = category ? all.filter((l) => l.category === category) : all;
  const followed = (following.data ?? []).filter((f) => f.live);

  return (
    <div class="page home">
      {user && followed.length > 0 && (
        <section aria-labelledby="following-h">
          <h2 id="following-h">{t("home.following")}</h2>
          <ul class="grid">
            {followed.map((f) => f.live && <LiveCard key={f.id} live={f.live} tick={tick} />)}
          </ul>
        </section>
      )}
      <section aria-labelledby="live-h">
        <div class="section-head">
          <h2 id="live-h">{t("home.live")}</h2>
          {categories.length > 0 && (
            <div class="chips" role="group" aria-label={t("home.category")}>
              <button type="button" aria-pressed={category === null} onClick={() => setCategory(null)}>
                {t("home.allCategories")}
              </button>
              {categories.map((c) => (
                <button type="button" key={c} aria-pressed={category === c} onClick={() => setCategory(c)}>
                  {c}
                </button>
              ))}
            </div>
          )}
        </div>
        {lives.error && <p class="error" role="alert">{lives.error}</p>}
        {lives.data && shown.length === 0 && <p class="empty">{t("home.empty")}</p>}
        <ul class="grid">
          {shown.map((l) => (
            <LiveCard key={l.id} live={l} tick={tick} />
          ))}
        </ul>
      </section>
      {!user && (
        <p class="cta">
          <Link href="/signup">{t("nav.signup")}</Link> · <Link href="/login">{t("nav.signin")}</Link>
        </p>
      )}
    </div>
  );
}

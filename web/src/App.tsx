import { useEffect, useState } from "preact/hooks";
import type { ComponentChildren } from "preact";
import { authReady, logout, me } from "./auth";
import { lang, setLang, t } from "./i18n";
import { Link, match, navigate, path, query } from "./router";
import { Icon } from "./ui/Icon";
import { useMenu } from "./ui/menu";
import { Home } from "./pages/Home";
import { Search } from "./pages/Search";
import { Watch } from "./pages/Watch";
import { Vod } from "./pages/Vod";
import { Login, Signup } from "./pages/Auth";
import { Studio } from "./pages/Studio";
import { NotFound, Profile, Settings } from "./pages/Profile";

function SearchBox() {
  const [q, setQ] = useState(query.value.get("q") ?? "");
  useEffect(() => setQ(query.value.get("q") ?? ""), [query.value]);
  return (
    <form
      class="search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        if (q.trim()) navigate(`/search?q=${encodeURIComponent(q.trim())}`);
      }}
    >
      <input type="search" aria-label={t("nav.search")} placeholder={t("nav.searchPlaceholder")} maxLength={50} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      <button type="submit" aria-label={t("nav.search")}>
        <Icon name="search" size={18} />
      </button>
    </form>
  );
}

function UserMenu() {
  const user = me.value;
  const [open, setOpen] = useState(false);
  const userMenu = useMenu(open, () => setOpen(false));
  if (!user) {
    return (
      <nav class="user" aria-label="account">
        <Link href="/login">{t("nav.signin")}</Link>
        <Link href="/signup" class="button primary">
          {t("nav.signup")}
        </Link>
      </nav>
    );
  }
  const out = async (all: boolean) => {
    setOpen(false);
    await logout(all);
    navigate("/");
  };
  return (
    <nav class="user" aria-label="account">
      <Link href="/studio">{t("nav.studio")}</Link>
      <div class="menu-wrap">
        <button type="button" ref={userMenu.button} aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)}>
          {user.nickname} ▾
        </button>
        {open && (
          <ul class="menu right" role="menu" ref={userMenu.menu} onKeyDown={userMenu.onKeyDown}>
            <li role="none">
              <Link role="menuitem" href={`/u/${user.id}`} onClick={() => setOpen(false)}>
                {t("nav.profile")}
              </Link>
            </li>
            <li role="none">
              <Link role="menuitem" href="/settings" onClick={() => setOpen(false)}>
                {t("nav.settings")}
              </Link>
            </li>
            <li role="none">
              <button type="button" role="menuitem" onClick={() => void out(false)}>
                {t("nav.signout")}
              </button>
            </li>
            <li role="none">
              <button type="button" role="menuitem" onClick={() => void out(true)}>
                {t("nav.signoutAll")}
              </button>
            </li>
          </ul>
        )}
      </div>
    </nav>
  );
}

/** Pages that need a session wait for the first refresh, then send anonymous users to sign in. */
function Private({ children }: { children: ComponentChildren }) {
  const ready = authReady.value;
  const user = me.value;
  useEffect(() => {
    if (ready && !user) navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true);
  }, [ready, user]);
  return ready && user ? <>{children}</> : <div class="page" aria-busy="true" />;
}

function Page() {
  const p = path.value;
  let m: Record<string, string> | null;
  if (p === "/") return <Home />;
  if (p === "/search") return <Search />;
  if (p === "/login") return <Login />;
  if (p === "/signup") return <Signup />;
  if (p === "/studio") return <Private><Studio /></Private>;
  if (p === "/settings") return <Private><Settings /></Private>;
  if ((m = match("/c/:id", p))) return <Watch key={m.id} id={m.id ?? ""} />;
  if ((m = match("/v/:id", p))) return <Vod key={m.id} id={m.id ?? ""} />;
  if ((m = match("/u/:id", p))) return <Profile key={m.id} id={m.id ?? ""} />;
  return <NotFound />;
}

export function App() {
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="logo">
          Lait <span lang="ko">라잇</span>
        </Link>
        <SearchBox />
        <UserMenu />
        <select class="lang" aria-label={t("nav.language")} value={lang.value} onChange={(e) => setLang(e.currentTarget.value === "ko" ? "ko" : "en")}>
          <option value="ko" lang="ko">
            한국어
          </option>
          <option value="en" lang="en">
            English
          </option>
        </select>
      </header>
      <main id="main" tabIndex={-1}>
        <Page />
      </main>
    </>
  );
}

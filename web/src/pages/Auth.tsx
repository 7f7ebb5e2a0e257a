import { useState } from "preact/hooks";
import { apiUrl, config } from "../config";
import { login, signup } from "../auth";
import { t } from "../i18n";
import { Link, navigate, query } from "../router";

/** Where to go after signing in: an in-app path only (never another origin). */
function next(): string {
  const n = query.value.get("next") ?? "/";
  return n.startsWith("/") && !n.startsWith("//") ? n : "/";
}

async function problem(res: Response): Promise<string> {
  try {
    const p = (await res.json()) as { detail?: string; errors?: { field: string; message: string }[] };
    if (p.errors?.length) return p.errors.map((e) => `${e.field}: ${e.message}`).join(" · ");
    return p.detail ?? t("err.generic");
  } catch {
    return t("err.generic");
  }
}

/** A form's submit handler: busy while `send` runs, and the error it returns (or a network error) shown. */
function useSubmit(send: () => Promise<string | null>) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setError(await send());
    } catch {
      setError(t("err.network"));
    } finally {
      setBusy(false);
    }
  };
  return { submit, busy, error };
}

export function Login() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { submit, busy, error } = useSubmit(async () => {
    const res = await login(email, password);
    if (!res.ok) return res.status === 401 ? t("auth.failed") : await problem(res);
    navigate(next(), true);
    return null;
  });
  return (
    <div class="page narrow">
      <h1>{t("auth.signinTitle")}</h1>
      <form class="form" onSubmit={submit}>
        <label>
          {t("auth.email")}
          <input type="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          {t("auth.password")}
          <input type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          {t("auth.signin")}
        </button>
      </form>
      {config.kakao && (
        <a class="kakao" href={apiUrl("/api/auth/kakao/start")}>
          {t("auth.kakao")}
        </a>
      )}
      <p>
        {t("auth.noAccount")} <Link href={`/signup${location.search}`}>{t("nav.signup")}</Link>
      </p>
    </div>
  );
}

export function Signup() {
  const [email, setEmail] = useState("");
  const [nickname, setNickname] = useState("");
  const [password, setPassword] = useState("");
  const { submit, busy, error } = useSubmit(async () => {
    const res = await signup(email, nickname, password);
    if (!res.ok) return await problem(res);
    const session = await login(email, password);
    navigate(session.ok ? next() === "/" ? "/studio" : next() : "/login", true);
    return null;
  });
  return (
    <div class="page narrow">
      <h1>{t("auth.signupTitle")}</h1>
      <form class="form" onSubmit={submit}>
        <label>
          {t("auth.email")}
          <input type="email" autocomplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          {t("auth.nickname")}
          <input
            type="text"
            autocomplete="nickname"
            required
            minLength={2}
            maxLength={20}
            aria-describedby="nick-hint"
            value={nickname}
            onInput={(e) => setNickname(e.currentTarget.value)}
          />
        </label>
        <small id="nick-hint">{t("auth.nicknameHint")}</small>
        <label>
          {t("auth.password")}
          <input
            type="password"
            autocomplete="new-password"
            required
            minLength={10}
            maxLength={128}
            aria-describedby="pw-hint"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <small id="pw-hint">{t("auth.passwordHint")}</small>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          {t("auth.signup")}
        </button>
      </form>
      <p>
        {t("auth.haveAccount")} <Link href={`/login${location.search}`}>{t("nav.signin")}</Link>
      </p>
    </div>
  );
}

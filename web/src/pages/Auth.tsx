import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { apiUrl, config } from "../config";
import { login, signup } from "../auth";
import { t } from "../i18n";
import { Link, navigate, query } from "../router";
import { TextField } from "../ui/Field";

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

/** A sign-in or sign-up page: its title, the form's fields, its error and submit button, and what follows the form. */
function AuthPage(props: { title: string; action: string; form: ReturnType<typeof useSubmit>; children: ComponentChildren; footer: ComponentChildren }) {
  const { submit, busy, error } = props.form;
  return (
    <div class="page narrow">
      <h1>{props.title}</h1>
      <form class="form" onSubmit={submit}>
        {props.children}
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          {props.action}
        </button>
      </form>
      {props.footer}
    </div>
  );
}

export function Login() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const form = useSubmit(async () => {
    const res = await login(email, password);
    if (!res.ok) return res.status === 401 ? t("auth.failed") : await problem(res);
    navigate(next(), true);
    return null;
  });
  const footer = (
    <>
      {config.kakao && (
        <a class="kakao" href={apiUrl("/api/auth/kakao/start")}>
          {t("auth.kakao")}
        </a>
      )}
      <p>
        {t("auth.noAccount")} <Link href={`/signup${location.search}`}>{t("nav.signup")}</Link>
      </p>
    </>
  );
  return (
    <AuthPage title={t("auth.signinTitle")} action={t("auth.signin")} form={form} footer={footer}>
      <TextField label={t("auth.email")} type="email" autocomplete="username" required value={email} onValue={setEmail} />
      <TextField label={t("auth.password")} type="password" autocomplete="current-password" required value={password} onValue={setPassword} />
    </AuthPage>
  );
}

export function Signup() {
  const [email, setEmail] = useState("");
  const [nickname, setNickname] = useState("");
  const [password, setPassword] = useState("");
  const form = useSubmit(async () => {
    const res = await signup(email, nickname, password);
    if (!res.ok) return await problem(res);
    const session = await login(email, password);
    navigate(session.ok ? next() === "/" ? "/studio" : next() : "/login", true);
    return null;
  });
  const footer = (
    <p>
      {t("auth.haveAccount")} <Link href={`/login${location.search}`}>{t("nav.signin")}</Link>
    </p>
  );
  return (
    <AuthPage title={t("auth.signupTitle")} action={t("auth.signup")} form={form} footer={footer}>
      <TextField label={t("auth.email")} type="email" autocomplete="email" required value={email} onValue={setEmail} />
      <TextField label={t("auth.nickname")} hint={t("auth.nicknameHint")} type="text" autocomplete="nickname" required minLength={2} maxLength={20} value={nickname} onValue={setNickname} />
      <TextField label={t("auth.password")} hint={t("auth.passwordHint")} type="password" autocomplete="new-password" required minLength={10} maxLength={128} value={password} onValue={setPassword} />
    </AuthPage>
  );
}

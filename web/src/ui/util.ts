import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/client";
import { t } from "../i18n";

/** Re-renders every `ms` (uptimes, refreshing thumbnails). */
export function useTick(ms: number): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const id = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(id);
  }, [ms]);
  return n;
}

/** Loads `load()` whenever `deps` change (and every `every` ms if given); keeps the last good value. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], every?: number) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then(
        (d) => live && (setData(d), setError(null)),
        (e: unknown) => live && setError(message(e)),
      );
    void run();
    const id = every ? setInterval(run, every) : undefined;
    return () => {
      live = false;
      clearInterval(id);
    };
  }, [...deps, version]);
  return { data, error, reload: () => setVersion((v) => v + 1), set: setData };
}

/**
 * A write the user started (save, delete, rotate…): `run` awaits it, then shows `done` (or the
 * error, as a message for the user) in `note` and calls `after` on success.
 */
export function useAction() {
  const [note, setNote] = useState<string | null>(null);
  const run = async (f: () => Promise<unknown>, after?: () => void, done: string | null = t("studio.saved")): Promise<boolean> => {
    try {
      await f();
      setNote(done);
      after?.();
      return true;
    } catch (e) {
      setNote(message(e));
      return false;
    }
  };
  return { note, run };
}

export function message(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof TypeError) return t("err.network");
  return t("err.generic");
}

export function uptime(startedAt: string, now = Date.now()): number {
  return Math.max(0, (now - Date.parse(startedAt)) / 1000);
}

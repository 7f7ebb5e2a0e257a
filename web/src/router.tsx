// A small history-API router: the routes are few and fixed, a dependency would add more than it
// saves. Links are real <a href>s (open in new tab, copy link) intercepted for in-app navigation.
import { signal } from "@preact/signals";
import type { ComponentChildren, JSX } from "preact";

export const path = signal(location.pathname);
export const query = signal(new URLSearchParams(location.search));

function sync(): void {
  path.value = location.pathname;
  query.value = new URLSearchParams(location.search);
}

addEventListener("popstate", sync);

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  sync();
  if (!replace) scrollTo(0, 0);
}

/** Matches `pattern` (`/c/:id`) against `p`; returns the parameters or null. */
export function match(pattern: string, p: string): Record<string, string> | null {
  const a = pattern.split("/");
  const b = p.replace(/\/+$/, "").split("/");
  if (p === "/" && pattern === "/") return {};
  if (a.length !== b.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    const seg = a[i] ?? "";
    const got = b[i] ?? "";
    if (seg.startsWith(":")) {
      if (!got) return null;
      out[seg.slice(1)] = decodeURIComponent(got);
    } else if (seg !== got) return null;
  }
  return out;
}

type LinkProps = JSX.HTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren };

export function Link({ href, onClick, ...rest }: LinkProps) {
  return (
    <a
      href={href}
      onClick={(e) => {
        if (onClick) (onClick as (ev: MouseEvent) => void)(e as unknown as MouseEvent);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
      {...rest}
    />
  );
}

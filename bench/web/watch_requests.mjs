// What one viewer's watch page costs the API: a signed-in viewer (the costlier case: a token, a
// refresh cookie, the follow state) in Debian's Chromium on a live channel for N minutes, every
// request the page makes counted by path. A request is *shared* when a CDN in front of /api
// answers it from one copy for every viewer: a GET sent without token or cookie whose answer says
// `public, s-maxage` (the /api cache policy of template.yaml keys on both and caches only what the
// origin marks so). Everything else reaches a function once per viewer: *uncached*. Prints the
// uncached API requests per viewer-minute in the first minute (page load) and in steady state
// (the minutes after), requests by path, and every process's CPU over the run.
import { createRequire } from "node:module";
import { cpuReport, cpuTicks } from "./cpu.mjs";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const BASE = process.env.LAIT_BASE;
const CHANNEL = process.env.LAIT_CHANNEL;
const MINUTES = Number(process.env.LAIT_MINUTES ?? 5);
const TARGET = 1; // uncached API requests per viewer-minute, steady state (issue #26)

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});
const ctx = await browser.newContext();

// A viewer with an account: signed up, then signed in through the login page as a person does
// (the refresh cookie, and the app's note that this browser has a session).
const email = `viewer-${Date.now()}@example.com`;
const password = "correct horse battery";
const signup = await ctx.request.post(`${BASE}/api/auth/signup`, { data: { email, password, nickname: `v${Date.now() % 1e9}` } });
if (signup.status() !== 201) throw new Error(`sign-up: ${signup.status()} ${await signup.text()}`);
const page = await ctx.newPage();
await page.goto(`${BASE}/login`);
await page.getByLabel("Email", { exact: true }).fill(email);
await page.getByLabel("Password", { exact: true }).fill(password);
await page.getByRole("button", { name: "Sign in" }).click();
await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: 15_000 });

const t0 = Date.now();
const seen = [];
page.on("requestfinished", async (req) => {
  const url = new URL(req.url());
  if (!url.pathname.startsWith("/api/")) return;
  const [headers, res] = await Promise.all([req.allHeaders(), req.response()]);
  const policy = (res && (await res.allHeaders())["cache-control"]) || "";
  const credentials = "authorization" in headers || "cookie" in headers;
  const shared = req.method() === "GET" && !credentials && /\bpublic\b/.test(policy) && /s-maxage=[1-9]/.test(policy);
  // Ids in paths become {id}, so one route is one line.
  const route = url.pathname.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "{id}");
  seen.push({ at: (Date.now() - t0) / 1000, key: `${req.method()} ${route}`, shared, status: res?.status() });
});
const media = { playlists: 0, segments: 0 };
page.on("request", (req) => {
  const p = new URL(req.url()).pathname;
  if (p.startsWith("/media/") && p.endsWith(".m3u8")) media.playlists++;
  else if (p.startsWith("/media/") && /\.(ts|m4s|mp4)$/.test(p)) media.segments++;
});

const cpu0 = cpuTicks();
await page.goto(`${BASE}/c/${CHANNEL}`, { waitUntil: "domcontentloaded" });
await page.locator("video").waitFor({ timeout: 30_000 });
await page.waitForTimeout(MINUTES * 60_000 - (Date.now() - t0));
const secs = (Date.now() - t0) / 1000;
const cpu1 = cpuTicks();
const playing = await page.evaluate(() => {
  const v = document.querySelector("video");
  return v ? { time: v.currentTime, paused: v.paused } : null;
});
await browser.close();

const signedIn = seen.some((r) => r.key === "GET /api/channels/{id}/follow") && seen.some((r) => r.key === "POST /api/chat/tickets");
if (!signedIn) console.log("the page did not act signed in (no follow state, no chat ticket): the figure below is an anonymous viewer's");
const first = seen.filter((r) => r.at < 60);
const steady = seen.filter((r) => r.at >= 60);
const uncached = (rs) => rs.filter((r) => !r.shared).length;
const steadyMinutes = (secs - 60) / 60;
const perMinute = uncached(steady) / steadyMinutes;
console.log(`watch page, signed-in viewer, ${secs.toFixed(0)} s on a live channel (video at ${playing?.time.toFixed(1)} s, ${playing?.paused ? "paused" : "playing"})`);
console.log(`API requests: ${seen.length} (${seen.filter((r) => r.shared).length} shared at the CDN, ${uncached(seen)} uncached)`);
console.log(`uncached API requests, first minute (page load): ${uncached(first)}`);
console.log(`uncached API requests per viewer-minute, steady state (minutes 2-${MINUTES}): ${perMinute.toFixed(2)} (target <= ${TARGET})`);
console.log(`shared API requests per viewer-minute, steady state: ${(steady.filter((r) => r.shared).length / steadyMinutes).toFixed(1)}`);
console.log(`media requests (the CDN's, from S3): ${media.playlists} playlists, ${media.segments} segments`);
console.log("by route (uncached / shared, statuses):");
const by = new Map();
for (const r of seen) {
  const e = by.get(r.key) ?? { uncached: 0, shared: 0, statuses: new Set() };
  e[r.shared ? "shared" : "uncached"]++;
  e.statuses.add(r.status);
  by.set(r.key, e);
}
for (const [k, e] of [...by].sort((a, b) => b[1].uncached + b[1].shared - a[1].uncached - a[1].shared)) {
  console.log(`  ${String(e.uncached).padStart(4)} / ${String(e.shared).padStart(4)}  ${k}  [${[...e.statuses].join(" ")}]`);
}
console.log(`CPU (cores) over the run: ${cpuReport(cpu0, cpu1, secs)}`);
process.exit(signedIn && perMinute <= TARGET && playing && !playing.paused ? 0 : 1);

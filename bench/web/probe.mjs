// The web app's performance budget, measured in Debian's Chromium against a running stack with a
// live (bench/web.sh starts it). Prints:
//   - gzipped JavaScript each page loads (every script response, gzip -6 as a CDN would serve it)
//   - navigation → first video frame on the watch page (requestVideoFrameCallback's presentation
//     time against the navigation's time origin), median / min / max over N fresh browser contexts
//   - the chat panel's frame rate and long tasks while 20 senders put 100 msg/s into the room,
//     and every process's CPU over that flood
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import { cpuReport, cpuTicks } from "./cpu.mjs";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const BASE = process.env.LAIT_BASE;
const CHANNEL = process.env.LAIT_CHANNEL;
const OWNER = process.env.LAIT_OWNER_TOKEN;
const RUNS = Number(process.env.LAIT_RUNS ?? 7);
const RATE = 100;
const SENDERS = 20;
const FLOOD_SECS = 15;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});

async function scripts(path) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const bodies = [];
  page.on("response", async (r) => {
    if (r.request().resourceType() === "script") bodies.push(r.body().then((b) => ({ url: new URL(r.url()).pathname, raw: b.length, gz: gzipSync(b, { level: 6 }).length })));
  });
  await page.goto(BASE + path, { waitUntil: "networkidle" });
  await sleep(1500);
  const all = await Promise.all(bodies);
  await ctx.close();
  return all;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// ---- JavaScript per page ----
const home = await scripts("/");
const watch = await scripts(`/c/${CHANNEL}`);
const sum = (xs) => xs.reduce((a, b) => a + b.gz, 0);
console.log(`home JS: ${kb(sum(home))} gzipped (${home.map((s) => `${s.url} ${kb(s.gz)}`).join(", ")}); hls.js loaded: ${home.some((s) => s.url.includes("hls"))}`);
console.log(`watch JS: ${kb(sum(watch))} gzipped (${watch.map((s) => `${s.url} ${kb(s.gz)}`).join(", ")})`);

// ---- navigation → first frame ----
const firstFrames = [];
for (let i = 0; i < RUNS; i++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.addInitScript(() => {
    const poll = setInterval(() => {
      const v = document.querySelector("video");
      if (!v) return;
      clearInterval(poll);
      v.requestVideoFrameCallback((now) => {
        window.__firstFrame = now;
      });
    }, 5);
  });
  await page.goto(`${BASE}/c/${CHANNEL}`);
  const t = await page.waitForFunction(() => window.__firstFrame, null, { timeout: 20_000 }).then((h) => h.jsonValue());
  firstFrames.push(t / 1000);
  await ctx.close();
}
console.log(`navigation → first video frame (watch page, live, loopback): median ${median(firstFrames).toFixed(2)} s, min ${Math.min(...firstFrames).toFixed(2)}, max ${Math.max(...firstFrames).toFixed(2)} over ${RUNS} runs`);

// ---- chat panel under a 100 msg/s room ----
const api = async (method, path, body, token) => {
  const res = await fetch(BASE + path, { method, headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body ? JSON.stringify(body) : undefined });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
};
await api("PATCH", `/api/channels/${CHANNEL}/chat/settings`, { messages_per_second: RATE / SENDERS + 1, burst: 20 }, OWNER);
const tag = Math.random().toString(36).slice(2, 8);
const senders = [];
for (let i = 0; i < SENDERS; i++) {
  const email = `flood${i}-${tag}@example.com`;
  await api("POST", "/api/auth/signup", { email, nickname: `fl${i}_${tag}`, password: "correct horse battery" });
  const { access_token } = await api("POST", "/api/auth/login", { email, password: "correct horse battery" });
  const { ticket } = await api("POST", "/api/chat/tickets", { channel_id: CHANNEL }, access_token);
  const ws = new WebSocket(`${BASE.replace("http", "ws")}/ws?channel=${CHANNEL}&ticket=${ticket}`);
  await new Promise((ok, err) => {
    ws.onopen = ok;
    ws.onerror = err;
  });
  let acked = 0;
  ws.onmessage = (e) => {
    if (String(e.data).includes('"ack"')) acked++;
  };
  senders.push({ ws, acked: () => acked });
}

const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await ctx.newPage();
await page.goto(`${BASE}/c/${CHANNEL}`);
await page.waitForFunction(() => document.querySelector("video")?.currentTime > 0.5, null, { timeout: 20_000 });
await page.evaluate(() => {
  window.__frames = 0;
  window.__long = [];
  new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({ type: "longtask" });
  const tick = () => {
    window.__frames++;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
});
// Baseline: the same page playing the live, no chat traffic.
const q0 = await page.evaluate(() => window.__frames);
await sleep(FLOOD_SECS * 1000);
const quiet = await page.evaluate(() => window.__long.splice(0));
const quietFps = ((await page.evaluate(() => window.__frames)) - q0) / FLOOD_SECS;
console.log(`watch page playing, quiet chat, ${FLOOD_SECS} s: ${quietFps.toFixed(1)} fps, long tasks > 50 ms: ${quiet.length}${quiet.length ? ` (max ${Math.max(...quiet).toFixed(0)} ms)` : ""}`);
const linesBefore = await page.locator('[role="log"] .chat-line').count();
// LAIT_PROFILE=1: a CPU profile of the page over the flood, its top functions by self time.
const profiler = process.env.LAIT_PROFILE ? await page.context().newCDPSession(page) : null;
if (profiler) {
  await profiler.send("Profiler.enable");
  await profiler.send("Profiler.setSamplingInterval", { interval: 200 });
  await profiler.send("Profiler.start");
}
// LAIT_TRACE=1: a Chromium trace over the flood; prints each long task on the page's main thread
// with the events inside it that took longest (what made it long).
if (process.env.LAIT_TRACE) await browser.startTracing(page, { categories: ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8"] });
const cpu0 = cpuTicks();
const f0 = await page.evaluate(() => window.__frames);
const t0 = Date.now();
let sent = 0;
const every = 1000 / RATE;
while (Date.now() - t0 < FLOOD_SECS * 1000) {
  const due = Math.floor((Date.now() - t0) / every);
  while (sent < due) {
    const s = senders[sent % SENDERS];
    s.ws.send(JSON.stringify({ action: "send", text: `flood ${sent} ${tag}` }));
    sent++;
  }
  await sleep(5);
}
const secs = (Date.now() - t0) / 1000;
const f1 = await page.evaluate(() => window.__frames);
const cpu1 = cpuTicks();
const long = await page.evaluate(() => window.__long);
if (profiler) {
  const { profile } = await profiler.send("Profiler.stop");
  const self = new Map();
  const dt = profile.timeDeltas;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const k = `${f.functionName || "(anon)"} ${f.url.split("/").pop()}:${f.lineNumber}`;
    self.set(k, (self.get(k) ?? 0) + (dt[i] ?? 0));
  });
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20);
  console.log("profile (self ms over the flood):\n" + top.map(([k, us]) => `  ${(us / 1000).toFixed(0).padStart(6)}  ${k}`).join("\n"));
}
if (process.env.LAIT_TRACE) {
  const { traceEvents } = JSON.parse((await browser.stopTracing()).toString());
  const main = new Set(traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name" && e.args?.name === "CrRendererMain").map((e) => `${e.pid}:${e.tid}`));
  const onMain = traceEvents.filter((e) => e.ph === "X" && main.has(`${e.pid}:${e.tid}`));
  for (const task of onMain.filter((e) => e.name === "RunTask" && e.dur > 50_000)) {
    const inside = onMain
      .filter((e) => e !== task && e.pid === task.pid && e.tid === task.tid && e.ts >= task.ts && e.ts + (e.dur ?? 0) <= task.ts + task.dur)
      .sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0))
      .slice(0, 6)
      .map((e) => `${e.name}${e.args?.data?.functionName ? `(${e.args.data.functionName})` : ""}${e.args?.data?.url ? `[${e.args.data.url.split("/").pop()}]` : ""} ${((e.dur ?? 0) / 1000).toFixed(0)} ms`);
    console.log(`long task ${(task.dur / 1000).toFixed(0)} ms: ${inside.join(", ")}`);
  }
}
await sleep(1500);
const shown = await page.locator('[role="log"] .chat-line').count();
const last = shown ? await page.locator('[role="log"] .chat-line .text').last().textContent() : `(none; status: ${await page.locator(".chat-head").textContent()}, invalid frames: ${await page.evaluate(() => window.__laitChat?.invalidFrames)})`;
const acked = senders.reduce((a, s) => a + s.acked(), 0);
console.log(
  `chat panel at ${(sent / secs).toFixed(0)} msg/s for ${secs.toFixed(0)} s (${acked} acked): ${((f1 - f0) / secs).toFixed(1)} fps, ` +
    `long tasks > 50 ms: ${long.length}${long.length ? ` (max ${Math.max(...long).toFixed(0)} ms)` : ""}, lines kept ${shown} (was ${linesBefore}), last "${last}"`,
);
console.log(`CPU (cores) during the flood: ${cpuReport(cpu0, cpu1, secs)}`);
for (const s of senders) s.ws.close();
await browser.close();

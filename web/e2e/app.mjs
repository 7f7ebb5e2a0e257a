// Browser end-to-end test of the web app (run by tests/e2e/web.py, which starts the stack):
// Debian's Chromium driven by playwright-core through sign-up, studio, a real RTMP publisher,
// watching, chatting in three browser contexts, moderation, a server-side cut of a chat
// connection, going offline, the VOD with chat replay, accessibility, CSP and token hygiene.
// Prints `ok - <check>` / `not ok - <check> :: <detail>`; exits 1 on any failure.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const BASE = process.env.LAIT_BASE;
const RTMP_PORT = process.env.LAIT_RTMP_PORT;
const TMP = process.env.LAIT_E2E_TMP ?? "/tmp";
const SHOTS = process.env.LAIT_SCREENSHOTS ?? join(TMP, "screenshots");
const REDIS_URL = process.env.REDIS_URL;
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const PASSWORD = "correct horse battery";

let failures = 0;
function check(name, cond, detail = "") {
  if (cond) console.log(`ok - ${name}`);
  else {
    failures++;
    console.log(`not ok - ${name} :: ${String(detail).replace(/\s+/g, " ").slice(0, 500)}`);
  }
  return cond;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A new part of the flow: on a failed check, web.py shows the stack's logs from here on.
function section(name) {
  console.log(`# section: ${name}`);
}

async function until(what, fn, timeoutMs = 20_000, everyMs = 200) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeoutMs) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}
const tag = Math.random().toString(36).slice(2, 8);

// ---- what every page must (not) do ----
const tokens = new Set();
const problems = [];
const htmlResponses = [];
const urls = [];
let refreshes = 0;

function watchPage(page, who, { expectFailures = false } = {}) {
  page.on("console", (m) => {
    if (m.type() === "error" && !page.__allowErrors) problems.push(`${who} console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${who} page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // Aborted media loads (quality switch, navigation) are the player's own doing.
    const aborted = (r.failure()?.errorText ?? "").includes("ERR_ABORTED");
    if (!aborted && !expectFailures && !page.__allowErrors) problems.push(`${who} request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("request", (r) => urls.push(r.url()));
  page.on("response", async (r) => {
    const u = new URL(r.url());
    if (r.status() >= 400 && !page.__allowErrors) problems.push(`${who} HTTP ${r.status()} ${u.pathname}`);
    const type = r.headers()["content-type"] ?? "";
    if (type.startsWith("text/html") && r.url().startsWith(BASE)) htmlResponses.push({ url: r.url(), csp: r.headers()["content-security-policy"] ?? "" });
    if (u.pathname === "/api/auth/refresh" && r.ok()) refreshes++;
    if (/\/api\/auth\/(login|refresh)$/.test(u.pathname) && r.ok()) {
      try {
        const body = await r.json();
        if (body.access_token) tokens.add(body.access_token);
        if (body.refresh_token) tokens.add(body.refresh_token);
      } catch {
        // not JSON
      }
    }
  });
}

async function axe(page, name) {
  // Through the DevTools protocol: the page's CSP (rightly) refuses an injected inline script.
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  });
  check(`axe: no serious or critical violations on ${name}`, result.length === 0, result.join(" | "));
}

async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function signUp(page, who) {
  const email = `${who}-${tag}@example.com`;
  await page.goto(`${BASE}/signup`);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Nickname", { exact: true }).fill(`${who}_${tag}`);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/signup"), { timeout: 15_000 });
  return email;
}

async function signIn(page, email) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: 15_000 });
}

const chatLines = (page) => page.locator('[role="log"] .chat-line');
async function chatTexts(page) {
  return page.locator('[role="log"] .chat-line .text').allTextContents();
}
async function sendChat(page, text) {
  await page.getByLabel("Chat message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await until(`"${text}" sent`, async () => (await page.getByLabel("Chat message", { exact: true }).inputValue()) === "", 10_000);
}
const videoState = (page) =>
  page.evaluate(() => {
    const v = document.querySelector("video");
    return v ? { t: v.currentTime, h: v.videoHeight, paused: v.paused } : null;
  });

function publisher(url) {
  return spawn(
    "ffmpeg",
    // 480p (a two-rung ladder: 480p, 360p) and ultrafast: publisher, ladder and four browser
    // pages share two cores, and the stream must keep real time for the VOD replay check (a 720p
    // ladder alone takes a whole core on some machines of this kind; docs/benchmarks.md).
    ["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-b:v", "1200k", "-c:a", "aac", "-b:a", "128k", "-progress", `${TMP}/publisher-progress.txt`, "-f", "flv", url],
    { stdio: "ignore" },
  );
}

function redis(...args) {
  return execFileSync("redis-cli", ["-u", REDIS_URL, ...args], { encoding: "utf8" }).trim();
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required", "--lang=en-US"],
});
const ctxOpts = { locale: "en-US", viewport: { width: 1280, height: 800 } };
let ffmpeg = null;

try {
  section("the streamer: sign-up → studio → key");
  const owner = await (await browser.newContext(ctxOpts)).newPage();
  watchPage(owner, "owner");
  await signUp(owner, "owner");
  check("sign-up through the UI lands in the studio", new URL(owner.url()).pathname === "/studio", owner.url());
  const ingest = await until("the ingest URL", async () => owner.getByLabel("Server (ingest URL)", { exact: true }).inputValue());
  check("the studio shows the ingest URL", ingest === `rtmp://127.0.0.1:${RTMP_PORT}/live`, ingest);
  const keyField = owner.getByLabel("Stream key", { exact: true });
  check("the stream key is hidden until revealed", (await keyField.getAttribute("type")) === "password");
  await owner.getByRole("button", { name: "Reveal" }).click();
  check("revealed, it is text", (await keyField.getAttribute("type")) === "text");
  const key = await keyField.inputValue();
  check("the studio shows a stream key", /^lait_[\w-]{40,}$/.test(key), key.slice(0, 8));
  await axe(owner, "studio (offline)");

  section("publish with that key");
  const t0 = Date.now();
  ffmpeg = publisher(`${ingest}/${key}`);
  const bitrate = await until("the studio's live status with a bitrate", async () => {
    const text = await owner.locator('[data-health="bitrate"]').textContent({ timeout: 500 });
    return text && /[1-9]/.test(text) ? text : null;
  }, 30_000).catch(() => null);
  const status = await owner.locator(".status-line").first().textContent();
  check("the studio shows live status and a non-zero bitrate", !!bitrate && /\d+ kbps/.test(bitrate) && /live|preparing/.test(status ?? ""), `${bitrate} / ${status}`);
  const mine = await owner.evaluate(() => location.pathname);
  const channel = await until("the channel id", async () => {
    const href = await owner.locator("h1 a").getAttribute("href");
    return href?.startsWith("/c/") ? href.slice(3) : null;
  });
  check("studio heading links to the channel", mine === "/studio" && channel.length > 10, channel);
  await until("the studio's preview", async () => (await videoState(owner))?.t > 0.5, 30_000);
  await owner.getByRole("button", { name: "Hide" }).click();
  check("hidden again, the key is masked", (await keyField.getAttribute("type")) === "password");
  await shot(owner, "studio");

  section("home lists it");
  const anonCtx = await browser.newContext(ctxOpts);
  const anon = await anonCtx.newPage();
  watchPage(anon, "anonymous");
  await anon.goto(BASE);
  const card = anon.locator(`a[href="/c/${channel}"]`).first();
  await until("the live on the home page", async () => {
    if (await card.count()) return true;
    await anon.reload();
    return false;
  }, 30_000, 1500);
  check("the home page lists the live", (await card.count()) > 0);
  await axe(anon, "home");
  await shot(anon, "home");

  section("a viewer's watch page plays");
  const v1 = await (await browser.newContext(ctxOpts)).newPage();
  watchPage(v1, "viewer1");
  await signUp(v1, "viewerone");
  await v1.goto(`${BASE}/c/${channel}`);
  const firstT = await until("playback", async () => {
    const s = await videoState(v1);
    return s && s.t > 0.5 ? s.t : null;
  }, 30_000);
  await sleep(2000);
  const laterT = (await videoState(v1)).t;
  check("the watch page plays (currentTime advances)", laterT > firstT + 1, `${firstT} → ${laterT}`);

  const master = await (await fetch(`${BASE}/api/lives?limit=100`)).json();
  const live = master.items.find((l) => l.channel.id === channel);
  const playlist = await (await fetch(new URL(live.playlist_url, BASE))).text();
  const heights = [...playlist.matchAll(/RESOLUTION=\d+x(\d+)/g)].map((m) => Number(m[1])).sort((a, b) => b - a);
  await v1.getByRole("button", { name: "Quality" }).click();
  const items = await v1.getByRole("menuitemradio").allTextContents();
  check("the quality menu lists Auto and every rendition", items.length === heights.length + 1 && heights.every((h) => items.includes(`${h}p`)), `${items} vs ${heights}`);
  const lowest = heights[heights.length - 1];
  await v1.getByRole("menuitemradio", { name: `${lowest}p` }).click();
  const switched = await until(`playing at ${lowest}p`, async () => (await videoState(v1)).h === lowest, 20_000).catch((e) => e);
  check("choosing a rendition changes the playing height", switched === true, switched);
  // The same menu by keyboard: Enter opens it with focus inside, arrows move, Escape returns.
  await v1.getByRole("button", { name: "Quality" }).focus();
  await v1.keyboard.press("Enter");
  const inMenu = await until("focus in the menu", async () => v1.evaluate(() => document.activeElement?.getAttribute("role") === "menuitemradio"), 3000).catch(() => false);
  await v1.keyboard.press("ArrowDown");
  const moved = await v1.evaluate(() => document.activeElement?.textContent);
  await v1.keyboard.press("Escape");
  const back = await v1.evaluate(() => document.activeElement?.textContent?.includes("Quality") && !document.querySelector('[role="menu"]'));
  check("the quality menu works by keyboard (Enter, arrows, Escape back to the button)", inMenu === true && !!moved && back === true, `${inMenu} ${moved} ${back}`);
  await v1.keyboard.press("s");
  check("S shows the stats overlay", await v1.locator('[data-stat="latency"]').isVisible());
  await v1.keyboard.press("s");

  section("follow, then the home page's Following row; search");
  await v1.getByRole("button", { name: "Follow" }).click();
  await until("following", async () => (await v1.getByRole("button", { name: "Unfollow" }).count()) === 1, 10_000);
  await v1.goto(BASE);
  const followingRow = await until("the following row", async () => (await v1.getByRole("heading", { name: "Following" }).count()) === 1 && (await v1.locator(`section:has(h2:text("Following")) a[href="/c/${channel}"]`).count()) > 0, 15_000).catch(() => false);
  check('a followed live shows in the home page\'s "Following" row', followingRow === true);
  await v1.getByRole("searchbox", { name: "Search" }).fill("owner_" + tag);
  await v1.getByRole("searchbox", { name: "Search" }).press("Enter");
  await v1.waitForURL((u) => u.pathname === "/search" && u.searchParams.get("q") === `owner_${tag}`);
  const hit = await until("a search hit", async () => v1.locator(`.results a[href="/c/${channel}"]`).count(), 10_000).catch(() => 0);
  check("search finds the channel and links to it (/search?q=)", hit > 0);
  await v1.goto(`${BASE}/c/${channel}`);
  await until("playback again", async () => (await videoState(v1))?.t > 0.5, 30_000);

  section("chat between two signed-in viewers and an anonymous one");
  const v2 = await (await browser.newContext(ctxOpts)).newPage();
  watchPage(v2, "viewer2");
  await signUp(v2, "viewertwo");
  await v2.goto(`${BASE}/c/${channel}`);
  await anon.goto(`${BASE}/c/${channel}`);
  await owner.getByRole("log").waitFor();
  for (const p of [v1, v2]) await until("chat open", async () => !(await p.getByLabel("Chat message", { exact: true }).isDisabled()), 15_000);
  // Only viewer1's player needs to keep playing: the other pages are here for the chat, and
  // four software decoders on two cores would starve the publisher.
  for (const p of [v2, anon, owner]) await p.evaluate(() => document.querySelector("video")?.pause());
  const hello1 = `hello from one ${tag}`;
  const hello2 = `hello from two ${tag}`;
  const sentAt = Date.now();
  await sendChat(v1, hello1);
  await sendChat(v2, hello2);
  for (const [who, p] of [["viewer1", v1], ["viewer2", v2], ["anonymous", anon], ["owner", owner]]) {
    const seen = await until(`${who} sees both`, async () => {
      const t = await chatTexts(p);
      return t.includes(hello1) && t.includes(hello2);
    }, 10_000).catch(() => false);
    check(`${who} sees both viewers' messages`, seen === true);
  }
  check("the anonymous viewer cannot send (no chat input)", (await anon.getByLabel("Chat message", { exact: true }).count()) === 0);
  check("the anonymous viewer is asked to sign in", await anon.getByRole("link", { name: "Sign in to chat" }).isVisible());

  section("the owner deletes one; it disappears for everyone");
  const line = owner.locator('[role="log"] .chat-line', { hasText: hello2 });
  await line.hover();
  await line.getByRole("button", { name: /^Delete/ }).click();
  for (const [who, p] of [["viewer1", v1], ["viewer2", v2], ["anonymous", anon]]) {
    const gone = await until(`${who} no longer sees it`, async () => !(await chatTexts(p)).includes(hello2), 10_000).catch(() => false);
    check(`a deleted message disappears for ${who}`, gone === true);
  }

  section("user content is text");
  const xss = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> ${tag}`;
  await sendChat(v1, xss);
  await until("the markup message", async () => (await chatTexts(v2)).includes(xss), 10_000);
  const executed = await Promise.all([v1, v2, anon, owner].map((p) => p.evaluate(() => window.__xss ?? null)));
  check("a <script>/<img onerror> message is shown as text and nothing runs", executed.every((x) => x === null) && (await v2.locator('[role="log"] img').count()) === 0, executed);

  section("the server cuts viewer1's connection; it resumes without gap or duplicate");
  const conns = redis("--scan", "--pattern", `chat:{${channel}}:uconn:*`).split("\n").filter(Boolean);
  let cut = 0;
  const v1Nick = `viewerone_${tag}`;
  for (const k of conns) {
    for (const id of redis("SMEMBERS", k).split("\n").filter(Boolean)) {
      const owned = redis("GET", `chat:conn:${id}`);
      if (owned.includes(v1Nick)) {
        const res = await fetch(`${BASE}/@connections/${encodeURIComponent(id)}`, { method: "DELETE" });
        if (res.status === 204 || res.status === 200) cut++;
      }
    }
  }
  check("viewer1's chat connection was closed by the server", cut === 1, `${cut} closed of ${conns.length} users`);
  // Keep viewer1 off the network while viewer2 talks, so these messages fall in the gap.
  v1.__allowErrors = true; // its polls fail while offline, by design of this step
  await v1.context().setOffline(true);
  const during = [`during the cut 1 ${tag}`, `during the cut 2 ${tag}`, `during the cut 3 ${tag}`];
  for (const m of during) await sendChat(v2, m);
  const sawReconnecting = await until("reconnecting shown", async () => (await v1.locator(".chat-status").allTextContents()).some((t) => t.includes("Reconnecting")), 5000, 50).catch(() => false);
  check('viewer1 shows "Reconnecting…"', sawReconnecting === true);
  check("while cut off, viewer1 has not seen them", !(await chatTexts(v1)).includes(during[0]));
  await v1.context().setOffline(false);
  const resumed = await until("viewer1 resumed", async () => {
    const t = await chatTexts(v1);
    return during.every((m) => t.includes(m));
  }, 20_000).catch(() => false);
  check("after the cut viewer1 has every message sent meanwhile", resumed === true, await chatTexts(v1));
  const ids = await chatLines(v1).evaluateAll((els) => els.map((e) => e.dataset.id));
  check("no duplicate after resuming", new Set(ids).size === ids.length, ids);
  const texts = await chatTexts(v1);
  v1.__allowErrors = false;
  check("messages stay in order after resuming", during.map((m) => texts.indexOf(m)).every((i, n, a) => n === 0 || i > a[n - 1]), texts);
  const invalid = await Promise.all([v1, v2, anon, owner].map((p) => p.evaluate(() => window.__laitChat?.invalidFrames ?? -1)));
  check("every frame the server sent parsed as the protocol's types", invalid.every((n) => n === 0), invalid);
  await axe(v1, "watch");
  await shot(v1, "watch");

  section("a phone-sized viewer");
  const phone = await (await browser.newContext({ ...ctxOpts, viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true })).newPage();
  watchPage(phone, "phone");
  await phone.goto(`${BASE}/c/${channel}`);
  const phonePlays = await until("phone playback", async () => (await videoState(phone))?.t > 0.5, 30_000).catch(() => false);
  const layout = await phone.evaluate(() => {
    const v = document.querySelector(".player").getBoundingClientRect();
    const c = document.querySelector(".chat").getBoundingClientRect();
    return { vw: v.width, chatBelow: c.top >= v.bottom - 1, overflow: document.documentElement.scrollWidth > innerWidth };
  });
  check("the watch page works at 375 px: plays, chat below the player, no sideways scroll", phonePlays === true && layout.vw <= 375 && layout.chatBelow && !layout.overflow, JSON.stringify(layout));
  await phone.context().close();

  section("stop publishing: offline without reload, then the VOD");
  ffmpeg.kill("SIGTERM");
  ffmpeg = null;
  const stoppedAt = Date.now();
  const offline = await until("offline", async () => (await v1.locator(".offline").textContent({ timeout: 500 }))?.includes("Offline"), 30_000).catch(() => false);
  check("the watch page shows offline after the stream stops", offline === true, `${(Date.now() - stoppedAt) / 1000}s`);
  const vod = await until("the VOD", async () => {
    const r = await (await fetch(`${BASE}/api/channels/${channel}/vods`)).json();
    return r.items[0]?.playlist_url ? r.items[0] : null;
  }, 30_000);
  const chatTimes = await (await fetch(`${BASE}/api/lives/${vod.id}/chat?limit=500`)).json();
  const hello = chatTimes.messages.find((m) => m.text === hello1);
  check("the live's chat is kept for replay", !!hello);
  // Ground truth: the publisher started at t0 and -re streams in real time, so hello1 (sent at
  // sentAt) is at ~(sentAt - t0) seconds into the recording.
  const expected = (sentAt - t0) / 1000;
  await v1.goto(`${BASE}/v/${vod.id}`);
  const vodFirst = await until("VOD playback", async () => (await videoState(v1))?.t > 0.3, 30_000).then(() => videoState(v1)).catch(() => null);
  await sleep(1500);
  const vodLater = await videoState(v1);
  check("the VOD page plays (currentTime advances)", !!vodFirst && vodLater.t > vodFirst.t + 0.5, `${vodFirst?.t} → ${vodLater?.t}`);
  await v1.evaluate((to) => {
    const v = document.querySelector("video");
    v.currentTime = to;
  }, Math.max(0, expected - 4));
  await until("seeked", async () => Math.abs((await videoState(v1)).t - Math.max(0, expected - 4)) < 1.5, 10_000);
  const hidden = !(await chatTexts(v1)).includes(hello1);
  check("before its time the message is not shown", hidden, await chatTexts(v1));
  const appearedAt = await until("the replayed message", async () => ((await chatTexts(v1)).includes(hello1) ? (await videoState(v1)).t : null), 20_000, 50).catch(async (e) => {
    const state = await v1.evaluate(() => {
      const v = document.querySelector("video");
      return { t: v.currentTime, paused: v.paused, ready: v.readyState, duration: v.duration, at: [...document.querySelectorAll("[data-at]")].map((e) => e.dataset.at) };
    });
    throw new Error(`${e.message}; expected at ${expected.toFixed(2)} s; video ${JSON.stringify(state)}`);
  });
  check("chat replays in sync: a message sent at second t appears within ±1 s of position t", Math.abs(appearedAt - expected) <= 1, `appeared at ${appearedAt.toFixed(2)} s, sent at ${expected.toFixed(2)} s`);
  await v1.evaluate((to) => {
    document.querySelector("video").currentTime = to;
  }, Math.max(0, expected - 3));
  const rehidden = await until("hidden after seeking back", async () => !(await chatTexts(v1)).includes(hello1), 5000).catch(() => false);
  const reshown = await until("shown again", async () => (await chatTexts(v1)).includes(hello1), 15_000).catch(() => false);
  check("seeking back re-syncs: hidden, then shown again", rehidden === true && reshown === true);
  await axe(v1, "VOD");
  await shot(v1, "vod");

  section("sign-in page");
  const fresh = await (await browser.newContext(ctxOpts)).newPage();
  watchPage(fresh, "sign-in");
  await fresh.goto(`${BASE}/login`);
  await axe(fresh, "sign-in");
  await signIn(fresh, `viewertwo-${tag}@example.com`);
  check("sign-in with email and password works", (await fresh.getByRole("button", { name: /viewertwo/ }).count()) === 1);

  section("a typed chat error, inline and in the user's language");
  const twice = `twice ${tag}`;
  await sendChat(v2, twice);
  await v2.getByLabel("Chat message", { exact: true }).fill(twice);
  await v2.getByRole("button", { name: "Send" }).click();
  const dup = await until("the duplicate error", async () => v2.getByRole("alert").textContent({ timeout: 500 }), 10_000).catch(() => "");
  check("a refused message shows its typed error inline", /just sent that/.test(dup), dup);

  section("Korean UI, remembered");
  await fresh.getByLabel("Language", { exact: true }).selectOption("ko");
  const koNav = await fresh.getByRole("link", { name: "스튜디오" }).count();
  await fresh.reload();
  const koAfter = await until("Korean after the reload", async () => fresh.getByRole("link", { name: "스튜디오" }).count(), 10_000).catch(() => 0);
  check("the UI switches to Korean and stays so after a reload", koNav === 1 && koAfter === 1, `${koNav} ${koAfter}`);
  await fresh.getByLabel("언어", { exact: true }).selectOption("en");

  section("avatar through the presigned upload");
  await fresh.goto(`${BASE}/settings`);
  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
  await fresh.locator('input[type="file"]').setInputFiles({ name: "me.png", mimeType: "image/png", buffer: png });
  const avatar = await until("the new avatar", async () => fresh.locator("label.upload img").getAttribute("src", { timeout: 500 }), 15_000).catch(() => null);
  check("an avatar uploads through the presigned flow (CSP allows the upload origin)", !!avatar && avatar.includes("/avatars/"), avatar);

  section("CSP: an inline script is refused");
  fresh.__allowErrors = true;
  const violation = new Promise((resolve) => fresh.on("console", (m) => m.text().includes("Content Security Policy") && resolve(m.text())));
  await fresh.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.__inline = 1";
    document.body.append(s);
  });
  const msg = await Promise.race([violation, sleep(3000).then(() => null)]);
  const ran = await fresh.evaluate(() => window.__inline ?? null);
  check("an inline script is blocked by the CSP (console shows the violation)", ran === null && !!msg, msg);
  fresh.__allowErrors = false;

  section("headers, storage and URLs");
  check("every HTML response carries the CSP", htmlResponses.length > 0 && htmlResponses.every((r) => r.csp.includes("script-src 'self'") && r.csp.includes("frame-ancestors 'none'")), htmlResponses.filter((r) => !r.csp).map((r) => r.url));
  const stored = [];
  for (const p of [v1, v2, owner, fresh]) stored.push(await p.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })));
  check("tokens were seen (the check below can fail)", tokens.size >= 4, tokens.size);
  // 20 s tokens (tests/e2e/web.py): pages renew them silently, without a single 401 (checked below).
  check("sessions were renewed silently through the refresh cookie", refreshes >= 10, refreshes);
  const leakedStore = [...tokens].some((tk) => stored.some((s) => s.includes(tk)));
  const leakedUrl = [...tokens].some((tk) => urls.some((u) => u.includes(tk)));
  check("no token in localStorage or sessionStorage", !leakedStore);
  check("no token in any URL", !leakedUrl);
  check("no console errors and no failed requests on the happy path", problems.length === 0, problems.slice(0, 8).join(" | "));
} catch (e) {
  check("the browser suite ran to the end", false, e?.stack ?? e);
} finally {
  ffmpeg?.kill("SIGKILL");
  await browser.close();
}
process.exit(failures ? 1 : 0);

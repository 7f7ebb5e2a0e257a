// Glass-to-glass probe: plays an HLS URL with hls.js in headless Chromium and, once a second,
// reads the publisher's clock from the frame on screen (32 boxes = bits of epoch ms mod 2^32,
// drawn by the publisher before encoding), printing latency samples as JSON.
// Usage: node probe.mjs <playlist url> <seconds> <liveSyncDuration> <liveMaxLatencyDuration>
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const [url, seconds = "60", sync = "1.5", maxLatency = "4"] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const hlsJs = readFileSync(join(here, "node_modules/hls.js/dist/hls.min.js"), "utf8");

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required"],
});
const page = await browser.newPage();
await page.setContent('<video id="v" muted playsinline style="width:1280px"></video><canvas id="c"></canvas>');
await page.addScriptTag({ content: hlsJs });
const samples = await page.evaluate(async ({ url, seconds, sync, maxLatency }) => {
  const video = document.getElementById("v");
  const hls = new Hls({
    lowLatencyMode: true,
    liveSyncDuration: sync,
    liveMaxLatencyDuration: maxLatency,
    maxLiveSyncPlaybackRate: 1.5,
    backBufferLength: 5,
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  video.play().catch(() => {});
  const canvas = document.getElementById("c");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const read = () => {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || video.readyState < 2) return null;
    canvas.width = w; canvas.height = h;
    ctx.drawImage(video, 0, 0, w, h);
    const s = w / 1280;
    let value = 0;
    for (let k = 0; k < 32; k++) {
      const [r, g, b] = ctx.getImageData(Math.round((10 + k * 36 + 16) * s), Math.round(26 * s), 1, 1).data;
      if ((r + g + b) / 3 > 128) value += 2 ** k;
    }
    return value;
  };
  const out = [];
  const warmup = 10;
  // Stalls after warm-up: the element waiting for data, or hls.js reporting a stalled buffer.
  let counting = false;
  let stalls = 0;
  video.addEventListener("waiting", () => { if (counting) stalls++; });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (counting && data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) stalls++;
  });
  for (let i = 0; i < seconds + warmup; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    counting = i >= warmup;
    const v = read();
    if (v === null || i < warmup) continue;
    const now = Date.now() % 4294967296;
    out.push(((now - v + 4294967296) % 4294967296) / 1000);
  }
  return { samples: out, stalls };
}, { url, seconds: Number(seconds), sync: Number(sync), maxLatency: Number(maxLatency) });
await browser.close();
console.log(JSON.stringify(samples));

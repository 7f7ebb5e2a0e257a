// Every process's CPU from /proc, for the figures the browser probes print beside their own
// (a figure counts with the whole scenario's cost in view: publisher, media node, API, browser).
import { readdirSync, readFileSync } from "node:fs";

/** pid → { label, ticks } for every process now (moto and Chromium's processes named as such). */
export function cpuTicks() {
  const out = new Map();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const label = cmd.includes("moto_server") ? "moto" : name.startsWith("chrom") ? "chromium" : name;
      out.set(pid, { label, ticks });
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU in cores per label between two `cpuTicks()` samples `secs` apart, busiest first. */
export function cpuReport(before, after, secs) {
  const by = new Map();
  for (const [pid, a] of after) {
    const d = a.ticks - (before.get(pid)?.ticks ?? 0);
    if (d > 0) by.set(a.label, (by.get(a.label) ?? 0) + d);
  }
  return [...by.entries()]
    .map(([k, v]) => [k, v / 100 / secs])
    .filter(([, v]) => v >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(", ");
}

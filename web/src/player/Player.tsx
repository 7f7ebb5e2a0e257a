// The video player: hls.js (loaded only here) tuned for low latency, with a quality menu, muted
// autoplay and an obvious unmute, volume, fullscreen, picture-in-picture, a LIVE / behind-live
// indicator with jump-to-live, and a stats overlay on the S key.
import { useEffect, useRef, useState } from "preact/hooks";
import type HlsType from "hls.js";
import { t, formatDuration } from "../i18n";
import { Icon } from "../ui/Icon";
import { useMenu } from "../ui/menu";

export interface PlayerProps {
  src: string;
  live: boolean;
  lowLatency?: boolean;
  /** The <video>, for pages that follow playback (VOD chat replay). */
  onVideo?: (v: HTMLVideoElement | null) => void;
  /** A fatal error the player could not recover from (e.g. the live ended). */
  onFatal?: () => void;
}

interface Level {
  index: number;
  height: number;
  bitrate: number;
}

interface Stats {
  latency: number | null;
  rendition: string;
  buffer: number;
  dropped: number;
  bitrate: number;
}

// Segment 1 s (0.5 s low latency): sit ~1.5 segments behind the edge, catch up at up to 1.5×.
function hlsConfig(live: boolean, lowLatency: boolean) {
  if (!live) return { enableWorker: true, maxBufferLength: 30 };
  return {
    enableWorker: true,
    lowLatencyMode: true,
    liveSyncDuration: lowLatency ? 0.75 : 1.5,
    liveMaxLatencyDuration: lowLatency ? 2.5 : 4,
    maxLiveSyncPlaybackRate: 1.5,
    backBufferLength: 10,
    manifestLoadingMaxRetry: 6,
    levelLoadingMaxRetry: 6,
  };
}

export function Player({ src, live, lowLatency = false, onVideo, onFatal }: PlayerProps) {
  const box = useRef<HTMLDivElement>(null);
  const video = useRef<HTMLVideoElement>(null);
  const hlsRef = useRef<HlsType | null>(null);
  const [levels, setLevels] = useState<Level[]>([]);
  const [level, setLevel] = useState(-1);
  const [autoHeight, setAutoHeight] = useState<number | null>(null);
  const [menu, setMenu] = useState(false);
  const [muted, setMuted] = useState(true);
  const [volume, setVolume] = useState(1);
  const [paused, setPaused] = useState(true);
  const [behind, setBehind] = useState(false);
  const [showStats, setShowStats] = useState(false);
  const [stats, setStats] = useState<Stats | null>(null);
  const [time, setTime] = useState({ pos: 0, dur: 0 });
  const [error, setError] = useState(false);
  const qualityMenu = useMenu(menu, () => setMenu(false));

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    onVideo?.(v);
    let destroyed = false;
    let hls: HlsType | null = null;
    const start = () => void v.play().catch(() => setPaused(true));
    void (async () => {
      const { default: Hls } = await import("hls.js");
      if (destroyed) return;
      if (!Hls.isSupported()) {
        // Safari on iOS: native HLS.
        v.src = src;
        start();
        return;
      }
      hls = new Hls(hlsConfig(live, lowLatency));
      hlsRef.current = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        setLevels(
          data.levels
            .map((l, index) => ({ index, height: l.height, bitrate: l.bitrate }))
            .sort((a, b) => b.height - a.height),
        );
        start();
      });
      hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
        setAutoHeight(hls?.levels[data.level]?.height ?? null);
      });
      let recoveries = 0;
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal || !hls) return;
        setError(true);
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && recoveries++ < 3) {
          hls.recoverMediaError();
        } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR && recoveries++ < 5) {
          setTimeout(() => hls?.startLoad(), 1000);
        } else {
          onFatal?.();
        }
      });
      hls.on(Hls.Events.FRAG_BUFFERED, () => {
        recoveries = 0;
        setError(false);
      });
      hls.loadSource(src);
      hls.attachMedia(v);
    })();
    return () => {
      destroyed = true;
      hls?.destroy();
      hlsRef.current = null;
      onVideo?.(null);
    };
  }, [src, live, lowLatency]);

  // Position, live edge and stats, four times a second.
  useEffect(() => {
    const id = setInterval(() => {
      const v = video.current;
      const hls = hlsRef.current;
      if (!v) return;
      setTime({ pos: v.currentTime, dur: Number.isFinite(v.duration) ? v.duration : 0 });
      const latency = live && hls ? hls.latency : null;
      const target = live && hls ? hls.targetLatency ?? 2 : 0;
      setBehind(live && (v.paused || (latency !== null && latency > target + 2.5)));
      let buffer = 0;
      for (let i = 0; i < v.buffered.length; i++) {
        if (v.buffered.start(i) <= v.currentTime && v.currentTime <= v.buffered.end(i)) {
          buffer = v.buffered.end(i) - v.currentTime;
        }
      }
      const lvl = hls?.levels[hls.currentLevel];
      setStats({
        latency,
        rendition: v.videoWidth ? `${v.videoWidth}×${v.videoHeight}` : "–",
        buffer,
        dropped: v.getVideoPlaybackQuality?.().droppedVideoFrames ?? 0,
        bitrate: lvl ? lvl.bitrate : 0,
      });
    }, 250);
    return () => clearInterval(id);
  }, [live]);

  // S toggles the stats overlay (not while typing).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable)) return;
      if (e.key === "s" || e.key === "S") setShowStats((s) => !s);
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  const v = () => video.current;
  const choose = (index: number) => {
    const hls = hlsRef.current;
    if (hls) hls.currentLevel = index; // immediate switch; -1 = automatic
    setLevel(index);
    setMenu(false);
  };
  const toggleMute = () => {
    const el = v();
    if (!el) return;
    el.muted = !el.muted;
    if (!el.muted && el.volume === 0) el.volume = 0.5;
    if (el.paused) void el.play().catch(() => {});
  };
  const jumpLive = () => {
    const el = v();
    const hls = hlsRef.current;
    if (!el) return;
    if (hls?.liveSyncPosition) el.currentTime = hls.liveSyncPosition;
    void el.play().catch(() => {});
  };
  const fullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void box.current?.requestFullscreen().catch(() => {});
  };
  const pip = () => {
    const el = v();
    if (!el) return;
    if (document.pictureInPictureElement) void document.exitPictureInPicture();
    else void el.requestPictureInPicture?.().catch(() => {});
  };
  const current = level === -1 ? autoHeight : levels.find((l) => l.index === level)?.height;
  const qualityLabel = level === -1 ? `${t("player.auto")}${current ? ` (${current}p)` : ""}` : `${current}p`;

  return (
    <div class="player" ref={box}>
      <video
        ref={video}
        class="player-video"
        muted
        autoplay
        playsInline
        onPlay={() => setPaused(false)}
        onPause={() => setPaused(true)}
        onVolumeChange={(e) => {
          const el = e.currentTarget;
          setMuted(el.muted);
          setVolume(el.volume);
        }}
        onClick={() => {
          const el = v();
          if (el?.paused) void el.play();
          else el?.pause();
        }}
      />
      {muted && (
        <button type="button" class="unmute" onClick={toggleMute}>
          <Icon name="muted" /> {t("player.tapUnmute")}
        </button>
      )}
      {error && <div class="player-error" role="status">{t("player.error")}</div>}
      {showStats && stats && (
        <dl class="stats" aria-label={t("player.stats")}>
          {live && (
            <>
              <dt>{t("player.latency")}</dt>
              <dd data-stat="latency">{stats.latency === null ? "–" : `${stats.latency.toFixed(2)} s`}</dd>
            </>
          )}
          <dt>{t("player.rendition")}</dt>
          <dd data-stat="rendition">{stats.rendition}</dd>
          <dt>{t("player.bitrate")}</dt>
          <dd>{stats.bitrate ? `${Math.round(stats.bitrate / 1000)} kbps` : "–"}</dd>
          <dt>{t("player.buffer")}</dt>
          <dd data-stat="buffer">{stats.buffer.toFixed(2)} s</dd>
          <dt>{t("player.dropped")}</dt>
          <dd data-stat="dropped">{stats.dropped}</dd>
        </dl>
      )}
      <div class="controls">
        <button
          type="button"
          class="icon"
          aria-label={paused ? t("player.play") : t("player.pause")}
          onClick={() => (paused ? void v()?.play() : v()?.pause())}
        >
          <Icon name={paused ? "play" : "pause"} />
        </button>
        <button type="button" class="icon" aria-label={muted ? t("player.unmute") : t("player.mute")} onClick={toggleMute}>
          <Icon name={muted ? "muted" : "volume"} />
        </button>
        <input
          type="range"
          class="volume"
          min={0}
          max={1}
          step={0.05}
          value={muted ? 0 : volume}
          aria-label={t("player.volume")}
          onInput={(e) => {
            const el = v();
            if (!el) return;
            el.volume = Number(e.currentTarget.value);
            el.muted = el.volume === 0;
          }}
        />
        {live ? (
          behind ? (
            <button type="button" class="live-badge behind" onClick={jumpLive} title={t("watch.jumpLive")}>
              {t("watch.behind")} · {t("watch.jumpLive")}
            </button>
          ) : (
            <span class="live-badge">{t("watch.live")}</span>
          )
        ) : (
          <>
            <input
              type="range"
              class="seek"
              min={0}
              max={time.dur || 0}
              step={0.1}
              value={time.pos}
              aria-label={t("player.seek")}
              onInput={(e) => {
                const el = v();
                if (el) el.currentTime = Number(e.currentTarget.value);
              }}
            />
            <span class="time">
              {formatDuration(time.pos)} / {formatDuration(time.dur)}
            </span>
          </>
        )}
        <span class="spacer" />
        <div class="menu-wrap">
          <span class="quality-now">{qualityLabel}</span>
          <button type="button" class="quality" ref={qualityMenu.button} aria-haspopup="menu" aria-expanded={menu} onClick={() => setMenu(!menu)}>
            <Icon name="gear" size={16} /> {t("player.quality")}
          </button>
          {menu && (
            <ul class="menu" role="menu" aria-label={t("player.quality")} ref={qualityMenu.menu} onKeyDown={qualityMenu.onKeyDown}>
              <li role="none">
                <button type="button" role="menuitemradio" aria-checked={level === -1} onClick={() => choose(-1)}>
                  {t("player.auto")}
                </button>
              </li>
              {levels.map((l) => (
                <li role="none" key={l.index}>
                  <button type="button" role="menuitemradio" aria-checked={level === l.index} onClick={() => choose(l.index)}>
                    {l.height}p
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
        <button type="button" class="icon" aria-label={t("player.stats")} aria-pressed={showStats} onClick={() => setShowStats(!showStats)}>
          <Icon name="stats" />
        </button>
        <button type="button" class="icon" aria-label={t("player.pip")} onClick={pip}>
          <Icon name="pip" />
        </button>
        <button type="button" class="icon" aria-label={t("player.fullscreen")} onClick={fullscreen}>
          <Icon name="fullscreen" />
        </button>
      </div>
    </div>
  );
}

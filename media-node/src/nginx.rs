//! nginx-rtmp on loopback: the publisher's metadata from `/stat`, dropping a publisher through
//! `/control`.

use lait_shared::domain::ids::LiveId;
use serde::Deserialize;

use crate::Agent;

/// What the publisher sends, as nginx-rtmp saw it.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct SourceMeta {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    pub bw_in: Option<u64>,
    /// A video codec was announced.
    pub video: bool,
    /// The video is H.264 (the only codec HLS in MPEG-TS can carry as it is).
    pub h264: bool,
    /// An audio codec was announced.
    pub audio: bool,
}

// nginx-rtmp's `/stat` document, only the parts read here (serde skips the rest).
#[derive(Deserialize, Default)]
struct Stat {
    #[serde(default)]
    server: Vec<Server>,
}

#[derive(Deserialize)]
struct Server {
    #[serde(default)]
    application: Vec<Application>,
}

#[derive(Deserialize)]
struct Application {
    live: Option<Live>,
}

#[derive(Deserialize)]
struct Live {
    #[serde(default)]
    stream: Vec<Stream>,
}

// Values stay text: nginx writes empty elements for what it does not know.
#[derive(Deserialize)]
struct Stream {
    name: String,
    bw_in: Option<String>,
    meta: Option<Meta>,
}

#[derive(Deserialize, Default)]
struct Meta {
    video: Option<Track>,
    audio: Option<Track>,
}

#[derive(Deserialize, Default)]
struct Track {
    width: Option<String>,
    height: Option<String>,
    frame_rate: Option<String>,
    codec: Option<String>,
}

fn number<T: std::str::FromStr>(v: &Option<String>) -> Option<T> {
    v.as_deref()?.trim().parse().ok()
}

/// The stream `name` in nginx-rtmp's stat XML.
pub fn stat_meta(xml: &str, name: &str) -> Option<SourceMeta> {
    let stat: Stat = quick_xml::de::from_str(xml).ok()?;
    let stream = stat
        .server
        .into_iter()
        .flat_map(|s| s.application)
        .filter_map(|a| a.live)
        .flat_map(|l| l.stream)
        .find(|s| s.name.trim() == name)?;
    let meta = stream.meta.unwrap_or_default();
    let (video, audio) = (
        meta.video.unwrap_or_default(),
        meta.audio.unwrap_or_default(),
    );
    let codec = |t: &Track| {
        t.codec
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    };
    let video_codec = codec(&video);
    Some(SourceMeta {
        width: number(&video.width).filter(|v| *v > 0),
        height: number(&video.height).filter(|v| *v > 0),
        fps: number(&video.frame_rate).filter(|v: &f64| *v > 0.0),
        bw_in: number(&stream.bw_in),
        video: video_codec.is_some(),
        h264: video_codec.is_some_and(|c| c.eq_ignore_ascii_case("H264")),
        audio: codec(&audio).is_some(),
    })
}

pub async fn source_meta(agent: &Agent, live: &LiveId) -> Option<SourceMeta> {
    let url = format!("http://127.0.0.1:{}/stat", agent.config.nginx_http_port);
    let xml = agent.http.get(url).send().await.ok()?.text().await.ok()?;
    stat_meta(&xml, &live.to_string())
}

/// Asks nginx to drop a publisher (heartbeat said stop, or the stream cannot be transcoded).
pub async fn drop_publisher(agent: &Agent, live: &LiveId) {
    let url = format!(
        "http://127.0.0.1:{}/control/drop/publisher?app=live&name={live}",
        agent.config.nginx_http_port
    );
    if let Err(e) = agent.http.get(url).send().await {
        tracing::warn!(live_id = %live, error = %e, "could not drop the publisher");
    }
}

/// The publisher's metadata shows up in nginx's stat shortly after the rename; audio may follow
/// video by a moment, so wait for both (or give up on the missing one after ~2 s). When the stat
/// never answers, assume audio and video (ffmpeg then finds out) rather than refuse the stream.
pub async fn probe(agent: &Agent, live: &LiveId) -> SourceMeta {
    let mut last = None;
    for i in 0..30 {
        if let Some(m) = source_meta(agent, live).await {
            last = Some(m);
            if m.video && m.audio && m.height.is_some() || i >= 20 && (m.video || m.audio) {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    last.unwrap_or_else(|| {
        tracing::warn!(live_id = %live, "nginx stat did not describe the stream; assuming audio and video");
        SourceMeta {
            video: true,
            audio: true,
            ..SourceMeta::default()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nginx_stat() {
        let xml = "<rtmp><server><application><name>live</name><live><stream><name>abc</name><bw_in>2500000</bw_in>\
                   <meta><video><width>1280</width><height>720</height><frame_rate>30</frame_rate><codec>H264</codec></video>\
                   <audio><codec>AAC</codec><channels>2</channels></audio></meta></stream>\
                   <stream><name>other</name><meta><video><width>640</width><height>360</height><codec>Sorenson-H263</codec></video><audio></audio></meta></stream>\
                   <stream><name>radio</name><meta><video></video><audio><codec>AAC</codec></audio></meta></stream></live></application></server></rtmp>";
        let m = stat_meta(xml, "abc").unwrap();
        assert_eq!(
            (m.width, m.height, m.fps, m.bw_in, m.video, m.audio),
            (
                Some(1280),
                Some(720),
                Some(30.0),
                Some(2_500_000),
                true,
                true
            )
        );
        assert!(m.h264);
        let o = stat_meta(xml, "other").unwrap();
        assert_eq!(
            (o.height, o.video, o.audio, o.h264),
            (Some(360), true, false, false)
        );
        let r = stat_meta(xml, "radio").unwrap();
        assert_eq!(
            (r.height, r.video, r.audio, r.h264),
            (None, false, true, false)
        );
        assert!(stat_meta(xml, "missing").is_none());
    }

    #[test]
    fn reads_the_whole_document_nginx_rtmp_writes() {
        // The shape of nginx-rtmp 1.2's `/stat` (ngx_rtmp_stat_module) with a publisher and a
        // player: server-wide counters, clients inside the stream, empty flag elements.
        let xml = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\
            <?xml-stylesheet type=\"text/xsl\" href=\"stat.xsl\" ?>\
            <rtmp><nginx_version>1.22.1</nginx_version><nginx_rtmp_version>1.1.4</nginx_rtmp_version>\
            <compiler>gcc 12.2.0 (Debian 12.2.0-14) </compiler><built>Jan  1 2024 00:00:00</built>\
            <pid>42</pid><uptime>12</uptime><naccepted>2</naccepted><bw_in>2488</bw_in><bytes_in>3732</bytes_in>\
            <bw_out>0</bw_out><bytes_out>0</bytes_out><server><application><name>live</name><live>\
            <stream><name>0193e3f0-1111-7000-8000-000000000001</name><time>5012</time><bw_in>2501000</bw_in>\
            <bytes_in>1500000</bytes_in><bw_out>0</bw_out><bytes_out>0</bytes_out><bw_audio>128000</bw_audio>\
            <bw_video>2373000</bw_video><client><id>3</id><address>127.0.0.1</address><time>5100</time>\
            <flashver>FMLE/3.0 (compatible; Lavf59.27.100)</flashver><dropped>0</dropped><avsync>-3</avsync>\
            <timestamp>5000</timestamp><publishing/><active/></client><meta><video><width>1920</width>\
            <height>1080</height><frame_rate>29.97</frame_rate><codec>H264</codec><profile>High</profile>\
            <compat>0</compat><level>4.0</level></video><audio><codec>AAC</codec><profile>LC</profile>\
            <channels>2</channels><sample_rate>48000</sample_rate></audio></meta><nclients>1</nclients>\
            <publishing/><active/></stream><nclients>1</nclients></live></application>\
            <application><name>other</name><live><nclients>0</nclients></live></application></server></rtmp>";
        let m = stat_meta(xml, "0193e3f0-1111-7000-8000-000000000001").unwrap();
        assert_eq!(
            (m.width, m.height, m.fps, m.bw_in, m.video, m.h264, m.audio),
            (
                Some(1920),
                Some(1080),
                Some(29.97),
                Some(2_501_000),
                true,
                true,
                true
            )
        );
        assert!(stat_meta(xml, "nope").is_none());
        assert!(stat_meta("<html>not a stat</html>", "x").is_none());
    }
}

//! nginx-rtmp on loopback: the publisher's metadata from `/stat`, dropping a publisher through
//! `/control`.

use lait_shared::domain::ids::LiveId;

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

fn xml_value(block: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = block.find(&open)? + open.len();
    let end = block[start..].find("</")? + start;
    Some(block[start..end].trim().to_owned())
}

fn element<'a>(block: &'a str, tag: &str) -> &'a str {
    let Some(start) = block.find(&format!("<{tag}>")) else {
        return "";
    };
    let rest = &block[start..];
    &rest[..rest.find(&format!("</{tag}>")).unwrap_or(rest.len())]
}

/// The `<stream>` block of `name` in nginx-rtmp's stat XML.
pub fn stat_meta(xml: &str, name: &str) -> Option<SourceMeta> {
    let at = xml.find(&format!("<name>{name}</name>"))?;
    let block = &xml[at..];
    let block = &block[..block.find("</stream>").unwrap_or(block.len())];
    let video = element(block, "video");
    let audio = element(block, "audio");
    let has_codec = |b: &str| xml_value(b, "codec").is_some_and(|c| !c.is_empty());
    Some(SourceMeta {
        width: xml_value(video, "width")
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0),
        height: xml_value(video, "height")
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0),
        fps: xml_value(video, "frame_rate")
            .and_then(|v| v.parse().ok())
            .filter(|v: &f64| *v > 0.0),
        bw_in: xml_value(block, "bw_in").and_then(|v| v.parse().ok()),
        video: has_codec(video),
        h264: xml_value(video, "codec").is_some_and(|c| c.eq_ignore_ascii_case("H264")),
        audio: has_codec(audio),
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
}

//! The end of a live: its VOD written from what reached S3, then channels told (the live
//! ended, with its recording). Also at start-up: lives a dead agent left in the spool.

use std::time::{Duration, Instant};

use lait_shared::{channels::UnpublishRequest, hls};

use crate::{
    Agent,
    ctx::{Ctx, LiveFile},
    upload,
};

/// Writes the VOD from `recordings` and ends the live with it; false when channels could not be
/// told (the reaper then ends the live).
pub async fn close(
    ctx: &Ctx,
    recordings: &[(usize, Vec<hls::Segment>)],
    reason: Option<String>,
) -> bool {
    let vod_key = upload::write_vod(ctx, recordings).await;
    let duration_secs = recordings
        .first()
        .map(|(_, s)| s.iter().map(hls::Segment::duration).sum())
        .unwrap_or(0.0);
    let req = UnpublishRequest {
        live_id: ctx.live,
        vod_playlist_key: vod_key,
        duration_secs,
        reason,
    };
    unpublish(&ctx.agent, &req).await
}

pub async fn unpublish(agent: &Agent, req: &UnpublishRequest) -> bool {
    match agent
        .call::<serde_json::Value>("/internal/media/unpublish", req, Duration::from_secs(10))
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(live_id = %req.live_id, error = %e, "unpublish failed; the reaper will end the live");
            false
        }
    }
}

/// Lists the names of the objects under `prefix`.
async fn list_names(agent: &Agent, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = agent
            .s3
            .list_objects_v2()
            .bucket(&agent.config.media_bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await?;
        names.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(names),
        }
    }
}

/// At start-up: lives a previous agent process left in the spool (their ffmpeg and publisher
/// died with it) are closed now: the VOD is rebuilt from the segments that reached S3, then the
/// live is ended.
pub async fn recover(agent: &Agent) {
    let Ok(mut entries) = tokio::fs::read_dir(&agent.config.spool_dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let Ok(bytes) = tokio::fs::read(entry.path().join("live.json")).await else {
            continue;
        };
        let Ok(file) = serde_json::from_slice::<LiveFile>(&bytes) else {
            let _ = tokio::fs::remove_dir_all(entry.path()).await;
            continue;
        };
        let ctx = Ctx::new(agent.clone(), &file, 30.0);
        *ctx.finishing.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + Duration::from_secs(30));
        let mut recordings = Vec::new();
        for (i, r) in file.rungs.iter().enumerate() {
            match list_names(agent, &ctx.key(&format!("{}/", r.rendition.name))).await {
                Ok(names) => recordings.push((
                    i,
                    hls::recording_from_names(names.iter().map(String::as_str)),
                )),
                Err(e) => {
                    tracing::warn!(live_id = %file.live_id, error = %e, "could not list the recording")
                }
            }
        }
        let segments: usize = recordings.iter().map(|(_, s)| s.len()).sum();
        if close(&ctx, &recordings, Some("media agent restarted".into())).await {
            tracing::info!(live_id = %file.live_id, segments, "closed a live left by a previous agent");
        }
        let _ = tokio::fs::remove_dir_all(entry.path()).await;
    }
}

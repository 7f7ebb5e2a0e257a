//! Fan-out: each room's flusher archives what was admitted, then posts it in batches to every
//! connection and acks the senders.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;

use super::{
    Chat, ChatError, MAX_FRAME, Outbox, Payload, PostError,
    model::*,
    protocol::{self, Action, ServerFrame},
};
use crate::domain::ids::{ChannelId, ConnectionId, LiveId};

/// Serialises events into `{"type":"batch","messages":[…]}` frames of at most [`MAX_FRAME`] bytes.
pub fn batch_frames(events: &[Event]) -> anyhow::Result<Vec<Payload>> {
    const HEAD: &[u8] = protocol::BATCH_HEAD.as_bytes();
    const TAIL: &[u8] = b"]}";
    let mut frames = Vec::new();
    let mut cur: Vec<u8> = HEAD.to_vec();
    let mut items = 0;
    for e in events {
        let item = serde_json::to_vec(e)?;
        let extra = item.len() + usize::from(items > 0);
        if items > 0 && cur.len() + extra + TAIL.len() > MAX_FRAME {
            cur.extend_from_slice(TAIL);
            frames.push(Payload::new(std::mem::replace(&mut cur, HEAD.to_vec())));
            items = 0;
        }
        if items > 0 {
            cur.push(b',');
        }
        cur.extend_from_slice(&item);
        items += 1;
    }
    if items > 0 {
        cur.extend_from_slice(TAIL);
        frames.push(Payload::new(cur));
    }
    Ok(frames)
}

/// Tasks one delivery is spread over.
const DELIVERY_LANES: usize = 4;

/// Posts every frame to each connection of `part`, `concurrency` at a time; returns the gone ones.
async fn deliver_lane(
    out: Arc<dyn Outbox>,
    frames: Arc<Vec<Payload>>,
    part: Vec<ConnectionId>,
    concurrency: usize,
) -> Vec<ConnectionId> {
    let gone = Mutex::new(Vec::new());
    futures::stream::iter(part)
        .for_each_concurrent(concurrency, |id| {
            let (out, frames, gone) = (&out, &frames, &gone);
            async move {
                for f in frames.iter() {
                    match out.post(&id, f).await {
                        Ok(()) => {}
                        Err(PostError::Gone) => {
                            gone.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                            return;
                        }
                        Err(PostError::Other(e)) => {
                            tracing::warn!(connection_id = id.as_str(), error = %e, "chat delivery failed");
                            return;
                        }
                    }
                }
            }
        })
        .await;
    gone.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Posts `{type:"ack", action:"send", id, request_id}` to the sender of each archived message.
async fn ack_senders(events: &[Event], metas: Vec<EntryMeta>, out: &Arc<dyn Outbox>) {
    let acks = events
        .iter()
        .zip(metas)
        .filter_map(|(e, m)| Some((e.id, m.ack?)));
    futures::stream::iter(acks)
        .for_each_concurrent(16, |(id, to)| async move {
            let ack = ServerFrame::Ack {
                action: Action::Send,
                id: Some(id),
                request_id: to.request_id,
            };
            match out.post(&to.connection_id, &Payload::new(ack.to_json())).await {
                Ok(()) | Err(PostError::Gone) => {}
                Err(PostError::Other(e)) => {
                    tracing::warn!(connection_id = to.connection_id.as_str(), error = %e, "send ack failed");
                }
            }
        })
        .await;
}

impl Chat {
    /// Sends everything after the room's flush cursor to every connection of the room, unless
    /// another invocation is already doing so. Rounds of one room start at least the flush
    /// window apart, and what arrives in between goes out together: a quiet room's message goes
    /// out at once, a busy room's are batched. `wait: false` (moderation notices, the sweep)
    /// skips the wait for the first round.
    pub async fn flush(
        &self,
        ch: &ChannelId,
        out: &Arc<dyn Outbox>,
        wait: bool,
    ) -> Result<(), ChatError> {
        let ttl = self.config.lock_ttl;
        let Some(lock) = self.hot.try_lock(ch, ttl).await? else {
            return Ok(());
        };
        let started = tokio::time::Instant::now();
        let mut first = true;
        // The room's size sets its window (≤ 4 frames a second per viewer in a big room); read
        // once per flusher, with SCARD, not the members.
        let window = self.config.window_for(self.hot.room_size(ch).await?);
        loop {
            let pause = self.hot.pace(ch, window).await?;
            if (wait || !first) && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            first = false;
            let flushed = self.hot.flushed(ch).await?.unwrap_or(MessageId::ZERO);
            let (events, metas): (Vec<Event>, Vec<EntryMeta>) = self
                .hot
                .unsent(ch, flushed, 1000)
                .await?
                .into_iter()
                .unzip();
            if let Some(last) = events.last().map(|e| e.id) {
                // Archive first: nobody sees or is acked a message that a Redis loss could take.
                // If DynamoDB fails, the room stays where it is; the next sender or the sweep
                // tries again from the same cursor.
                let round = tokio::time::Instant::now();
                let work = async {
                    self.archive(&events, &metas).await?;
                    let archived = round.elapsed();
                    let (delivered, ()) = futures::join!(
                        self.deliver(ch, &events, out),
                        ack_senders(&events, metas, out)
                    );
                    delivered.map(|()| archived)
                };
                // The lock is renewed while the round runs, whatever it takes (a slow archive, a
                // big room, slow posts): nobody else takes the room and sends this batch again.
                let archived = match self.renewing(&lock, ttl, work).await? {
                    Some(Ok(archived)) => archived,
                    Some(Err(e)) => {
                        self.hot.unlock(&lock).await?;
                        return Err(e);
                    }
                    None => {
                        // Renewal failed (this flusher stalled past the TTL, or Redis lost the
                        // key): the round was stopped; whoever holds the room now sends from
                        // the cursor, which this one did not advance.
                        tracing::warn!(channel_id = %ch, "flush lock lost during a round: stopped it");
                        return Ok(());
                    }
                };
                tracing::debug!(channel_id = %ch, events = events.len(), archive_ms = archived.as_millis() as u64, round_ms = round.elapsed().as_millis() as u64, "chat flush round");
                if !self.hot.advance(&lock, last).await? {
                    tracing::warn!(channel_id = %ch, "flush lock expired during a delivery");
                    return Ok(());
                }
            }
            if started.elapsed() >= self.config.flush_budget {
                // An invocation has a deadline (the Lambda timeout): hand the room over. Under
                // traffic the next sender takes the lock at once; if traffic stopped right now,
                // the sweep sends what is left.
                self.hot.unlock(&lock).await?;
                return Ok(());
            }
            match self.hot.release(&lock, ttl).await? {
                super::hot::Release::MoreToSend => continue,
                super::hot::Release::Released => return Ok(()),
                super::hot::Release::Lost => {
                    tracing::warn!(channel_id = %ch, "flush lock lost");
                    return Ok(());
                }
            }
        }
    }

    /// Runs `work` while renewing `lock` every third of `ttl`; `None` (and `work` dropped) once a
    /// renewal finds the lock gone.
    async fn renewing<T>(
        &self,
        lock: &super::hot::FlushLock,
        ttl: Duration,
        work: impl std::future::Future<Output = T>,
    ) -> Result<Option<T>, ChatError> {
        let renew = async {
            loop {
                tokio::time::sleep(ttl / 3).await;
                if !self.hot.renew(lock, ttl).await? {
                    return Ok::<(), ChatError>(());
                }
            }
        };
        tokio::select! {
            done = work => Ok(Some(done)),
            lost = renew => lost.map(|()| None),
        }
    }

    async fn archive(&self, events: &[Event], metas: &[EntryMeta]) -> anyhow::Result<()> {
        let messages: Vec<(ChatMessage, Option<LiveId>)> = events
            .iter()
            .zip(metas)
            .filter_map(|(e, m)| Some((ChatMessage::from_event(e.clone())?, m.live_id)))
            .collect();
        if messages.is_empty() {
            return Ok(());
        }
        self.store.archive(&messages).await
    }

    async fn deliver(
        &self,
        ch: &ChannelId,
        events: &[Event],
        out: &Arc<dyn Outbox>,
    ) -> Result<(), ChatError> {
        let frames = Arc::new(batch_frames(events)?);
        let connections = self.hot.room(ch).await?;
        if connections.is_empty() {
            return Ok(());
        }
        // A few lanes on their own tasks, so signing and sending use every core rather than the
        // one polling this invocation.
        let lanes = DELIVERY_LANES.min(connections.len());
        let per_lane = (self.config.fanout_concurrency / lanes).max(1);
        let mut running = tokio::task::JoinSet::new();
        for part in connections.chunks(connections.len().div_ceil(lanes)) {
            running.spawn(deliver_lane(
                out.clone(),
                frames.clone(),
                part.to_vec(),
                per_lane,
            ));
        }
        let mut gone = Vec::new();
        while let Some(lane) = running.join_next().await {
            gone.extend(lane.map_err(|e| anyhow::anyhow!("delivery lane failed: {e}"))?);
        }
        if !gone.is_empty() {
            self.hot.drop_gone(ch, &gone).await?;
        }
        Ok(())
    }

    /// Flushes rooms whose flusher died (lock expired with entries left). Run periodically.
    pub async fn sweep(&self, out: &Arc<dyn Outbox>) -> Result<usize, ChatError> {
        let mut flushed = 0;
        for ch in self.hot.active_rooms(Duration::from_secs(3600)).await? {
            if self.hot.pending(&ch).await? {
                // One room's failure (say, its archive write) must not stop the others.
                match self.flush(&ch, out, false).await {
                    Ok(()) => flushed += 1,
                    Err(e) => {
                        tracing::error!(channel_id = %ch, error = %e, "sweep: flush failed");
                    }
                }
            }
        }
        Ok(flushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock::Timestamp, domain::ids::UserId};

    fn event(i: u64, text: &str) -> Event {
        Event {
            id: MessageId { ms: i, seq: 0 },
            channel_id: ChannelId::new(),
            body: EventBody::Message {
                user: ChatUser {
                    id: UserId::new(),
                    nickname: "n".into(),
                    badges: vec![],
                },
                text: text.into(),
                ts: Timestamp::now(),
            },
        }
    }

    #[test]
    fn batches_split_below_the_frame_limit_and_keep_order() {
        let big = "가".repeat(500);
        let events: Vec<Event> = (0..300).map(|i| event(i, &big)).collect();
        let frames = batch_frames(&events).unwrap();
        assert!(frames.len() > 1);
        let mut ids = Vec::new();
        for f in frames.iter().map(Payload::data) {
            assert!(f.len() <= MAX_FRAME, "{}", f.len());
            let v: serde_json::Value = serde_json::from_slice(f).unwrap();
            assert_eq!(v["type"], "batch");
            for m in v["messages"].as_array().unwrap() {
                ids.push(m["id"].as_str().unwrap().to_owned());
            }
        }
        let want: Vec<String> = (0..300).map(|i| format!("{i}-0")).collect();
        assert_eq!(ids, want);
        assert!(batch_frames(&[]).unwrap().is_empty());
    }
}

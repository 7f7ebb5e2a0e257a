//! A channel's chat settings as its owner and moderators change them over REST: slow mode, the
//! per-user rate, the filter action and the channel's word list. Each change is checked here,
//! applied in one store update and recorded in the audit log.

use super::{
    Chat, ChatError, Moderator,
    filter::{MAX_CHANNEL_WORDS, parse_word},
    model::*,
};
use crate::error::{ApiError, FieldError};

/// A change of the settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SettingsPatch)]
pub struct SettingsChange {
    /// 0 (off) to 3600.
    pub slow_seconds: Option<u32>,
    /// Per-user token bucket refill, 0.05 to 50.
    pub messages_per_second: Option<f64>,
    /// Per-user token bucket size, 1 to 100.
    pub burst: Option<u32>,
    pub filter_action: Option<FilterAction>,
}

impl SettingsChange {
    /// Every field out of its range, reported at once.
    fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if self.slow_seconds.is_some_and(|s| s > MAX_SLOW_SECONDS) {
            errors.push(FieldError::new(
                "slow_seconds",
                format!("must be between 0 and {MAX_SLOW_SECONDS}"),
            ));
        }
        if (self.messages_per_second).is_some_and(|r| !(MIN_RATE..=MAX_RATE).contains(&r)) {
            errors.push(FieldError::new(
                "messages_per_second",
                format!("must be between {MIN_RATE} and {MAX_RATE}"),
            ));
        }
        if self.burst.is_some_and(|b| !(1..=MAX_BURST).contains(&b)) {
            errors.push(FieldError::new(
                "burst",
                format!("must be between 1 and {MAX_BURST}"),
            ));
        }
        match errors.is_empty() {
            true => Ok(()),
            false => Err(ApiError::validation(errors)),
        }
    }

    fn apply(&self, s: &mut ChatSettings) {
        s.slow_seconds = self.slow_seconds.unwrap_or(s.slow_seconds);
        s.messages_per_second = self.messages_per_second.unwrap_or(s.messages_per_second);
        s.burst = self.burst.unwrap_or(s.burst);
        s.filter_action = self.filter_action.unwrap_or(s.filter_action);
    }
}

fn too_many() -> ChatError {
    ChatError::BadRequest(format!(
        "a channel's list holds at most {MAX_CHANNEL_WORDS} words"
    ))
}

/// The words of a list as sent, cleaned and without repeats; every bad one named by its index.
fn parse_words(raw: &[String]) -> Result<Vec<String>, ApiError> {
    let mut words = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        match parse_word(w) {
            Ok(w) if !words.contains(&w) => words.push(w),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new(format!("words[{i}]"), e)),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if words.len() > MAX_CHANNEL_WORDS {
        return Err(too_many().into());
    }
    Ok(words)
}

impl Chat {
    /// Slow mode, the rate limit and the filter action.
    pub async fn change_settings(
        &self,
        m: &Moderator,
        change: &SettingsChange,
    ) -> Result<ChatSettings, ApiError> {
        change.check()?;
        let SettingsChange {
            slow_seconds,
            messages_per_second,
            burst,
            filter_action,
        } = change;
        let what = format!(
            "slow_seconds={slow_seconds:?} messages_per_second={messages_per_second:?} burst={burst:?} filter_action={filter_action:?}"
        );
        let apply = |s: &mut ChatSettings| {
            change.apply(s);
            Ok(())
        };
        Ok(self.update_settings(m, &what, apply).await?)
    }

    /// Replaces the channel's word list (and the action, if given).
    pub async fn replace_words(
        &self,
        m: &Moderator,
        words: &[String],
        action: Option<FilterAction>,
    ) -> Result<ChatSettings, ApiError> {
        let words = parse_words(words)?;
        let what = format!("words replaced ({} words)", words.len());
        let apply = |s: &mut ChatSettings| {
            s.words = words.clone();
            s.words_version += 1;
            s.filter_action = action.unwrap_or(s.filter_action);
            Ok(())
        };
        Ok(self.update_settings(m, &what, apply).await?)
    }

    /// Adds one word (a word already listed is no change).
    pub async fn add_word(&self, m: &Moderator, word: &str) -> Result<ChatSettings, ApiError> {
        let word = parse_word(word).map_err(|e| ApiError::field("word", e))?;
        let apply = |s: &mut ChatSettings| {
            if !s.words.contains(&word) {
                if s.words.len() >= MAX_CHANNEL_WORDS {
                    return Err(too_many());
                }
                s.words.push(word.clone());
                s.words_version += 1;
            }
            Ok(())
        };
        let what = format!("word added: {word}");
        Ok(self.update_settings(m, &what, apply).await?)
    }

    /// Removes one word: 404 when it is not listed.
    pub async fn remove_word(&self, m: &Moderator, word: &str) -> Result<(), ApiError> {
        let word = parse_word(word).map_err(|_| ApiError::not_found("no such word"))?;
        let apply = |s: &mut ChatSettings| {
            let before = s.words.len();
            s.words.retain(|w| *w != word);
            if s.words.len() == before {
                return Err(ChatError::NotFound("no such word".into()));
            }
            s.words_version += 1;
            Ok(())
        };
        let what = format!("word removed: {word}");
        self.update_settings(m, &what, apply).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reports_every_bad_field_and_applies_only_what_it_names() {
        let bad = SettingsChange {
            slow_seconds: Some(MAX_SLOW_SECONDS + 1),
            messages_per_second: Some(MIN_RATE / 2.0),
            burst: Some(0),
            filter_action: None,
        };
        let fields: Vec<String> = match bad.check() {
            Err(e) => e.errors.iter().map(|f| f.field.clone()).collect(),
            Ok(()) => panic!("accepted {bad:?}"),
        };
        assert_eq!(fields, ["slow_seconds", "messages_per_second", "burst"]);

        let mut s = ChatSettings::default();
        let before = s.clone();
        let slow = SettingsChange {
            slow_seconds: Some(30),
            ..Default::default()
        };
        slow.check().unwrap();
        slow.apply(&mut s);
        assert_eq!(s.slow_seconds, 30);
        assert_eq!(
            (s.messages_per_second, s.burst, s.filter_action),
            (
                before.messages_per_second,
                before.burst,
                before.filter_action
            )
        );
    }

    #[test]
    fn word_lists_drop_repeats_and_name_bad_words_by_index() {
        let ok = parse_words(&["감자".into(), "감자".into(), "spam".into()]).unwrap();
        assert_eq!(ok, ["감자", "spam"]);
        let err = parse_words(&["fine".into(), "".into()]).unwrap_err();
        assert_eq!(err.errors[0].field, "words[1]");
        let many: Vec<String> = (0..=MAX_CHANNEL_WORDS).map(|i| format!("w{i}")).collect();
        assert!(parse_words(&many).is_err());
    }
}

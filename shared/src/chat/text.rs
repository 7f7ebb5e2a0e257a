//! Chat text as accepted from a client.

use std::fmt;

use crate::domain::text;

/// Longest message, in code points (AWS IVS Chat's default).
pub const MAX_CHARS: usize = 500;

/// Chat text under the [text policy](crate::domain::text): 1–[`MAX_CHARS`] code points after
/// cleaning, at least one of them visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatText(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is longer than {MAX_CHARS} characters")]
    TooLong,
}

impl ChatText {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let text = text::free_text(raw, false);
        if !text::has_visible(&text) {
            return Err(TextError::Empty);
        }
        if text.chars().count() > MAX_CHARS {
            return Err(TextError::TooLong);
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ChatText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_bounds() {
        assert_eq!(
            ChatText::parse("  hi\u{7}\n there ").unwrap().as_str(),
            "hi there"
        );
        assert_eq!(ChatText::parse("   ").unwrap_err(), TextError::Empty);
        assert_eq!(
            ChatText::parse("\u{200B}\u{FEFF} ").unwrap_err(),
            TextError::Empty
        );
        assert_eq!(ChatText::parse("").unwrap_err(), TextError::Empty);
        // Code points, not bytes: 500 Hangul syllables (1,500 bytes) fit, 501 do not.
        assert!(ChatText::parse(&"가".repeat(500)).is_ok());
        assert_eq!(
            ChatText::parse(&"가".repeat(501)).unwrap_err(),
            TextError::TooLong
        );
    }

    /// [hardening] defect 6: bidi overrides, marks with no letter and 400 stacked marks went out
    /// as sent.
    #[test]
    fn bidi_controls_bare_marks_and_zalgo_do_not_go_out() {
        assert_eq!(
            ChatText::parse("abc\u{202E}gnp.exe").unwrap().as_str(),
            "abcgnp.exe"
        );
        assert_eq!(
            ChatText::parse(&"\u{0301}\u{0308}".repeat(20)).unwrap_err(),
            TextError::Empty
        );
        let zalgo = ChatText::parse(&format!("h{}i", "\u{0336}".repeat(400))).unwrap();
        assert_eq!(
            zalgo.as_str().chars().count(),
            2 + crate::domain::text::MAX_MARKS
        );
        assert_eq!(ChatText::parse("ㅋㅋㅋ 👩‍💻").unwrap().as_str(), "ㅋㅋㅋ 👩‍💻");
    }
}

//! Chat text as accepted from a client.

use std::fmt;

/// Longest message, in code points (AWS IVS Chat's default).
pub const MAX_CHARS: usize = 500;

/// Cleaned chat text: control characters stripped, trimmed, 1–[`MAX_CHARS`] code points, and at
/// least one visible character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatText(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is longer than {MAX_CHARS} characters")]
    TooLong,
}

/// Characters that render as nothing; a message made only of them is empty.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

impl ChatText {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let text = crate::domain::clean_text(raw, false);
        if text.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
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
}

//! Account fields: email, nickname, password, bio.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::{domain::text, error::FieldError};

/// A normalized (trimmed, lower-cased) and validated email address.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let bad = |m: &str| Err(FieldError::new("email", m));
        if email.is_empty() {
            return bad("is required");
        }
        if email.len() > Self::MAX {
            return bad("is too long (at most 254 characters)");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return bad("must look like name@example.com");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if !local_ok || !domain_ok {
            return bad("must look like name@example.com");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: keep it out of debug logs.
        f.write_str("Email(..)")
    }
}

/// A display name: 2–20 characters of ASCII letters and digits, Hangul and `_`.
///
/// Other scripts are refused on purpose: Cyrillic and Greek look-alikes would let `аdmin`
/// impersonate `admin`. Hangul fillers and other invisible characters are refused by the
/// [text policy](crate::domain::text). Uniqueness is on [`Nickname::key`], the confusable
/// skeleton: `Admin`, `admin` and `adrnin` are one name.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Nickname(String);

fn is_hangul(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')
}

impl Nickname {
    pub const MIN: usize = 2;
    pub const MAX: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        // NFC so that Hangul typed as jamo sequences and as syllables compare equal.
        let nick: String = raw.trim().nfc().collect();
        text::check_identifier_chars(&nick)
            .map_err(|e| FieldError::new("nickname", e.to_string()))?;
        let n = nick.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&n) {
            return Err(FieldError::new("nickname", "must be 2 to 20 characters"));
        }
        if !nick.chars().all(Self::allowed_char) {
            return Err(FieldError::new(
                "nickname",
                "may contain only letters (a-z), digits, Hangul and _",
            ));
        }
        Ok(Self(nick))
    }

    /// Whether `c` may appear in a nickname (invisible Hangul fillers are refused before this).
    pub fn allowed_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || is_hangul(c)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: the confusable skeleton (case folded).
    pub fn key(&self) -> String {
        text::skeleton_key(&self.0)
    }
}

impl fmt::Debug for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nickname({})", self.0)
    }
}

/// A password accepted for a new account. Never printed, never serialized.
pub struct Password(String);

impl Password {
    pub const MIN: usize = 10;
    pub const MAX: usize = 128;

    pub fn parse(raw: &str, email: Option<&str>) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if n < Self::MIN {
            return Err(FieldError::new(
                "password",
                "must be at least 10 characters",
            ));
        }
        if n > Self::MAX {
            return Err(FieldError::new(
                "password",
                "must be at most 128 characters",
            ));
        }
        if email.is_some_and(|e| raw.trim().eq_ignore_ascii_case(e.trim())) {
            return Err(FieldError::new(
                "password",
                "must not be your email address",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Profile text under the [text policy](crate::domain::text): at most 300 characters, newlines kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Bio(String);

impl Bio {
    pub const MAX: usize = 300;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bio = crate::domain::text::free_text(raw, true);
        if bio.chars().count() > Self::MAX {
            return Err(FieldError::new("bio", "must be at most 300 characters"));
        }
        Ok(Self(bio))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse("  Foo.Bar@Example.COM ").unwrap().as_str(),
            "foo.bar@example.com"
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@.com",
            "a@b.c",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            ".a@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(65))).is_err());
        assert_eq!(
            format!("{:?}", Email::parse("a@b.co").unwrap()),
            "Email(..)"
        );
    }

    #[test]
    fn nicknames() {
        assert_eq!(
            Nickname::parse(" 라잇_Fan1 ").unwrap().as_str(),
            "라잇_Fan1"
        );
        assert_eq!(
            Nickname::parse("Alice").unwrap().key(),
            Nickname::parse("aLICE").unwrap().key()
        );
        for bad in [
            "a",
            "x".repeat(21).as_str(),
            "with space",
            "dash-no",
            "аdmin",
            "emoji😀",
        ] {
            assert!(Nickname::parse(bad).is_err(), "{bad:?} accepted");
        }
        // 20 Hangul syllables are 20 characters, not 60 bytes.
        assert!(Nickname::parse(&"가".repeat(20)).is_ok());
        // Jamo sequences normalize to the syllable.
        assert_eq!(
            Nickname::parse("\u{1100}\u{1161}나").unwrap().as_str(),
            "가나"
        );
    }

    /// [hardening] defect 1: Hangul fillers made a blank nickname or a copy of someone else's.
    #[test]
    fn nicknames_refuse_invisible_characters_and_key_look_alikes_together() {
        for bad in [
            "bob\u{3164}",
            "\u{3164}\u{3164}",
            "bob\u{115F}",
            "bob\u{1160}",
            "bob\u{FFA0}",
            "bo\u{200B}b",
            "bob\u{202E}",
        ] {
            let err = Nickname::parse(bad).unwrap_err();
            assert_eq!(err.field, "nickname", "{bad:?}");
        }
        let key = |n: &str| Nickname::parse(n).unwrap().key();
        assert_eq!(key("modern"), key("rnodern"));
        assert_eq!(key("bill"), key("biII"));
        assert_eq!(key("paypal"), key("paypa1"));
        assert_eq!(key("감자"), key("가ㅁ자"));
        assert_ne!(key("alice"), key("alicia"));
    }

    #[test]
    fn passwords() {
        assert_eq!(
            Password::parse("short", None).unwrap_err().field,
            "password"
        );
        assert!(Password::parse(&"x".repeat(129), None).is_err());
        assert!(Password::parse("long enough pw", None).is_ok());
        assert!(Password::parse("Me@Example.com", Some("me@example.com")).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("long enough pw", None).unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn bios() {
        assert_eq!(
            Bio::parse(" hi\u{7}\nthere ").unwrap().as_str(),
            "hi\nthere"
        );
        assert!(Bio::parse(&"x".repeat(301)).is_err());
    }
}

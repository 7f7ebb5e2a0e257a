//! The text policy: one set of rules for every user-visible identifier (nickname, channel name)
//! and text (live title, notice, bio, chat).
//!
//! - **NFKC**, so fullwidth, styled (`𝐛𝐨𝐥𝐝`) and compatibility forms become the letters people
//!   read. Hangul compatibility jamo (`ㅋㅋ`) stay as typed: NFKC would turn them into conjoining
//!   jamo, which fonts draw as one broken block.
//! - **Default-ignorable code points** (zero-width characters, Hangul fillers, variation
//!   selectors, bidi controls, tags) render as nothing, so they make two different strings look
//!   the same or a blank one look filled. Identifiers refuse them; free text drops them, keeping
//!   only the zero-width joiner inside an emoji sequence and one variation selector after a
//!   visible character.
//! - **Bidi controls** make `abc\u{202E}gnp.exe` read as `abcexe.png`: refused in identifiers,
//!   dropped from free text (they are default-ignorable).
//! - At most [`MAX_MARKS`] **combining marks** per base character (zalgo); in free text the rest,
//!   and marks with no base, are dropped.
//! - Control characters are dropped (newlines kept where a field is multi-line).
//!
//! [`skeleton_key`] is the uniqueness key of identifiers: UTS #39's confusable skeleton, so `admin`
//! and `аdmin` (Cyrillic а), or `name` and `name\u{3164}`, are one name.
//!
//! Character properties come from ICU4X (`icu_properties`) and UTS #39 (`unicode-security`).

use icu_properties::{
    CodePointSetData, CodePointSetDataBorrowed,
    props::{BidiControl, DefaultIgnorableCodePoint, EmojiModifier, ExtendedPictographic},
};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Most combining marks on one base character: enough for Vietnamese, Thai and Indic vowel and
/// tone marks, far below the dozens zalgo text stacks.
pub const MAX_MARKS: usize = 4;

/// Why an identifier was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not contain invisible characters (zero-width characters, fillers)")]
    Invisible,
    #[error("must not contain text-direction controls")]
    Bidi,
    #[error("must not stack more than {MAX_MARKS} accents on one character")]
    Marks,
    #[error("must contain a letter or digit")]
    NoLetter,
}

const IGNORABLE: CodePointSetDataBorrowed<'static> =
    CodePointSetData::new::<DefaultIgnorableCodePoint>();
const BIDI: CodePointSetDataBorrowed<'static> = CodePointSetData::new::<BidiControl>();
const PICTOGRAPH: CodePointSetDataBorrowed<'static> =
    CodePointSetData::new::<ExtendedPictographic>();
const SKIN_TONE: CodePointSetDataBorrowed<'static> = CodePointSetData::new::<EmojiModifier>();

const ZWJ: char = '\u{200D}';

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Hangul compatibility jamo (U+3130 block), kept out of NFKC.
fn is_compat_jamo(c: char) -> bool {
    matches!(c, '\u{3131}'..='\u{318E}') && !IGNORABLE.contains(c)
}

/// NFKC, leaving Hangul compatibility jamo as typed (see the module docs).
fn nfkc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut run = 0;
    for (at, c) in raw.char_indices() {
        if is_compat_jamo(c) {
            out.extend(raw[run..at].nfkc());
            out.push(c);
            run = at + c.len_utf8();
        }
    }
    out.extend(raw[run..].nfkc());
    out
}

/// Free text cleaned by the policy: never refused (what cannot be shown is dropped), trimmed.
/// Callers check [`has_visible`] where empty is not allowed.
pub fn free_text(raw: &str, newlines: bool) -> String {
    let chars: Vec<char> = nfkc(raw).chars().collect();
    let mut out = String::with_capacity(chars.len());
    // Marks on the current base; `None` while there is no base to put one on.
    let mut marks: Option<usize> = None;
    let mut last: Option<char> = None;
    for (i, &c) in chars.iter().enumerate() {
        let keep = if c.is_control() {
            newlines && c == '\n'
        } else if c == ZWJ {
            // Inside an emoji sequence (👩‍💻, 👩🏽‍💻) it joins; anywhere else it hides.
            let after_emoji = last.is_some_and(|l| {
                PICTOGRAPH.contains(l) || SKIN_TONE.contains(l) || is_variation_selector(l)
            });
            after_emoji && chars.get(i + 1).is_some_and(|&n| PICTOGRAPH.contains(n))
        } else if is_variation_selector(c) {
            // One, right on a visible base character (❤️, 1️⃣).
            last.is_some_and(|l| !l.is_whitespace() && !is_combining_mark(l) && l != ZWJ)
        } else if IGNORABLE.contains(c) {
            false
        } else if is_combining_mark(c) {
            match &mut marks {
                Some(n) if *n < MAX_MARKS => {
                    *n += 1;
                    true
                }
                _ => false,
            }
        } else {
            true
        };
        if keep {
            if !is_combining_mark(c) && !IGNORABLE.contains(c) {
                marks = (!c.is_whitespace()).then_some(0);
            }
            out.push(c);
            last = Some(c);
        }
    }
    // What was dropped may have stood between a letter and its accent.
    out.trim().nfc().collect()
}

/// Whether `c` is a default-ignorable code point (renders as nothing).
pub fn is_ignorable(c: char) -> bool {
    IGNORABLE.contains(c)
}

/// Whether cleaned text shows anything.
pub fn has_visible(text: &str) -> bool {
    text.chars()
        .any(|c| !c.is_whitespace() && !IGNORABLE.contains(c))
}

/// A one-line identifier (channel name) under the policy: NFKC, control characters dropped,
/// whitespace runs collapsed, trimmed; refused when it holds invisible characters, bidi controls
/// or a stack of marks, or has no letter or digit.
pub fn identifier(raw: &str) -> Result<String, TextError> {
    let text = nfkc(raw);
    check_identifier_chars(&text)?;
    let cleaned: String = text
        .split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .nfc()
        .collect();
    if !cleaned.chars().any(char::is_alphanumeric) {
        return Err(TextError::NoLetter);
    }
    Ok(cleaned)
}

/// The checks every identifier passes, whatever its own character set.
pub fn check_identifier_chars(text: &str) -> Result<(), TextError> {
    let mut marks = 0;
    for c in text.chars() {
        if BIDI.contains(c) {
            return Err(TextError::Bidi);
        }
        if IGNORABLE.contains(c) {
            return Err(TextError::Invisible);
        }
        if is_combining_mark(c) {
            marks += 1;
            if marks > MAX_MARKS {
                return Err(TextError::Marks);
            }
        } else {
            marks = 0;
        }
    }
    Ok(())
}

/// One character as identifier comparison and the word filter see it: UTS #39's skeleton of it,
/// lower case, with `i` and `l` one letter (a capital `I` is drawn like a small `l`).
pub fn confusable_fold(c: char, out: &mut impl FnMut(char)) {
    for s in unicode_security::skeleton(c.encode_utf8(&mut [0; 4])) {
        for l in s.to_lowercase() {
            out(if l == 'i' { 'l' } else { l });
        }
    }
}

/// The uniqueness key of an identifier: case folded, whitespace removed, confusables folded. Two
/// names with one key look alike, so only one of them may exist.
pub fn skeleton_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in nfkc(name).to_lowercase().chars() {
        if !c.is_whitespace() {
            confusable_fold(c, &mut |k| key.push(k));
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn free_text_drops_what_does_not_show() {
        // Bidi overrides, zero-width and filler characters.
        assert_eq!(free_text("abc\u{202E}gnp.exe", false), "abcgnp.exe");
        assert_eq!(free_text("a\u{200B}b\u{2066}c\u{2069}", false), "abc");
        assert_eq!(free_text("\u{3164}\u{115F}\u{1160}\u{FFA0}", false), "");
        assert!(!has_visible(&free_text("\u{200B}\u{200B}", false)));
        // Controls, newlines where allowed.
        assert_eq!(free_text("  hi\u{7}\n there ", false), "hi there");
        assert_eq!(free_text("hi\nthere", true), "hi\nthere");
        // NFKC, except compatibility jamo.
        assert_eq!(free_text("ｂａｄ 𝐛𝐨𝐥𝐝", false), "bad bold");
        assert_eq!(free_text("ㅋㅋㅋ 감자", false), "ㅋㅋㅋ 감자");
    }

    #[test]
    fn marks_are_capped_and_need_a_base() {
        let zalgo = format!("a{}b", "\u{0301}".repeat(400));
        // NFKC puts the first accent on the letter (á); four more may stack on it.
        assert_eq!(
            free_text(&zalgo, false),
            format!("á{}b", "\u{0301}".repeat(4))
        );
        assert!(!has_visible(&free_text(&"\u{0301}".repeat(10), false)));
        assert_eq!(free_text("x \u{0301}y", false), "x y");
        // Ordinary accents survive (NFKC composes them).
        assert_eq!(
            free_text("cafe\u{0301} Tiếng Việt", false),
            "café Tiếng Việt"
        );
        assert_eq!(
            check_identifier_chars(&format!("a{}", "\u{0301}".repeat(5))),
            Err(TextError::Marks)
        );
    }

    #[test]
    fn emoji_sequences_keep_their_joiners() {
        for e in ["👩‍💻", "👩🏽‍💻", "👨‍👩‍👧", "❤️", "1️⃣", "🏳️‍🌈"]
        {
            assert_eq!(free_text(e, false), e, "{e:?}");
        }
        // A joiner or selector anywhere else hides something.
        assert_eq!(free_text("a\u{200D}b", false), "ab");
        assert_eq!(free_text("a\u{FE0F}\u{FE0F}\u{FE0F}", false), "a\u{FE0F}");
    }

    #[test]
    fn identifiers_refuse_what_free_text_drops() {
        assert_eq!(identifier("abc\u{202E}gnp.exe"), Err(TextError::Bidi));
        assert_eq!(identifier("name\u{3164}"), Err(TextError::Invisible));
        assert_eq!(identifier("\u{200B}\u{200B}"), Err(TextError::Invisible));
        assert_eq!(identifier("\u{3164}"), Err(TextError::Invisible));
        assert_eq!(identifier("!!! ???"), Err(TextError::NoLetter));
        assert_eq!(identifier("  My   Channel \t"), Ok("My Channel".into()));
        assert_eq!(identifier("Ｌａｉｔ ＴＶ"), Ok("Lait TV".into()));
        assert_eq!(identifier("라잇 방송 🎮"), Ok("라잇 방송 🎮".into()));
    }

    #[test]
    fn look_alikes_share_a_key() {
        let same = [
            ("admin", "аdmin"),          // Cyrillic а
            ("admin", "ADMIN"),          // case
            ("paypal", "paypa1"),        // digit one
            ("bill", "biII"),            // capital I
            ("name", "ｎａｍｅ"),        // fullwidth
            ("my channel", "mychannel"), // spacing
            ("modern", "rnodern"),       // rn
            ("감자", "ㄱㅏㅁㅈㅏ"),      // jamo typed letter by letter
        ];
        for (a, b) in same {
            assert_eq!(skeleton_key(a), skeleton_key(b), "{a} vs {b}");
        }
        for (a, b) in [("admin", "admen"), ("감자", "고구마"), ("alice", "bob")] {
            assert_ne!(skeleton_key(a), skeleton_key(b), "{a} vs {b}");
        }
    }

    proptest! {
        #[test]
        fn free_text_is_clean_and_stable(raw in "\\PC{0,40}|[a-z\u{200B}-\u{200F}\u{202A}-\u{202E}\u{3164}\u{0300}-\u{0310}\u{1F600}-\u{1F64F}\u{FE0F} ]{0,40}") {
            let once = free_text(&raw, false);
            // Cleaning is idempotent: what it let through it lets through again.
            prop_assert_eq!(free_text(&once, false), once.clone());
            prop_assert!(!once.chars().any(|c| BIDI.contains(c) || c.is_control()));
            prop_assert!(!once.chars().any(|c| IGNORABLE.contains(c) && c != ZWJ && !is_variation_selector(c)));
            let mut run = 0;
            for c in once.chars().filter(|&c| !is_variation_selector(c)) {
                run = if is_combining_mark(c) { run + 1 } else { 0 };
                prop_assert!(run <= MAX_MARKS);
            }
        }

        #[test]
        fn accepted_identifiers_are_visible_and_keyed(raw in "\\PC{0,30}|[a-zа-я\u{200B}\u{3164}\u{202E}\u{0301} ]{0,30}") {
            if let Ok(name) = identifier(&raw) {
                prop_assert!(check_identifier_chars(&name).is_ok());
                prop_assert!(name.chars().any(char::is_alphanumeric));
                prop_assert_eq!(identifier(&name), Ok(name.clone()));
                // An invisible character never makes a second name with the same look.
                prop_assert_eq!(skeleton_key(&format!("{name}\u{200B}")), skeleton_key(&name));
            }
        }
    }
}

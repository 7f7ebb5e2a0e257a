//! Forbidden-word filtering: one aho-corasick automaton per word list, matched against folded text.
//!
//! Folding undoes the usual evasions before matching: compatibility decomposition (fullwidth and
//! styled letters become plain ones, Hangul syllables become jamo so `ㅅㅂ` and `시발` are both
//! plain sequences), lower case, combining marks dropped (`fück`), a few look-alike symbols mapped
//! to letters (`sh1t`, `@`), other scripts' look-alikes folded by UTS #39's confusable skeleton
//! (`prоbe` with a Cyrillic `о`), invisible characters and Hangul fillers dropped, and every
//! character that is not a letter or digit (spaces, punctuation) removed. Each folded byte
//! remembers the original character it came from, so matches are masked in the text as sent.
//!
//! Hangul typed letter by letter (`ㄱㅏㅁㅈㅏ` for `감자`) leaves a final consonant as an initial
//! one. So text is matched twice: as typed, and with every lone consonant between a vowel and a
//! non-vowel turned into the final it would be in a syllable (`가ㅁ자` → `감자`). Both are needed:
//! the second form alone would turn `아ㅅㅂ` into `앗ㅂ` and hide `ㅅㅂ`.
//!
//! Removing separators makes `f u c k` match, but would also find `shit` in `this hit`. So a match
//! that spans a removed character must start and end on word boundaries of the original text;
//! a match inside one run of letters (`motherfucker`) counts anywhere.

use std::{ops::Range, sync::LazyLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};
use unicode_script::{Script, UnicodeScript};

use crate::domain::text;

/// The shipped global list (see the file for its format).
pub const GLOBAL_WORDS: &str = include_str!("../../data/forbidden-words.txt");

/// Most words a channel's own list may hold, and the longest word.
pub const MAX_CHANNEL_WORDS: usize = 500;
pub const MAX_WORD_CHARS: usize = 50;

/// Text as matching sees it.
#[derive(Debug)]
pub struct Folded {
    pub text: String,
    /// For each byte of `text`, the index (in `chars`) of the original character it came from.
    origin: Vec<u32>,
    /// Original characters: byte offset, length, and whether folding kept anything of it.
    chars: Vec<(usize, usize, bool)>,
}

fn look_alike(c: char) -> char {
    match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        _ => c,
    }
}

/// Text as typed, folded (see the module docs).
pub fn fold(input: &str) -> Folded {
    fold_both(input).0
}

/// Text folded as typed, and — only when that changes anything — with lone consonants composed
/// into finals. The characters are folded once for both.
fn fold_both(input: &str) -> (Folded, Option<Folded>) {
    let (folded, chars) = fold_chars(input);
    let mut composed = folded.clone();
    let changed = jamo::compose_finals(&mut composed);
    let also = changed.then(|| assemble(composed, chars.clone()));
    (assemble(folded, chars), also)
}

/// The form patterns are stored in: composed, so a word typed letter by letter is a syllable.
fn fold_pattern(word: &str) -> String {
    let (typed, composed) = fold_both(word);
    composed.unwrap_or(typed).text
}

/// Each original character folded: (folded character, index of its original) and, per
/// original, (byte offset, length, whether anything of it was kept).
#[allow(clippy::type_complexity)]
fn fold_chars(input: &str) -> (Vec<(char, u32)>, Vec<(usize, usize, bool)>) {
    let mut folded: Vec<(char, u32)> = Vec::with_capacity(input.len());
    let mut chars = Vec::with_capacity(input.len());
    for (i, (at, c)) in input.char_indices().enumerate() {
        let before = folded.len();
        let mut push = |k: char| {
            if k.is_alphanumeric() && !is_combining_mark(k) && !text::is_ignorable(k) {
                folded.push((k, i as u32));
            }
        };
        decompose_compatible(c, |d| {
            for l in d.to_lowercase() {
                let l = look_alike(l);
                // Hangul has no look-alikes to fold, and its skeleton would merge finals with
                // initials (`곳보다` would contain `ㅅㅂ`).
                if l.script() == Script::Hangul {
                    push(l);
                } else {
                    text::confusable_fold(l, &mut push);
                }
            }
        });
        chars.push((at, c.len_utf8(), folded.len() > before));
    }
    (folded, chars)
}

fn assemble(folded: Vec<(char, u32)>, chars: Vec<(usize, usize, bool)>) -> Folded {
    let mut text = String::with_capacity(folded.len() * 3);
    let mut origin = Vec::with_capacity(folded.len() * 3);
    for (k, i) in folded {
        text.push(k);
        origin.resize(text.len(), i);
    }
    Folded {
        text,
        origin,
        chars,
    }
}

mod jamo {
    use std::{collections::HashMap, sync::LazyLock};

    fn is_initial(c: char) -> bool {
        matches!(c, '\u{1100}'..='\u{1112}')
    }

    fn is_vowel(c: char) -> bool {
        matches!(c, '\u{1161}'..='\u{1175}')
    }

    /// Initial consonant → the final of the same letter, from UTS #39 (which gives both one
    /// skeleton) rather than a table of our own.
    static FINALS: LazyLock<HashMap<char, char>> = LazyLock::new(|| {
        let skeleton = |c: char| unicode_security::skeleton(c.encode_utf8(&mut [0; 4])).collect();
        let initials: Vec<(String, char)> = ('\u{1100}'..='\u{1112}')
            .map(|l| (skeleton(l), l))
            .collect();
        ('\u{11A8}'..='\u{11C2}')
            .filter_map(|t| {
                let sk: String = skeleton(t);
                let (_, l) = initials.iter().find(|(s, _)| *s == sk)?;
                Some((*l, t))
            })
            .collect()
    });

    /// Turns each initial consonant that follows a vowel and is not followed by one into its
    /// final: `ᄀ ᅡ ᄆ ᄌ ᅡ` (typed `ㄱㅏㅁㅈㅏ`) becomes `ᄀ ᅡ ᆷ ᄌ ᅡ`, the jamo of `감자`.
    /// Whether any was.
    pub(super) fn compose_finals(folded: &mut [(char, u32)]) -> bool {
        let mut changed = false;
        for i in 1..folded.len() {
            let c = folded[i].0;
            let after_vowel = is_vowel(folded[i - 1].0);
            let before_vowel = folded.get(i + 1).is_some_and(|n| is_vowel(n.0));
            if is_initial(c)
                && after_vowel
                && !before_vowel
                && let Some(&t) = FINALS.get(&c)
            {
                folded[i].0 = t;
                changed = true;
            }
        }
        changed
    }
}

impl Folded {
    /// Whether the original character at `i` is a letter/digit that survived folding.
    fn kept(&self, i: usize) -> bool {
        self.chars.get(i).is_some_and(|c| c.2)
    }

    /// The original byte range a folded match covers, if it counts (see the module docs).
    fn original(&self, m: Range<usize>) -> Option<Range<usize>> {
        let first = *self.origin.get(m.start)? as usize;
        let last = *self.origin.get(m.end.checked_sub(1)?)? as usize;
        let gap = (first..=last).any(|i| !self.kept(i));
        if gap {
            let starts_word = first == 0 || !self.kept(first - 1);
            let ends_word = !self.kept(last + 1);
            if !(starts_word && ends_word) {
                return None;
            }
        }
        let (start, _, _) = self.chars[first];
        let (at, len, _) = self.chars[last];
        Some(start..at + len)
    }
}

/// One word list compiled once.
#[derive(Debug)]
pub struct WordFilter {
    automaton: Option<AhoCorasick>,
}

impl WordFilter {
    pub fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let patterns: Vec<String> = words
            .into_iter()
            .map(fold_pattern)
            .filter(|w| !w.is_empty())
            .collect();
        let automaton = (!patterns.is_empty())
            .then(|| {
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    // Only size limits can fail here; a list that big filters nothing rather
                    // than taking chat down.
                    .inspect_err(|e| tracing::error!(error = %e, "word list not compiled"))
                    .ok()
            })
            .flatten();
        Self { automaton }
    }

    /// Parses a list file: one word per line, `#` comments, blank lines ignored.
    pub fn from_list(list: &str) -> Self {
        Self::new(
            list.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty()),
        )
    }

    /// Original byte ranges of every counted match.
    fn matches(&self, folded: &Folded, out: &mut Vec<Range<usize>>) {
        let Some(ac) = &self.automaton else { return };
        out.extend(
            ac.find_overlapping_iter(&folded.text)
                .filter_map(|m| folded.original(m.range())),
        );
    }
}

/// The global list, compiled on first use and then kept for the life of the process.
pub fn global() -> &'static WordFilter {
    static GLOBAL: LazyLock<WordFilter> = LazyLock::new(|| WordFilter::from_list(GLOBAL_WORDS));
    &GLOBAL
}

/// What filtering found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Forbidden words found; the text with each of them masked by `*`.
    Matched {
        masked: String,
    },
}

/// Checks `text` against every filter given.
pub fn check(text: &str, filters: &[&WordFilter]) -> Verdict {
    let mut ranges = Vec::new();
    let (typed, composed) = fold_both(text);
    for folded in std::iter::once(&typed).chain(&composed) {
        for f in filters {
            f.matches(folded, &mut ranges);
        }
    }
    if ranges.is_empty() {
        return Verdict::Clean;
    }
    let masked = text
        .char_indices()
        .map(|(at, c)| {
            let hit = ranges.iter().any(|r| r.contains(&at));
            if hit && !c.is_whitespace() { '*' } else { c }
        })
        .collect();
    Verdict::Matched { masked }
}

/// A normalised form of a word for storing in a channel's list, or why it cannot be one.
pub fn parse_word(raw: &str) -> Result<String, &'static str> {
    let word = crate::domain::text::free_text(raw, false);
    if fold(&word).text.is_empty() {
        return Err("must contain a letter or digit");
    }
    if word.chars().count() > MAX_WORD_CHARS {
        return Err("must be at most 50 characters");
    }
    Ok(word.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str, words: &[&str]) -> Option<String> {
        match check(text, &[&WordFilter::new(words.iter().copied())]) {
            Verdict::Clean => None,
            Verdict::Matched { masked } => Some(masked),
        }
    }

    #[test]
    fn catches_evasions() {
        let words = ["bad"];
        assert_eq!(masked("so bad!", &words).as_deref(), Some("so ***!"));
        assert_eq!(masked("so BAD", &words).as_deref(), Some("so ***"));
        assert_eq!(masked("ba d", &words).as_deref(), Some("** *"));
        assert_eq!(masked("b.a.d", &words).as_deref(), Some("*****"));
        assert_eq!(masked("ｂａｄ", &words).as_deref(), Some("***"));
        assert_eq!(
            masked("b\u{200B}a\u{200D}d", &words).as_deref(),
            Some("*****")
        );
        assert_eq!(masked("bád", &words).as_deref(), Some("***"));
        assert_eq!(masked("𝐛𝐚𝐝", &words).as_deref(), Some("***"));
        assert_eq!(masked("b4d", &words).as_deref(), Some("***"));
        // Inside one word, a substring counts.
        assert_eq!(masked("superbad", &words).as_deref(), Some("super***"));
    }

    /// [hardening] defect 2: fillers, letter-by-letter jamo and other scripts' look-alikes got
    /// past the filter.
    #[test]
    fn evasion_table() {
        let words = ["probeword", "감자"];
        let caught = [
            "probe\u{115F}word",
            "probe\u{3164}word",
            "probe\u{FFA0}word",
            "probe\u{1160}word",
            "probe\u{200B}word",
            "감\u{3164}자",
            "ㄱㅏㅁㅈㅏ",
            "ㄱ ㅏ ㅁ ㅈ ㅏ",
            "가ㅁ자",
            "감 자",
            "\u{1100}\u{1161}\u{11B7}\u{110C}\u{1161}", // conjoining jamo
            "prоbeword",                                // Cyrillic о
            "prοbeword",                                // Greek ο
            "ΡROBEWORD",                                // Greek capital Ρ
            "ｐｒｏｂｅｗｏｒｄ",
            "p r o b e w o r d",
            "p.r.o.b.e.w.o.r.d",
            "pr0bew0rd",
            "PROBEWORD",
            "prőbewörd",
        ];
        for text in caught {
            assert!(masked(text, &words).is_some(), "{text:?} passed the filter");
        }
        let innocent = [
            "probe the word",
            "가마자",
            "감사합니다",
            "prove word",
            "곳보다",
        ];
        for text in innocent {
            assert_eq!(masked(text, &words), None, "{text:?} was masked");
        }
        // Masks cover what was sent, filler included.
        assert_eq!(masked("야 감\u{3164}자", &words).as_deref(), Some("야 ***"));
    }

    /// Whether the shipped global list catches `text`.
    fn hit(text: &str) -> bool {
        check(text, &[global()]) != Verdict::Clean
    }

    #[test]
    fn composing_finals_does_not_hide_initials() {
        assert!(hit("아ㅅㅂ"));
        assert!(hit("ㅅㅣㅂㅏㄹ"));
        assert!(!hit("곳보다"));
    }

    #[test]
    fn spaces_do_not_glue_innocent_words() {
        assert_eq!(masked("this hit was great", &["shit"]), None);
        assert_eq!(masked("a ba dly", &["bad"]), None);
        assert_eq!(masked("nothing here", &["bad"]), None);
    }

    #[test]
    fn korean() {
        assert!(hit("시발"));
        assert!(hit("시 발"));
        assert!(hit("시\u{200B}발"));
        assert!(hit("ㅅㅂ"));
        assert!(hit("ㅅ ㅂ"));
        assert!(hit("이 병신아"));
        // Jamo-level folding does not make innocent syllables match.
        assert!(!hit("밥사줘"));
        assert!(!hit("시방 뭐해"));
        assert!(!hit("안녕하세요 반갑습니다"));
        assert_eq!(
            check("야 시발 뭐야", &[global()]),
            Verdict::Matched {
                masked: "야 ** 뭐야".into()
            }
        );
    }

    #[test]
    fn global_list_compiles_every_entry() {
        let entries = GLOBAL_WORDS
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .count();
        assert!(entries > 40, "{entries}");
        assert!(check("what the fuck", &[global()]) != Verdict::Clean);
        assert!(check("ｆ ｕ ｃ ｋ", &[global()]) != Verdict::Clean);
    }

    #[test]
    fn words_parse() {
        assert_eq!(parse_word("  BadWord ").unwrap(), "badword");
        assert!(parse_word("!!!").is_err());
        assert!(parse_word(&"a".repeat(51)).is_err());
    }
}

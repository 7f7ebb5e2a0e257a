//! Forbidden-word filtering: one aho-corasick automaton per word list, matched against folded text.
//!
//! Folding undoes the usual evasions before matching: compatibility decomposition (fullwidth and
//! styled letters become plain ones, Hangul syllables become jamo so `ㅅㅂ` and `시발` are both
//! plain sequences), lower case, combining marks dropped (`fück`), a few look-alike symbols mapped
//! to letters (`sh1t`, `@`), and every character that is not a letter or digit (spaces,
//! punctuation, zero-width characters) removed. Each folded byte remembers the original character
//! it came from, so matches are masked in the text as sent.
//!
//! Removing separators makes `f u c k` match, but would also find `shit` in `this hit`. So a match
//! that spans a removed character must start and end on word boundaries of the original text;
//! a match inside one run of letters (`motherfucker`) counts anywhere.

use std::{ops::Range, sync::LazyLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

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

pub fn fold(input: &str) -> Folded {
    let mut text = String::with_capacity(input.len());
    let mut origin = Vec::with_capacity(input.len());
    let mut chars = Vec::with_capacity(input.len());
    for (i, (at, c)) in input.char_indices().enumerate() {
        let before = text.len();
        decompose_compatible(c, |d| {
            for l in d.to_lowercase() {
                let l = look_alike(l);
                if l.is_alphanumeric() && !is_combining_mark(l) {
                    text.push(l);
                }
            }
        });
        origin.resize(text.len(), i as u32);
        chars.push((at, c.len_utf8(), text.len() > before));
    }
    Folded {
        text,
        origin,
        chars,
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
            .map(|w| fold(w).text)
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
    let folded = fold(text);
    let mut ranges = Vec::new();
    for f in filters {
        f.matches(&folded, &mut ranges);
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
    let word = crate::domain::clean_text(raw, false);
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

    #[test]
    fn spaces_do_not_glue_innocent_words() {
        assert_eq!(masked("this hit was great", &["shit"]), None);
        assert_eq!(masked("a ba dly", &["bad"]), None);
        assert_eq!(masked("nothing here", &["bad"]), None);
    }

    #[test]
    fn korean() {
        let g = global();
        let hit = |t: &str| check(t, &[g]) != Verdict::Clean;
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
            check("야 시발 뭐야", &[g]),
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

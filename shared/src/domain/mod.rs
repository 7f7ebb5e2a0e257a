//! Domain types shared by every context (ids, text cleaning; account types are in `accounts::user`).
//! Parse, don't validate: a value of these types is valid by construction, so code
//! past the HTTP edge never re-checks an email, nickname or id.

pub mod ids;

/// Removes control characters (keeping `\n` where `keep_newlines`) and trims.
pub fn clean_text(s: &str, keep_newlines: bool) -> String {
    s.chars()
        .filter(|c| !c.is_control() || (keep_newlines && *c == '\n'))
        .collect::<String>()
        .trim()
        .to_owned()
}

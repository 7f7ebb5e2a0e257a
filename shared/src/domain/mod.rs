//! Domain types shared by every context (ids, the text policy; account types are in `accounts::user`).
//! Parse, don't validate: a value of these types is valid by construction, so code
//! past the HTTP edge never re-checks an email, nickname or id.

pub mod ids;
pub mod text;

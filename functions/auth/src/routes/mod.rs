//! The auth function's routes, one file per concern.

pub mod kakao;
pub mod sessions;
pub mod users;

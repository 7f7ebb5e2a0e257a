//! The public routes, one file per resource.

pub mod channels;
pub mod follows;
pub mod lives;
pub mod moderators;
pub mod notices;
pub mod search;
pub mod vods;

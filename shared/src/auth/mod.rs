//! Authentication: password hashing, access tokens (JWT), refresh-token secrets, and the axum
//! extractor every function uses for "the authenticated user".

pub mod extract;
pub mod password;
pub mod secret;
pub mod tokens;

pub use extract::{AuthUser, Authenticator};
pub use tokens::{AccessClaims, TokenConfig, TokenService};

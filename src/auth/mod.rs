//! Authentication: passwords, access tokens (JWT), opaque refresh and API
//! tokens, the request's principal, and rate limits.

pub mod jwt;
pub mod password;
pub mod principal;
pub mod ratelimit;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use principal::{MaybePrincipal, Principal};

/// Prefix of personal API tokens.
pub const API_TOKEN_PREFIX: &str = "kj_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "kjr_";

/// A random opaque token: `prefix` + 256 bits, base64url.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// How opaque tokens are stored: SHA-256, hex. (They carry 256 random
/// bits, so a fast hash is enough; only passwords need argon2.)
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

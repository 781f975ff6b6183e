//! Access tokens: HS256 JWTs from a key ring. The header's `kid` picks the
//! verification key, so keys rotate: sign with the new key, keep the old one
//! in `auth.previous_signing_key_files` until its tokens have expired.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::SigningKey;

pub const ACCESS: &str = "access";

/// Every claim is required: a token missing one does not deserialise.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// Token kind: only `access` is accepted as an access token.
    pub typ: String,
    /// The session (login) this token belongs to.
    pub sid: String,
    /// The user's token version when issued; a bump ends every session.
    pub ver: i32,
}

pub struct KeyRing {
    kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("kid", &self.kid)
            .field("accepted", &self.decoding.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Clock skew tolerated on `exp` and `iat`, seconds.
const LEEWAY_SECS: u64 = 5;

impl KeyRing {
    pub fn new(
        current: &SigningKey,
        previous: &[SigningKey],
        issuer: &str,
        audience: &str,
        ttl_secs: i64,
    ) -> anyhow::Result<Self> {
        let mut decoding = HashMap::new();
        for key in std::iter::once(current).chain(previous) {
            decoding.insert(key.kid.clone(), DecodingKey::from_secret(key.secret())?);
        }
        Ok(Self {
            kid: current.kid.clone(),
            encoding: EncodingKey::from_secret(current.secret())?,
            decoding,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl_secs,
        })
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A new access token for `user_id` in session `sid`.
    pub fn issue(&self, user_id: &str, sid: &str, ver: i32) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.into(),
            iat: now,
            exp: now + self.ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
            typ: ACCESS.into(),
            sid: sid.into(),
            ver,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }

    /// Verifies signature (HS256 only, key chosen by `kid`), `exp`, `iss`,
    /// `aud`, every claim's presence and type, `typ == "access"`, and that
    /// the token was not issued in the future nor lives longer than an
    /// access token does (both within the leeway).
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 {
            return None;
        }
        let key = self.decoding.get(header.kid.as_deref()?)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation).ok()?;
        let claims = data.claims;
        let now = chrono::Utc::now().timestamp();
        let plausible = claims.iat <= now + LEEWAY_SECS as i64
            && claims.exp - claims.iat <= self.ttl_secs + LEEWAY_SECS as i64;
        (claims.typ == ACCESS && plausible).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn key(dir: &std::path::Path, name: &str) -> SigningKey {
        crate::keys::load_or_create(&dir.join(name)).unwrap().0
    }

    #[test]
    fn round_trip_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (key(dir.path(), "old.json"), key(dir.path(), "new.json"));
        let ring_old = KeyRing::new(&old, &[], "kujenga", "kujenga-api", 900).unwrap();
        let token = ring_old.issue("u1", "s1", 0).unwrap();
        let claims = ring_old.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("u1", "s1"));
        // After rotation the old key still verifies, until removed.
        let rotated = KeyRing::new(
            &new,
            std::slice::from_ref(&old),
            "kujenga",
            "kujenga-api",
            900,
        )
        .unwrap();
        assert!(rotated.verify(&token).is_some());
        let removed = KeyRing::new(&new, &[], "kujenga", "kujenga-api", 900).unwrap();
        assert!(removed.verify(&token).is_none());
    }

    #[test]
    fn forged_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(dir.path(), "k.json");
        let ring = KeyRing::new(&k, &[], "kujenga", "kujenga-api", 900).unwrap();
        let good = ring.issue("u1", "s1", 0).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        // alg: none, no signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"x"}"#);
        assert!(
            ring.verify(&format!("{none_header}.{}.", parts[1]))
                .is_none()
        );
        // Another issuer/audience.
        for (iss, aud) in [("evil", "kujenga-api"), ("kujenga", "other")] {
            let other = KeyRing::new(&k, &[], iss, aud, 900).unwrap();
            assert!(ring.verify(&other.issue("u1", "s1", 0).unwrap()).is_none());
        }
        // Expired.
        let expired = KeyRing::new(&k, &[], "kujenga", "kujenga-api", -120).unwrap();
        assert!(
            ring.verify(&expired.issue("u1", "s1", 0).unwrap())
                .is_none()
        );
    }
}

//! Password policy and hashing: argon2id in PHC format, run on the
//! blocking pool by callers; hashes with other parameters are reported so
//! they can be upgraded at the next successful login.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::domain::EmailAddress;
use crate::domain::field::{Code, Invalid};

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// Checks a new password; the message is for the `password` field.
/// Length is counted in characters (Unicode welcome, never truncated);
/// no composition rules; a zxcvbn score of at least 3; not built on the
/// email's local part.
pub fn check_policy(
    password: &str,
    email: &EmailAddress,
    other_inputs: &[&str],
) -> Result<(), Invalid> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Invalid::new(
            Code::TooShort,
            format!("Use at least {MIN_CHARS} characters."),
        )
        .min(MIN_CHARS));
    }
    if chars > MAX_CHARS {
        return Err(Invalid::too_long(
            MAX_CHARS,
            format!("Use at most {MAX_CHARS} characters."),
        ));
    }
    let local = email.local_part();
    if local.chars().count() >= 3 && password.to_lowercase().contains(local) {
        return Err(Invalid::new(
            Code::WeakPassword,
            "Do not build the password on your email address.",
        ));
    }
    let mut inputs: Vec<&str> = vec![email.normalized(), local];
    inputs.extend_from_slice(other_inputs);
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if (estimate.score() as u8) < 3 {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| format!(" {w}.")))
            .unwrap_or_default();
        return Err(Invalid::new(
            Code::WeakPassword,
            format!(
                "This password is too easy to guess.{hint} A few unrelated words make a strong one."
            ),
        ));
    }
    Ok(())
}

/// The argon2id parameters in force, and a bound on how many hashes run at
/// once: each takes a core for ~30 ms, and unbounded they would starve every
/// other request of CPU (bench/login.sh measures this).
#[derive(Debug, Clone)]
pub struct Hasher {
    params: Params,
    dummy_hash: String,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Concurrent hashes by default: all cores but one (at least one).
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

/// What verifying told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but hashed with other parameters: store a new hash.
    YesRehash,
}

impl Hasher {
    /// `memory_kib`, `iterations`, `parallelism`: OWASP's 19456, 2, 1 by default.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> anyhow::Result<Self> {
        Self::with_concurrency(memory_kib, iterations, parallelism, default_concurrency())
    }

    pub fn with_concurrency(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let mut hasher = Self {
            params,
            dummy_hash: String::new(),
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
        };
        // Unknown accounts are verified against this, so they cost the same.
        hasher.dummy_hash = hasher.hash("kujenga dummy password for timing")?;
        Ok(hasher)
    }

    /// Runs password work on the blocking pool, at most `concurrency` at a
    /// time; callers beyond that wait without using CPU.
    pub async fn run<T, F>(self: &std::sync::Arc<Self>, f: F) -> Result<T, crate::error::ApiError>
    where
        F: FnOnce(&Hasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(crate::error::ApiError::internal)?;
        let me = self.clone();
        Ok(actix_web::web::block(move || f(&me)).await?)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Blocking: call from the blocking pool.
    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    }

    /// Blocking. `None` for the hash means "no such account": the dummy
    /// hash is verified instead and the answer is always `No`.
    pub fn verify(&self, password: &str, hash: Option<&str>) -> Verified {
        let Some(hash) = hash else {
            let _ = self
                .argon2()
                .verify_password(password.as_bytes(), self.dummy_hash.as_str());
            return Verified::No;
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return Verified::No;
        };
        if self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            return Verified::No;
        }
        let current = Params::try_from(&parsed).ok();
        let same = parsed.algorithm.as_str() == "argon2id"
            && current.is_some_and(|p| {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            });
        if same {
            Verified::Yes
        } else {
            Verified::YesRehash
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> EmailAddress {
        EmailAddress::parse("amina.wanjiru@example.org").unwrap()
    }

    #[test]
    fn policy_cases() {
        let cases: &[(&str, bool, &str)] = &[
            ("short", false, "too short"),
            ("correct horse battery staple", true, "long passphrase"),
            (
                "mbegu za mahindi zinaota vizuri",
                true,
                "Swahili passphrase",
            ),
            ("ŋgɔ́ndɔ bɛlɛ́ ɖé ɖaxó nú mi", true, "Unicode"),
            ("aaaaaaaaaaaaaaaa", false, "repeated"),
            ("password12345678", false, "common"),
            ("amina.wanjiru-2026!xyz", false, "contains the local part"),
        ];
        for (pw, ok, case) in cases {
            assert_eq!(check_policy(pw, &email(), &[]).is_ok(), *ok, "{case}");
        }
        assert!(check_policy(&"x".repeat(129), &email(), &[]).is_err());
    }

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let h = Hasher::new(1024, 1, 1).unwrap();
        let hash = h.hash("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert_eq!(
            h.verify("correct horse battery staple", Some(&hash)),
            Verified::Yes
        );
        assert_eq!(
            h.verify("wrong horse battery staple", Some(&hash)),
            Verified::No
        );
        assert_eq!(h.verify("anything", None), Verified::No);
        assert_eq!(h.verify("anything", Some("not a hash")), Verified::No);
        // Other parameters: still correct, but due for a rehash.
        let stronger = Hasher::new(2048, 2, 1).unwrap();
        assert_eq!(
            stronger.verify("correct horse battery staple", Some(&hash)),
            Verified::YesRehash
        );
    }
}

//! The token-signing key: generated into the data folder on first start,
//! read back on every later start.
//!
//! File format (JSON): `{"kid": "...", "alg": "HS256", "secret": "<base64url>"}`,
//! mode 0600. The accounts layer signs tokens with it and puts `kid` in the
//! token header, so keys can rotate through a key ring later.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SECRET_BYTES: usize = 64;

/// A signing key; the secret never prints.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: String,
    secret: SecretSlice<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

impl SigningKey {
    pub fn secret(&self) -> &[u8] {
        self.secret.expose_secret()
    }

    fn generate() -> Self {
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&secret)[..9]);
        Self {
            kid,
            alg: "HS256".into(),
            secret: SecretSlice::from(secret),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    kid: String,
    alg: String,
    secret: String,
}

/// Reads the key at `path`, creating it first if there is none. Creation is
/// atomic: a crash leaves either no file or a whole one, and two processes
/// starting at once end up with the same key.
pub fn load_or_create(path: &Path) -> anyhow::Result<(SigningKey, bool)> {
    if let Some(key) = read(path)? {
        return Ok((key, false));
    }
    let key = SigningKey::generate();
    let file = KeyFile {
        kid: key.kid.clone(),
        alg: key.alg.clone(),
        secret: URL_SAFE_NO_PAD.encode(key.secret()),
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".signing-key.{}.tmp", uuid::Uuid::now_v7()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options
            .open(&tmp)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
        f.write_all(serde_json::to_string_pretty(&file)?.as_bytes())?;
        f.sync_all()?;
    }
    // hard_link fails if the key appeared meanwhile: then the other one wins.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok((key, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let key = read(path)?
                .ok_or_else(|| anyhow::anyhow!("signing key {} vanished", path.display()))?;
            Ok((key, false))
        }
        Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
    }
}

/// Reads an existing key file (an old key kept for rotation); a missing
/// file is an error, never a new key.
pub fn load(path: &Path) -> anyhow::Result<SigningKey> {
    read(path)?.ok_or_else(|| anyhow::anyhow!("signing key file {} does not exist", path.display()))
}

fn read(path: &Path) -> anyhow::Result<Option<SigningKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let file: KeyFile = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a signing key file: {e}", path.display()))?;
    let secret = URL_SAFE_NO_PAD
        .decode(file.secret.trim())
        .map_err(|e| anyhow::anyhow!("{}: bad secret: {e}", path.display()))?;
    if file.alg != "HS256" {
        anyhow::bail!(
            "{}: unsupported algorithm `{}` (only HS256)",
            path.display(),
            file.alg
        );
    }
    if secret.len() < 32 {
        anyhow::bail!("{}: the secret must be at least 32 bytes", path.display());
    }
    Ok(Some(SigningKey {
        kid: file.kid,
        alg: file.alg,
        secret: SecretSlice::from(secret),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("signing-key.json");
        let (first, created) = load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(first.secret().len(), SECRET_BYTES);
        let (second, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(first.kid, second.kid);
        assert_eq!(first.secret(), second.secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{first:?}").contains(&URL_SAFE_NO_PAD.encode(first.secret())));
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-key.json");
        std::fs::write(&path, "garbage").unwrap();
        assert!(load_or_create(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");
    }
}

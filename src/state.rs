//! What the handlers, commands and jobs share: settings, the outbox, the
//! key ring, the password hasher, the rate limiters. Built once by
//! `startup::Application::build` from the settings and the signing key;
//! nothing here depends on how the server is assembled.

use std::sync::Arc;

use crate::auth::jwt::KeyRing;
use crate::auth::password::Hasher;
use crate::auth::ratelimit::RateLimits;
use crate::config::Settings;
use crate::keys::{self, SigningKey};
use crate::mail::Outbox;

/// Shared, immutable state handed to every worker.
#[derive(Debug, Clone)]
pub struct AppState {
    pub settings: Settings,
    pub outbox: Arc<Outbox>,
    pub keys: Arc<KeyRing>,
    pub hasher: Arc<Hasher>,
    pub limits: Arc<RateLimits>,
    /// Refused file links recently audited (`app::access::RefusalLog`).
    pub refusals: Arc<crate::app::access::RefusalLog>,
    /// The registered client apps' origins, for CORS (`app::clients::ClientOrigins`).
    pub clients: Arc<crate::app::clients::ClientOrigins>,
    /// The DCAT catalogue's size per data generation (`app::catalog::CountMemo`).
    pub catalog_counts: Arc<crate::app::catalog::CountMemo>,
}

impl AppState {
    /// Everything the handlers share, from settings and the signing key.
    pub fn new(settings: &Settings, key: &SigningKey) -> anyhow::Result<Self> {
        let mut previous = Vec::new();
        for path in &settings.auth.previous_signing_key_files {
            previous.push(
                keys::load(path)
                    .map_err(|e| anyhow::anyhow!("auth.previous_signing_key_files: {e}"))?,
            );
        }
        let auth = &settings.auth;
        Ok(Self {
            settings: settings.clone(),
            outbox: Arc::new(Outbox::new(
                &settings.mail,
                &settings.platform.name,
                &settings.platform.frontend_url,
            )?),
            keys: Arc::new(KeyRing::new(
                key,
                &previous,
                &auth.issuer,
                &auth.audience,
                i64::from(auth.access_token_ttl_secs),
            )?),
            hasher: Arc::new(Hasher::new(
                auth.argon2_memory_kib,
                auth.argon2_iterations,
                auth.argon2_parallelism,
            )?),
            limits: Arc::new(RateLimits::new(&settings.rate_limit)),
            refusals: Arc::default(),
            clients: Arc::default(),
            catalog_counts: Arc::default(),
        })
    }
}

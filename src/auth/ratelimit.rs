//! Per-IP rate limits on the endpoints attackers hammer (register, login,
//! refresh, password reset). In memory, per instance: with N instances
//! behind a load balancer a client gets up to N times the limit. Failed
//! logins per account are throttled in the database instead (shared).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimitSettings;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Register,
    Login,
    Refresh,
    PasswordReset,
}

pub struct RateLimits {
    register: DefaultKeyedRateLimiter<IpAddr>,
    login: DefaultKeyedRateLimiter<IpAddr>,
    refresh: DefaultKeyedRateLimiter<IpAddr>,
    password_reset: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimits")
    }
}

fn per_minute(n: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(n))
}

fn per_hour(n: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_hour(n))
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            register: per_hour(settings.register_per_hour),
            login: per_minute(settings.login_per_minute),
            refresh: per_minute(settings.refresh_per_minute),
            password_reset: per_hour(settings.password_reset_per_hour),
        }
    }

    /// Counts one request from `ip`; 429 with `Retry-After` past the limit.
    pub fn check(&self, bucket: Bucket, ip: IpAddr) -> Result<(), ApiError> {
        let limiter = match bucket {
            Bucket::Register => &self.register,
            Bucket::Login => &self.login,
            Bucket::Refresh => &self.refresh,
            Bucket::PasswordReset => &self.password_reset,
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1) + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Forgets idle clients (memory stays bounded).
    pub fn shrink(&self) {
        for limiter in [
            &self.register,
            &self.login,
            &self.refresh,
            &self.password_reset,
        ] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

//! Periodic work, in one place. Each job is a function of the database
//! connection, the shared state and the clock (`now`), so the scheduler in
//! `startup.rs` runs them hourly and tests run them with their own clock.

pub mod access;
pub mod digests;
pub mod housekeeping;
pub mod webhooks;

//! The application layer: commands and queries that run the same with or
//! without HTTP (handlers, jobs, the CLI). It is being built area by area
//! (docs/ARCHITECTURE.md): so far the event dispatcher.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod catalog;
pub mod changes;
pub mod citation;
pub mod clients;
pub mod deaccession;
pub mod embargo;
pub mod events;
pub mod exports;
pub mod institutions;
pub mod learning;
pub mod memberships;
pub mod notifications;
pub mod oai;
pub mod package;
pub mod partnerships;
pub mod permissions;
pub mod resources;
pub mod search;
pub mod signposting;
pub mod versions;
pub mod webhooks;

//! Kujenga: the backend of an AI capacity-building knowledge-sharing
//! platform. See `docs/ARCHITECTURE.md` for the map of this crate.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod mail;
pub mod problem_types;
pub mod standards;
pub mod startup;
pub mod state;
pub mod telemetry;

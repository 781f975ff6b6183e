//! The black-box API suite: one binary, the real application per test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code fails loudly by design"
)]

mod helpers;

mod access;
mod access_terms;
mod accounts;
mod auth;
mod building_blocks;
mod catalogue_smoke;
mod catalogue_visibility;
mod cli;
mod demo;
mod events;
mod events_access;
mod events_accounts;
mod events_institutions;
mod events_learning;
mod events_partnerships;
mod events_resources;
mod feed;
mod feed_package;
mod frontend_clients;
mod frontend_duration;
mod frontend_errors;
mod frontend_etags;
mod frontend_include;
mod frontend_links;
mod frontend_me;
mod frontend_notifications;
mod frontend_params;
mod frontend_permissions;
mod frontend_permissions_more;
mod frontend_sessions;
mod hardening;
mod hardening_accounts;
mod http_behaviour;
mod institutions;
mod learning;
mod mail;
mod migrations;
mod openapi;
mod ops;
mod partnerships;
mod probes_feed;
mod public_cache;
mod resource_schema;
mod resources;
mod search;
mod search_facets;
mod std_citation;
mod std_croissant;
mod std_dcat;
mod std_oai;
mod std_oai_more;
mod std_walk;
mod versions;
mod webhooks;
mod webhooks_records;
mod webhooks_sharing;
mod webhooks_workers;
mod withdrawals;

//! The black-box API suite: one binary, the real application per test.

mod helpers;

mod building_blocks;
mod cli;
mod http_behaviour;
mod migrations;
mod openapi;
mod ops;

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end scenarios that run the real `council` binary, as a user would.
//!
//! One test binary, one module per scenario (ripgrep's layout). These are declared as
//! the `e2e` test of the council-cli package so that Cargo builds the binary for them.

mod util;

mod disk;
mod ed25519;
mod federation;
mod members;
mod node;
mod verify;
mod web;

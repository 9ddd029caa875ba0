//! wgdeploy: declarative WireGuard provisioning that gets NAT right.
//!
//! The layers, bottom up (ARCHITECTURE.md is the map): `core` is pure (inventory → model →
//! addressing → topology → render, and the change a host needs); `check` simulates WireGuard on
//! configs; `store` keeps the operator's files (state, journal); `remote` is what runs on hosts and
//! the parsers of what they answer; `transport` carries it (SSH, or a recording fake); `engine`
//! surveys and changes hosts; `ui` formats; `cli` turns arguments into calls. Each layer imports
//! only from the layers before it.
#![forbid(unsafe_code)]

pub mod core;

pub mod check;
pub mod remote;
pub mod store;
pub mod transport;

pub mod engine;

pub mod ui;

pub mod cli;

//! What `status` prints: per host its interface, generation and peers' handshakes, and with
//! `--ping` the real reachability matrix next to `check`'s prediction. Pure: plain data in, text
//! out, so every line is unit-tested. The SSH side is `wgdeploy status` in the CLI layer.
//!
//! Everything a host reported (endpoints, deployment ids, times) goes through
//! [`crate::core::model::printable`] before it is printed; keys are shown only as public keys, shortened.
//!
//! One module per job: `model` holds what was observed and judges each host's health and each
//! ping against `check`, `units` writes ages, sizes and peer names, `hosts` prints the hosts'
//! blocks and summary, `ping` the reachability matrix, and `json` the same as one JSON document.

mod hosts;
pub mod json;
mod model;
mod ping;
pub(crate) mod units;

pub use hosts::{health_line, hosts_report};
pub use model::{
    Cell, Health, HostStatus, Observed, Ping, PingCounts, PingMatrix, PingRow, Prediction,
};
pub use ping::ping_report;

#[cfg(test)]
mod fixtures;

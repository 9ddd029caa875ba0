//! wgdeploy: declarative WireGuard provisioning that gets NAT right.
//!
//! Data flows one way through pure stages: inventory → model → addressing → topology → render.

pub mod error;
pub mod inventory;
pub mod keys;
pub mod model;
pub mod addressing;
pub mod topology;

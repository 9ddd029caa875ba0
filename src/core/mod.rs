//! The pure core: no I/O but reading the inventory file, no clock, no network. Validated inputs
//! in, plans and configs out, so every rule is tested without a host.

pub mod addressing;
pub mod adopt;
pub mod change;
pub mod device;
pub mod error;
pub mod facts;
pub mod forwarding;
pub mod graph;
pub mod inventory;
pub mod key_guard;
pub mod keys;
pub mod model;
pub mod parallel;
pub mod paths;
pub mod pipeline;
pub mod removal;
pub mod render;
pub mod rotation;
pub mod routes;
pub mod selection;
pub mod time;
pub mod topology;
pub mod underlay;
pub mod wgconf;

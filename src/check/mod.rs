//! `check`: proves or refutes that every host reaches every other host, by simulating WireGuard's
//! own rules (DESIGN.md §1) over a set of wg-quick configs. Pure: configs and a few facts in,
//! verdicts out.
//!
//! A packet from `s` to `d` is followed hop by hop:
//! 1. outbound: the peer whose AllowedIPs hold the destination by longest prefix match;
//! 2. a session: the sender needs a working endpoint for that peer, or the peer must initiate
//!    towards the sender (and, behind NAT, keep its mapping alive with PersistentKeepalive);
//! 3. inbound: the receiver looks up the packet's *source* by longest prefix match; it must land on
//!    the peer that sent it, or the packet is dropped;
//! 4. a receiver that is not the destination must forward it (a relay), and the walk goes on.
//!
//! A pair is reachable only when the request and the reply both arrive.
//!
//! The pairs are between *places*: every host, every subnet routed behind a host, and the internet
//! via each exit host (for the hosts using that exit only). A packet from a subnet or the internet
//! starts at its owner with the place's address as its source, and one to them is delivered when it
//! reaches the owner; either way the owner must forward (and an exit masquerade).
//!
//! One module per job: `network` builds the hosts and their peers from configs, `places` what is
//! proven reachable (declared by an inventory or inferred from configs), `lpm` answers
//! longest-prefix matches as WireGuard's allowedips trie does, `simulate` walks packets and decides
//! each direction, `report` runs every ordered pair, and `verdict` names what they conclude;
//! `input` reads the configs from files or an inventory.

pub mod input;
mod lpm;
mod network;
pub mod places;
mod report;
mod simulate;
pub mod underlay;
mod verdict;

pub use network::{ConfigSet, Entry, Facts, Forwarding, Network, Node};
pub use places::{DeclaredPlaces, Place, PlaceIndex, PlaceKind};
pub use report::{Counts, Report};
pub use simulate::Simulation;
pub use verdict::{Condition, Problem, Verdict, Warning};

/// A host: its position in the set of configs.
pub type HostIndex = usize;
/// A `[Peer]` of a host: its position in that host's config.
type EntryIndex = usize;

//! What the simulation concludes: a verdict per direction or pair, the conditions it depends on,
//! the problem that breaks it, and warnings about the set as a whole.

use crate::check::{EntryIndex, HostIndex};
use ipnet::IpNet;
use std::net::IpAddr;

/// Something that works only under a condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// `talker` can send to `peer` only after `peer` has sent first (no endpoint configured).
    FirstContact { talker: HostIndex, peer: HostIndex },
    /// `initiator` is behind NAT and sends no keepalive to `peer`: works while the mapping lasts.
    NatMapping {
        initiator: HostIndex,
        peer: HostIndex,
    },
    /// `host` must forward, and nothing shows it does.
    MustForward { host: HostIndex },
    /// `host` puts no route for the destination into the main table (`Table = off`, or another
    /// table): the packet enters the interface only through the user's own routing.
    OwnRouting { host: HostIndex },
    /// `host` is the exit the packet leaves through and nothing shows it masquerades: replies
    /// from the internet come back only if its uplink's address stands in for the sender's.
    MustMasquerade { host: HostIndex },
}

/// Why a packet does not arrive: the rule that breaks, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoCommonFamily,
    /// No AllowedIPs of `at` covers `dst`.
    NoRoute {
        at: HostIndex,
        dst: IpAddr,
    },
    /// The chosen peer's key belongs to no host in the set.
    External {
        at: HostIndex,
        entry: EntryIndex,
    },
    /// `to` does not list `at`'s key, so it rejects the handshake.
    NotListed {
        at: HostIndex,
        to: HostIndex,
    },
    /// `at` lists `to` without a usable endpoint and `to` never initiates towards `at`.
    NoEndpoint {
        at: HostIndex,
        entry: EntryIndex,
        dst: IpAddr,
    },
    /// `at` lists the peer of `entry` at an endpoint of an address family `at`'s own network
    /// lacks (an IPv6 endpoint on an IPv4-only host), and that peer never initiates towards `at`.
    EndpointFamily {
        at: HostIndex,
        entry: EntryIndex,
        dst: IpAddr,
    },
    /// `at` dials `to`'s key at an endpoint that belongs to `owner`: the handshake lands there.
    WrongEndpoint {
        at: HostIndex,
        entry: EntryIndex,
        owner: HostIndex,
        dst: IpAddr,
    },
    /// `at` received from `from` a packet whose source it attributes to another peer (or none).
    SourceFilter {
        at: HostIndex,
        from: HostIndex,
        src: IpAddr,
        attributed: Option<EntryIndex>,
    },
    /// `at` would have to forward but does not.
    NoForwarding {
        at: HostIndex,
    },
    /// The packet arrived at a host that owns the destination address but is not the destination.
    WrongHost {
        at: HostIndex,
    },
    Loop,
    /// A packet for the internet left the tunnel at `at` (no entry covers it there) instead of
    /// reaching `exit`, the exit the sender uses.
    ExitMissed {
        at: HostIndex,
        exit: HostIndex,
    },
}

/// The result of one direction or one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Reachable,
    Conditional(Vec<Condition>),
    Unreachable(Problem),
}

/// A warning about the set as a whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Warning {
    NoKeepalive {
        host: HostIndex,
        peer: HostIndex,
    },
    KeepaliveWrongSide {
        host: HostIndex,
        peer: HostIndex,
    },
    HostBits {
        host: HostIndex,
        prefix: String,
    },
    OneSided {
        host: HostIndex,
        peer: HostIndex,
    },
    DuplicatePrefix {
        host: HostIndex,
        prefix: IpNet,
        winner: String,
        loser: String,
    },
    External {
        host: HostIndex,
        label: String,
    },
    MustForward {
        host: HostIndex,
    },
    /// Nobody lists an IP endpoint for these hosts and nothing states their families: IPv4 was
    /// assumed (`--underlay HOST=ipv6` states it).
    AssumedIpv4 {
        hosts: Vec<HostIndex>,
    },
    /// An endpoint listed for `host` that cannot be right (unspecified, loopback, inside the
    /// overlay).
    DoubtfulEndpoint {
        host: HostIndex,
        endpoint: String,
        why: crate::core::underlay::Doubt,
    },
    /// `host` has `Table = off` (or a table of its own) and its peers carry prefixes outside its
    /// own address range: nothing routes those into the interface unless the user does.
    OwnRouting {
        host: HostIndex,
        prefixes: Vec<IpNet>,
    },
    /// A prefix in AllowedIPs outside the overlay that no host of the set owns (its targets all
    /// send it on into the tunnel, or are outside the set): not checked.
    UnownedSubnet {
        prefix: IpNet,
    },
    /// A prefix outside the overlay that several hosts could own: not checked.
    AmbiguousSubnet {
        prefix: IpNet,
        owners: Vec<HostIndex>,
    },
    /// `host` has a default route in AllowedIPs but its way to the internet leads outside the set
    /// or loops: no exit found, not checked.
    NoExit {
        host: HostIndex,
    },
}

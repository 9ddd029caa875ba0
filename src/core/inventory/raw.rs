//! The inventory's settings as written, before their values are checked: each value wrapped in
//! [`Spanned`] so that validation can point at the line and column of whatever it rejects. Built
//! from the YAML tree by `structure`, which has already reported unknown keys and values of the
//! wrong kind.

use serde_saphyr::Spanned;

#[derive(Debug, Default)]
pub struct RawInventory {
    pub network: Option<Spanned<RawNetwork>>,
    pub defaults: Option<Spanned<RawDefaults>>,
    pub hosts: Option<Spanned<RawHosts>>,
    /// A value outside `hosts` had the wrong kind (already reported): checks that depend on it
    /// would only report its consequences, so validation stops after the hosts' own checks.
    pub broken: bool,
}

#[derive(Debug, Default)]
pub struct RawNetwork {
    pub interface: Option<Spanned<String>>,
    pub addresses: Option<Spanned<OneOrMany>>,
    pub port: Option<Spanned<i64>>,
    pub keepalive: Option<Spanned<i64>>,
    pub mtu: Option<Spanned<i64>>,
    pub preshared_keys: Option<Spanned<bool>>,
    /// Where managed hosts' private keys are made: `local` (default) or `on-host`.
    pub keys: Option<Spanned<String>>,
    // Interface settings every host gets unless it sets its own (see `validate/settings.rs`).
    pub dns: Option<Spanned<OneOrMany>>,
    pub table: Option<Spanned<Scalar>>,
    pub fwmark: Option<Spanned<Scalar>>,
    pub pre_up: Option<Spanned<OneOrMany>>,
    pub post_up: Option<Spanned<OneOrMany>>,
    pub pre_down: Option<Spanned<OneOrMany>>,
    pub post_down: Option<Spanned<OneOrMany>>,
    /// A value had the wrong kind (already reported), e.g. `addresses: {}`.
    pub broken: bool,
}

#[derive(Debug, Default)]
pub struct RawDefaults {
    pub ssh: Option<Spanned<RawSsh>>,
}

#[derive(Debug, Default, Clone)]
pub struct RawSsh {
    pub host: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub identity: Option<Spanned<String>>,
    pub jump: Option<Spanned<String>>,
    pub become_: Option<Spanned<String>>,
}

#[derive(Debug, Default)]
pub struct RawHost {
    /// One endpoint, or a list of them (one per address family).
    pub endpoint: Option<Spanned<OneOrMany>>,
    /// `underlay: [ipv4, ipv6]`: the address families of the host's own network.
    pub underlay: Option<Spanned<OneOrMany>>,
    pub relay: Option<Spanned<bool>>,
    pub address: Option<Spanned<OneOrMany>>,
    pub via: Option<Spanned<String>>,
    pub routes: Option<Spanned<OneOrMany>>,
    pub listen_port: Option<Spanned<i64>>,
    pub ssh: Option<Spanned<RawSsh>>,
    // Per-host interface settings over the network's (see `validate/settings.rs`).
    pub dns: Option<Spanned<OneOrMany>>,
    pub mtu: Option<Spanned<i64>>,
    pub table: Option<Spanned<Scalar>>,
    pub fwmark: Option<Spanned<Scalar>>,
    pub keepalive: Option<Spanned<i64>>,
    pub pre_up: Option<Spanned<OneOrMany>>,
    pub post_up: Option<Spanned<OneOrMany>>,
    pub pre_down: Option<Spanned<OneOrMany>>,
    pub post_down: Option<Spanned<OneOrMany>>,
    pub allowed_ips: Option<Spanned<PeerPrefixes>>,
    /// `false`: a device wgdeploy never logs into (see `validate/device.rs`).
    pub manage: Option<Spanned<bool>>,
    /// A device's own public key (`wg pubkey` on the device); only with `manage: false`.
    pub public_key: Option<Spanned<String>>,
    /// `exit: true`: a public host offering its uplink to hosts that use it (see `validate/exit.rs`).
    pub exit: Option<Spanned<bool>>,
    /// `use_exit: HOST`: all of this host's traffic goes through that exit.
    pub use_exit: Option<Spanned<String>>,
    /// One of its values had the wrong kind (already reported): its own checks are skipped, as
    /// they would report the consequences of the missing value.
    pub broken: bool,
}

/// The `hosts:` mapping in file order. A host written with no body (`laptop:`) is a NAT-ed host with
/// every default.
#[derive(Debug, Default)]
pub struct RawHosts(pub Vec<(Spanned<String>, RawHost)>);

/// A value written either as one scalar or as a list: `address: 100.64.0.9` and
/// `address: [100.64.0.9, fd00::9]` both work. Each item keeps its own location.
#[derive(Debug, Default, Clone)]
pub struct OneOrMany(pub Vec<Spanned<String>>);

/// A scalar kept as text whatever YAML made of it: `table: off` (a YAML 1.1 boolean, kept as
/// `off`), `table: 100` and `fwmark: 0xca6c` all arrive here, and validation decides what the text
/// means.
#[derive(Debug, Default, Clone)]
pub struct Scalar(pub String);

/// `allowed_ips: { relay1: [198.18.60.0/24] }`: extra prefixes per peer name, in file order.
#[derive(Debug, Default)]
pub struct PeerPrefixes(pub Vec<(Spanned<String>, Spanned<OneOrMany>)>);

//! The inventory exactly as written: plain serde structs, every value wrapped in [`Spanned`] so that
//! validation can point at the line and column of whatever it rejects. Unknown keys are refused here
//! (`deny_unknown_fields`), which is how typos such as `endpiont:` are caught.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    pub network: Option<Spanned<RawNetwork>>,
    pub defaults: Option<Spanned<RawDefaults>>,
    pub hosts: Option<Spanned<RawHosts>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub interface: Option<Spanned<String>>,
    pub addresses: Option<Spanned<OneOrMany>>,
    pub port: Option<Spanned<i64>>,
    pub keepalive: Option<Spanned<i64>>,
    pub mtu: Option<Spanned<i64>>,
    pub preshared_keys: Option<Spanned<bool>>,
    // Interface settings every host gets unless it sets its own (see `settings.rs`).
    pub dns: Option<Spanned<OneOrMany>>,
    pub table: Option<Spanned<Scalar>>,
    pub fwmark: Option<Spanned<Scalar>>,
    pub pre_up: Option<Spanned<OneOrMany>>,
    pub post_up: Option<Spanned<OneOrMany>>,
    pub pre_down: Option<Spanned<OneOrMany>>,
    pub post_down: Option<Spanned<OneOrMany>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub ssh: Option<Spanned<RawSsh>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    pub host: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub identity: Option<Spanned<String>>,
    pub jump: Option<Spanned<String>>,
    #[serde(rename = "become")]
    pub become_: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub endpoint: Option<Spanned<String>>,
    pub relay: Option<Spanned<bool>>,
    pub address: Option<Spanned<OneOrMany>>,
    pub via: Option<Spanned<String>>,
    pub routes: Option<Spanned<OneOrMany>>,
    pub listen_port: Option<Spanned<i64>>,
    pub ssh: Option<Spanned<RawSsh>>,
    // Per-host interface settings over the network's (see `settings.rs`).
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
}

/// The `hosts:` mapping in file order. A host written with no body (`laptop:`) is a NAT-ed host with
/// every default, hence the `Option`.
#[derive(Debug, Default)]
pub struct RawHosts(pub Vec<(Spanned<String>, Option<Spanned<RawHost>>)>);

impl<'de> Deserialize<'de> for RawHosts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HostsVisitor;
        impl<'de> Visitor<'de> for HostsVisitor {
            type Value = RawHosts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of host names to host settings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawHosts, E> {
                Ok(RawHosts::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHosts, A::Error> {
                let mut hosts = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    hosts.push(entry);
                }
                Ok(RawHosts(hosts))
            }
        }
        deserializer.deserialize_map(HostsVisitor)
    }
}

/// A value written either as one scalar or as a list: `address: 100.64.0.9` and
/// `address: [100.64.0.9, fd00::9]` both work. List items keep their own location; a lone scalar
/// has `Location::UNKNOWN` and validation falls back to the location of the whole value.
#[derive(Debug, Default, Clone)]
pub struct OneOrMany(pub Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;
        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an address or a list of addresses")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
                let unknown = serde_saphyr::Location::UNKNOWN;
                Ok(OneOrMany(vec![Spanned::new(
                    value.to_owned(),
                    unknown,
                    unknown,
                )]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OneOrMany, E> {
                Ok(OneOrMany(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

/// A scalar kept as text whatever YAML made of it: `table: off` (a YAML 1.1 boolean), `table: 100`
/// and `fwmark: 0xca6c` all arrive here, and validation decides what the text means.
#[derive(Debug, Default, Clone)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a single value")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar, E> {
                Ok(Scalar(value.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar, E> {
                Ok(Scalar(value.to_string()))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar, E> {
                Ok(Scalar(if value { "on" } else { "off" }.to_owned()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// `allowed_ips: { relay1: [198.18.60.0/24] }`: extra prefixes per peer name, in file order.
#[derive(Debug, Default)]
pub struct PeerPrefixes(pub Vec<(Spanned<String>, Spanned<OneOrMany>)>);

impl<'de> Deserialize<'de> for PeerPrefixes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeersVisitor;
        impl<'de> Visitor<'de> for PeersVisitor {
            type Value = PeerPrefixes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of peer names to prefixes")
            }
            fn visit_unit<E: de::Error>(self) -> Result<PeerPrefixes, E> {
                Ok(PeerPrefixes::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PeerPrefixes, A::Error> {
                let mut peers = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    peers.push(entry);
                }
                Ok(PeerPrefixes(peers))
            }
        }
        deserializer.deserialize_map(PeersVisitor)
    }
}

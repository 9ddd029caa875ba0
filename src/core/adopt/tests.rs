//! adopt's decisions on hand-made reads (reading hosts is tested in `engine::adopt::read`).

use super::*;
use crate::core::keys::PrivateKey;
use std::path::Path;

const YAML: &str = "network: { addresses: [100.64.0.0/24], preshared_keys: true }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  web1: { endpoint: 198.51.100.2 }\n  home: { via: relay1 }\n  office: { via: relay1, address: 100.64.0.40 }\n";

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_bytes([n; 32])
}

fn psk(n: u8) -> PresharedKey {
    PresharedKey::from_base64(&PrivateKey::from_bytes([n; 32]).expose_base64()).unwrap()
}

fn planned(yaml: &str) -> crate::core::render::Deployment {
    let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
    crate::core::pipeline::plan_loaded(inventory, &Default::default()).unwrap()
}

/// Each thing `host` could not keep, one line each: what | why | fix.
fn lost_of(host: &HostAdoption) -> String {
    host.lost
        .iter()
        .map(|l| {
            format!(
                "{} | {} | {}",
                l.what,
                l.why,
                l.fix.clone().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What adopt reads from a host whose config holds `own` key, `address`, `port` and `peers`
/// (each with its preshared key and AllowedIPs).
fn read(
    own: &PrivateKey,
    address: &str,
    port: Option<u16>,
    peers: &[(&PrivateKey, Option<&PresharedKey>, &str)],
) -> HostRead {
    HostRead {
        found: true,
        key: Some(OwnKey::Private(own.clone())),
        key_source: "the config",
        addresses: vec![address.parse().unwrap()],
        listen_port: port,
        peers: peers
            .iter()
            .map(|(peer, psk, ips)| ReadPeer {
                public_key: peer.public_key(),
                preshared_key: psk.cloned(),
                allowed_ips: vec![ips.parse().unwrap()],
                endpoint: None,
            })
            .collect(),
        ..HostRead::default()
    }
}

#[test]
fn keeps_keys_addresses_and_preshared_keys_and_says_what_it_cannot_keep() {
    let deployment = planned(YAML);
    let inventory = &deployment.inventory;
    let (relay, web, home, office, stranger) = (key(1), key(2), key(3), key(4), key(9));
    let (rh, rw, wh) = (psk(11), psk(12), psk(13));
    let reads = [
        // relay1: its port, an address the allocator would not pick, an unknown peer.
        read(
            &relay,
            "100.64.0.50/24",
            Some(51820),
            &[
                (&home, Some(&rh), "100.64.0.60/32"),
                (&web, Some(&rw), "100.64.0.51/32"),
                (&stranger, None, "100.64.0.99/32"),
            ],
        ),
        // web1: another port, and a different preshared key with home than home has.
        read(
            &web,
            "100.64.0.51/24",
            Some(51999),
            &[
                (&relay, Some(&rw), "100.64.0.50/32"),
                (&home, Some(&psk(99)), "100.64.0.60/32"),
            ],
        ),
        // home: an address outside the overlay; lists office directly.
        read(
            &home,
            "100.65.0.60/24",
            None,
            &[
                (&relay, Some(&rh), "100.64.0.0/24"),
                (&web, Some(&wh), "100.64.0.51/32"),
                (&office, None, "100.64.0.61/32"),
            ],
        ),
        // office: pinned elsewhere; claims relay1's address too.
        read(
            &office,
            "100.64.0.50/24",
            None,
            &[(&relay, None, "100.64.0.0/24")],
        ),
    ];
    let reads: Vec<(HostId, HostRead)> = reads.into_iter().enumerate().collect();
    let adoption = decide(inventory, &deployment.topology, |_| None, &reads);
    let by = |name: &str| adoption.hosts.iter().find(|h| h.name == name).unwrap();
    let lost = |name: &str| lost_of(by(name));
    assert_eq!(by("relay1").key, Some(OwnKey::Private(relay.clone())));
    assert_eq!(
        by("relay1").addresses,
        ["100.64.0.50".parse::<IpAddr>().unwrap()]
    );
    assert!(by("relay1").lost.is_empty(), "{}", lost("relay1"));
    assert_eq!(by("relay1").unknown_peers.len(), 1);
    assert!(by("relay1").unknown_peers[0].contains(&stranger.public_key().to_base64()));
    assert!(
        lost("web1").contains("listen port 51999")
            && lost("web1").contains("add `listen_port: 51999` under `web1:`"),
        "{}",
        lost("web1")
    );
    assert!(
        lost("home").contains("outside the overlay"),
        "{}",
        lost("home")
    );
    assert!(
        by("home")
            .notes
            .iter()
            .any(|n| n.contains("lists `office` directly"))
    );
    assert!(
        lost("office").contains("pins `address: 100.64.0.40`")
            && lost("office").contains("set `address: 100.64.0.50` under `office:`"),
        "{}",
        lost("office")
    );
    // Preshared keys: relay1/home and relay1/web1 agree and are kept; web1/home disagree.
    let kept: Vec<(&str, &str)> = adoption
        .preshared
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(kept, [("relay1", "web1"), ("relay1", "home")]);
    assert!(
        lost("web1").contains("different preshared keys"),
        "{}",
        lost("web1")
    );

    // What the state then remembers plans those addresses again; one the allocator gave to
    // another host would be lost after all.
    let remembered = adoption
        .hosts
        .iter()
        .map(|host| (host.name.clone(), host.addresses.clone()))
        .collect();
    let replanned = crate::core::pipeline::plan_loaded(inventory.clone(), &remembered).unwrap();
    assert_eq!(
        replanned.addresses[0],
        ["100.64.0.50".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(
        replanned.addresses[3],
        ["100.64.0.40".parse::<IpAddr>().unwrap()]
    );
    let mut confirmed = adoption.clone();
    confirmed.confirm_addresses(inventory, &replanned.addresses);
    assert_eq!(confirmed.hosts[0].lost, by("relay1").lost);
    let mut elsewhere = replanned.addresses.clone();
    elsewhere[0] = vec!["100.64.0.1".parse().unwrap()];
    confirmed.confirm_addresses(inventory, &elsewhere);
    assert_eq!(
        lost_of(&confirmed.hosts[0]),
        "address 100.64.0.50 | the allocator gives it to another host | "
    );

    // No secret anywhere in what is debugged.
    let text = format!("{adoption:?}{reads:?}");
    for secret in [&relay, &web, &home, &office] {
        assert!(!text.contains(&secret.expose_base64()), "{text}");
    }
    for secret in [&rh, &rw, &wh] {
        assert!(!text.contains(&secret.expose_base64()), "{text}");
    }
    // Only relay1 read (`--hosts relay1`): its peers home and web1 cannot be matched yet.
    let partial = decide(inventory, &deployment.topology, |_| None, &reads[..1]);
    assert_eq!(partial.hosts[0].unknown_peers.len(), 3);
    // The state knows web1's and home's keys from before: only the stranger stays unknown.
    let known = |name: &str| match name {
        "web1" => Some(web.public_key()),
        "home" => Some(home.public_key()),
        _ => None,
    };
    let partial = decide(inventory, &deployment.topology, known, &reads[..1]);
    assert_eq!(partial.hosts[0].unknown_peers.len(), 1);
    assert!(partial.hosts[0].unknown_peers[0].contains(&stranger.public_key().to_base64()));
}

/// MTU, DNS, Table, FwMark and hooks the inventory renders too are kept; the others are reported
/// with the inventory line that keeps them. A forwarding host's own rules are recognised.
#[test]
fn interface_settings_are_kept_or_reported_with_their_inventory_line() {
    let deployment = planned(
        "network: { addresses: [100.64.0.0/24], mtu: 1380 }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true, post_up: [logger up] }\n  home: { via: relay1 }\n",
    );
    let inventory = &deployment.inventory;
    let relay = inventory.host_id("relay1").unwrap();
    let home = inventory.host_id("home").unwrap();
    let forwarding = crate::core::forwarding::hooks(inventory, &inventory.hosts[relay]).0;
    let mut relay_read = read(&key(1), "100.64.0.1/24", Some(51820), &[]);
    relay_read.settings = ReadSettings {
        mtu: Some(1380),
        table: Some("auto".into()),
        fwmark: Some("0x10".into()),
        hooks: vec![
            ("PostUp".into(), "logger up".into()),
            ("PostUp".into(), forwarding[0].clone()),
            (
                "PostUp".into(),
                "iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE".into(),
            ),
        ],
        ..ReadSettings::default()
    };
    let mut home_read = read(&key(2), "100.64.0.2/24", None, &[]);
    home_read.settings = ReadSettings {
        mtu: Some(1280),
        dns: vec!["198.18.0.53".into()],
        hooks: vec![(
            "PostUp".into(),
            "wg set %i private-key /etc/wireguard/home.key".into(),
        )],
        ..ReadSettings::default()
    };
    let adoption = super::decide(
        inventory,
        &deployment.topology,
        |_| None,
        &[(relay, relay_read), (home, home_read)],
    );
    let relay = &adoption.hosts[0];
    for kept in ["MTU 1380", "Table auto", "PostUp = logger up"] {
        assert!(
            relay.kept.iter().any(|k| k == kept),
            "{kept}: {:?}",
            relay.kept
        );
    }
    assert!(relay.kept.contains(&format!("PostUp = {}", forwarding[0])));
    assert_eq!(
        lost_of(relay),
        "FwMark = 0x10 | the inventory sets no FwMark | to keep it, set `fwmark: 0x10` under `relay1:` in the inventory\n\
         PostUp = iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE | the inventory has no such `post_up` (wgdeploy renders its own forwarding hooks for `relay1`, which forwards: this one may be redundant) | to keep it, add it to `post_up:` under `relay1:` in the inventory"
    );
    assert_eq!(
        lost_of(&adoption.hosts[1]),
        "MTU 1280 | the inventory gives MTU 1380 | to keep it, set `mtu: 1280` under `home:` in the inventory\n\
         DNS = 198.18.0.53 | the inventory sets no DNS | to keep it, set `dns: [198.18.0.53]` under `home:` in the inventory\n\
         PostUp = wg set %i private-key /etc/wireguard/home.key | the key it sets is kept, and wgdeploy writes it into the config itself | "
    );
}

//! Every kind of bad inventory: a clear error naming file, line and column, the host and the fix;
//! exit 1; no panic; nothing written.

mod common;

use common::{stderr, wgdeploy};

struct Case {
    file: &'static str,
    /// `line:column` the error must point at, or "" when it concerns the whole file.
    at: &'static str,
    host: Option<&'static str>,
    message: &'static str,
    help: &'static str,
}

const fn case(
    file: &'static str,
    at: &'static str,
    host: Option<&'static str>,
    message: &'static str,
    help: &'static str,
) -> Case {
    Case {
        file,
        at,
        host,
        message,
        help,
    }
}

const CASES: &[Case] = &[
    case(
        "malformed-yaml",
        "3:6",
        None,
        "illegal placement of ':' indicator",
        "unclosed `[`",
    ),
    case(
        "unknown-key",
        "5:5",
        Some("relay1"),
        "unknown key `endpiont` in host `relay1`; the keys there are endpoint, relay,",
        "did you mean `endpoint`?",
    ),
    case(
        "wrong-type",
        "3:9",
        None,
        "`network.port` must be a whole number, but YAML read the text `fifty`",
        "write a whole number",
    ),
    case(
        "wrong-type-bool",
        "6:12",
        Some("relay1"),
        "`relay` must be `true` or `false`, but YAML read a list (`[yes]`)",
        "write `true` or `false`",
    ),
    case(
        "duplicate-host",
        "6:3",
        Some("laptop"),
        "duplicate key `laptop`",
        "only once",
    ),
    case(
        "duplicate-pin",
        "6:21",
        Some("phone"),
        "`laptop` and `phone` are both pinned to `100.64.0.10`",
        "its own address",
    ),
    case(
        "address-outside-overlay",
        "6:14",
        Some("laptop"),
        "`100.64.1.10` is outside the overlay (100.64.0.0/24)",
        "inside `network.addresses`",
    ),
    case(
        "address-network",
        "4:59",
        Some("relay1"),
        "is the network address of `100.64.0.0/24`",
        "first one is reserved",
    ),
    case(
        "address-broadcast",
        "5:22",
        Some("laptop"),
        "is the broadcast address of `100.64.0.0/24`",
        "last one is reserved",
    ),
    case(
        "overlay-exhausted",
        "2:14",
        Some("phone"),
        "`100.64.0.0/30` is exhausted: it has 2 usable addresses and the inventory has 3 hosts",
        "`100.64.0.0/28`",
    ),
    case(
        "invalid-cidr",
        "2:15",
        None,
        "`100.64.0.0/33` is not a valid CIDR range",
        "ADDRESS/PREFIX",
    ),
    case(
        "cidr-host-bits",
        "6:14",
        Some("office"),
        "route `198.18.50.1/24` has host bits set",
        "`198.18.50.0/24`",
    ),
    case(
        "invalid-endpoint",
        "4:23",
        Some("relay1"),
        "endpoint `198.51.100.300` is not a valid IPv4 address",
        "omit `endpoint` for a host behind NAT",
    ),
    case(
        "endpoint-ipv6-port-unbracketed",
        "4:23",
        Some("relay1"),
        "needs brackets around the IPv6 address when a port follows: write `[2001:db8::1]:51820`",
        "a port after an IPv6 address needs brackets",
    ),
    case(
        "endpoint-ipv6-ambiguous",
        "4:23",
        Some("relay1"),
        "is ambiguous: it is the IPv6 address 2001:db8::1:4000, or 2001:db8::1 with port 4000; write `[2001:db8::1]:4000` for the port",
        "a port after an IPv6 address needs brackets",
    ),
    case(
        "invalid-port",
        "4:23",
        Some("relay1"),
        "has a port outside 1-65535",
        "ADDRESS:PORT",
    ),
    case(
        "invalid-network-port",
        "3:9",
        None,
        "`network.port` is 0, outside 1-65535",
        "from 1 to 65535",
    ),
    case(
        "relay-without-endpoint",
        "5:12",
        Some("relay1"),
        "`relay1` is a relay but has no `endpoint`",
        "add `endpoint:",
    ),
    case(
        "via-missing-host",
        "6:10",
        Some("laptop"),
        "`via` names `rely1`, which is not a host",
        "did you mean `relay1`?",
    ),
    case(
        "via-not-relay",
        "7:10",
        Some("laptop"),
        "`via` names `web`, which is not a relay",
        "set `relay: true` on `web`",
    ),
    case(
        "via-on-public-host",
        "5:39",
        Some("web"),
        "has an endpoint, so it is not behind NAT",
        "remove `via`",
    ),
    case(
        "nat-without-relay",
        "6:3",
        Some("laptop, phone"),
        "2 hosts are behind NAT (laptop, phone) and there is no relay",
        "`relay: true`",
    ),
    case(
        "route-overlaps-overlay",
        "6:14",
        Some("office"),
        "route `100.64.0.0/16` overlaps the overlay range `100.64.0.0/24`",
        "subnets behind a host",
    ),
    case(
        "routes-overlap",
        "8:14",
        Some("office-b"),
        "route `198.18.50.0/24` of `office-b` overlaps `office-a`'s route `198.18.0.0/16`",
        "one owner",
    ),
    case(
        "interface-too-long",
        "2:14",
        None,
        "`wireguard-office-main` must be 1 to 15 characters",
        "`wg0`",
    ),
    case(
        "interface-odd-chars",
        "2:14",
        None,
        "interface name `wg0;reboot` may only contain",
        "`wg0`",
    ),
    case(
        "interface-leading-dash",
        "2:14",
        None,
        "interface name `-wg0` must not start with `-`",
        "`wg0`",
    ),
    case(
        "host-shell-metachar",
        "5:3",
        Some("web$(reboot)"),
        "host name `web$(reboot)` may only contain",
        "rename the host",
    ),
    case(
        "ssh-host-metachar",
        "7:18",
        Some("relay1"),
        "`ssh.host` `198.18.0.1; rm -rf /` is neither",
        "address or name only",
    ),
    case(
        "ssh-user-metachar",
        "4:16",
        Some("relay1"),
        "`ssh.user` `root`id`` is not a valid user name",
        "letters, digits",
    ),
    case(
        "empty",
        "",
        None,
        "the inventory is empty",
        "examples/nat-relay",
    ),
    case(
        "no-hosts",
        "3:1",
        None,
        "the inventory has no hosts",
        "`hosts:`",
    ),
    case(
        "missing-addresses",
        "2:3",
        None,
        "`network.addresses` is missing",
        "addresses: [100.64.0.0/24]",
    ),
    case(
        "shared-endpoint",
        "5:20",
        Some("web"),
        "`relay1` and `web` share the endpoint `198.51.100.1:51820`",
        "own address or port",
    ),
    case(
        "keepalive-zero-with-nat",
        "3:14",
        None,
        "`network.keepalive` is 0 but hosts are behind NAT (laptop)",
        "keepalive of 25",
    ),
    case(
        "jump-missing",
        "6:36",
        Some("laptop"),
        "`ssh.jump` names `bastion`",
        "laptop, relay1",
    ),
    case(
        "endpoint-ipv6-unquoted",
        "5:28",
        Some("relay1"),
        "the value of `endpoint` starts with `[`, so YAML reads it as a list, and `[2001:db8::1]:51820` is not one",
        "quote the value: `endpoint: \"[2001:db8::1]:51820\"`",
    ),
    case(
        "endpoint-ipv6-unquoted-flow",
        "5:36",
        Some("relay1"),
        "the value of `endpoint` starts with `[`, so YAML reads it as a list",
        "quote the value: `endpoint: \"[2001:db8::1]:51820\"`",
    ),
    // Endpoints per address family (`core::underlay`).
    case(
        "no-relay-of-its-family",
        "7:3",
        Some("laptop"),
        "`laptop` has only IPv4 (the default for a host behind NAT) and can dial none of the relays (relay1)",
        "`underlay: [ipv4, ipv6]`",
    ),
    case(
        "endpoint-two-of-a-family",
        "5:30",
        Some("relay1"),
        "`relay1` has two IPv4 endpoints, `198.51.100.1:51820` and `198.51.100.9:4000`",
        "one IPv4 and one IPv6 endpoint at most",
    ),
    case(
        "endpoint-empty-list",
        "4:23",
        Some("relay1"),
        "`endpoint` of `relay1` is an empty list",
        "remove `endpoint` for a host behind NAT",
    ),
    case(
        "underlay-unknown",
        "5:30",
        Some("laptop"),
        "`underlay` entry `ipx` is not an address family",
        "write `ipv4` or `ipv6`",
    ),
    case(
        "endpoint-outside-underlay",
        "5:30",
        Some("relay1"),
        "endpoint `[2001:db8::1]:51820` of `relay1` is IPv6, but its `underlay` has only IPv4",
        "add `ipv6` to `underlay`",
    ),
    case(
        "no-common-family",
        "5:3",
        Some("web6, relay1"),
        "`web6` must dial `relay1`, but they have no address family in common: `web6` has only IPv6",
        "add an endpoint of IPv6 to `relay1` (one per family: `endpoint: [198.51.100.1:51820, \"[IPV6_ADDRESS]:PORT\"]`)",
    ),
    case(
        "via-relay-of-other-family",
        "6:18",
        Some("laptop, relay6"),
        "`laptop` must dial `relay6`, but they have no address family in common",
        "or point `via` at a relay `laptop` can dial (relay4)",
    ),
    case(
        "endpoint-dns-name-no-family",
        "5:16",
        Some("relay1"),
        "the DNS-name endpoint `vpn.example.com:51820` of `relay1` stands for no address family",
        "declare `underlay: [ipv4, ipv6]`",
    ),
    case(
        "endpoint-url",
        "4:23",
        Some("relay1"),
        "endpoint `https://vpn.example.com` is a URL (`https://…`)",
        "`[IPv6]:PORT`",
    ),
    case(
        "host-name-null",
        "5:3",
        None,
        "a host name is missing: YAML reads `~`, `null` or nothing before `:` as no value",
        "write the host name before `:`",
    ),
    case(
        "host-name-non-ascii",
        "5:3",
        Some("laptop-jürgen"),
        "host name `laptop-jürgen` may only contain ASCII letters",
        "rename the host",
    ),
    case(
        "unknown-key-not-yet",
        "3:3",
        None,
        "unknown key `save_config` in `network`: wgdeploy has no `save_config` setting",
        "wgdeploy never writes `SaveConfig = true`",
    ),
    case(
        "unknown-key-host-interface",
        "6:5",
        Some("relay1"),
        "unknown key `interface` in host `relay1`: wgdeploy has no per-host `interface` setting yet",
        "`network.interface` names the interface on every host",
    ),
    case(
        "two-ranges-one-family",
        "2:30",
        None,
        "second range of the same family",
        "one overlay range per address family",
    ),
    // Per-host interface settings (settings.rs).
    case(
        "table-unknown",
        "6:12",
        Some("laptop"),
        "`table` `mian` is not a known table",
        "`auto`",
    ),
    case(
        "mtu-out-of-range",
        "6:10",
        Some("laptop"),
        "`mtu` is 1200, outside 1280-9000 (IPv6 needs at least 1280",
        "1420",
    ),
    case(
        "hook-newline",
        "9:9",
        Some("relay1"),
        "`post_up` command `ip rule add table 100\\nip route add default dev %i table 100` has a newline",
        "its own list item",
    ),
    case(
        "fwmark-bad",
        "3:11",
        None,
        "`network.fwmark` `0xfffffffff` is not a mark",
        "`0xca6c`",
    ),
    case(
        "dns-bad",
        "3:9",
        None,
        "`network.dns` entry `1.1.1.1, 9.9.9.9` is neither an IP address nor a search domain",
        "search domains",
    ),
    case(
        "keepalive-on-public",
        "4:61",
        Some("relay1"),
        "`keepalive` is for hosts behind NAT",
        "remove `keepalive`",
    ),
    case(
        "allowed-ips-not-a-peer",
        "7:20",
        Some("laptop"),
        "`allowed_ips` names `home`, which is not a peer of `laptop`",
        "`laptop`'s peers: relay1",
    ),
    case(
        "allowed-ips-bad-prefix",
        "6:29",
        Some("laptop"),
        "`allowed_ips` prefix `198.18.60.1/24` has host bits set",
        "`198.18.60.0/24`",
    ),
    // Devices (`manage: false`).
    case(
        "device-public-key-not-a-key",
        "7:17",
        Some("phone"),
        "`public_key` of `phone` is not a WireGuard public key",
        "`wg pubkey` on the device",
    ),
    case(
        "device-with-ssh",
        "7:10",
        Some("phone"),
        "`phone` has `manage: false`, so wgdeploy never logs into it, but it has `ssh` settings",
        "remove the `ssh` block",
    ),
    case(
        "device-via-not-relay",
        "6:32",
        Some("phone"),
        "`via` names `web`, which is not a relay",
        "point `via` at a relay (relay1)",
    ),
    case(
        "device-relay",
        "4:44",
        Some("router"),
        "`router` is a relay with `manage: false`",
        "make a host wgdeploy manages the relay",
    ),
    case(
        "public-key-on-managed-host",
        "6:17",
        Some("laptop"),
        "`laptop` has a `public_key` but is managed over SSH",
        "add `manage: false`",
    ),
    case(
        "jump-through-device",
        "6:26",
        Some("office"),
        "`ssh.jump` of `office` names `router`, a device wgdeploy never logs into",
        "name a host wgdeploy manages as the jump host",
    ),
    case(
        "exit-behind-nat",
        "6:11",
        Some("home"),
        "`home` has `exit: true` but no `endpoint`: an exit must be reachable",
        "give `home` its public `endpoint`, or remove `exit: true`",
    ),
    case(
        "exit-on-device",
        "8:11",
        Some("router"),
        "`router` has `exit: true` and `manage: false`",
        "make a host wgdeploy manages the exit",
    ),
    case(
        "use-exit-unknown",
        "6:15",
        Some("laptop"),
        "`use_exit` names `gatway`, which is not a host in this inventory",
        "did you mean `gateway`?",
    ),
    case(
        "use-exit-not-exit",
        "7:15",
        Some("laptop"),
        "`use_exit` names `web1`, which is not an exit",
        "add `exit: true` to `web1`",
    ),
    case(
        "use-exit-itself",
        "7:15",
        Some("web1"),
        "`use_exit` of `web1` names `web1` itself",
        "remove `use_exit`",
    ),
    case(
        "exit-uses-exit",
        "8:15",
        Some("web2"),
        "`web2` is an exit (`exit: true`) and also uses the exit `web1`",
        "remove `use_exit` from `web2`",
    ),
    case(
        "use-exit-other-relay",
        "8:15",
        Some("home"),
        "`home` is behind NAT and homed on `relay1`, but its exit `relay2` is another relay",
        "write `via: relay2` on `home` to home it on its exit",
    ),
    case(
        "use-exit-other-family",
        "7:15",
        Some("home"),
        "`home` uses `web6` as its exit, but they have no address family in common",
        "give `web6` an endpoint of a family `home` has",
    ),
    case(
        "route-default",
        "6:14",
        Some("gateway"),
        "route `0.0.0.0/0` is the whole internet, not a subnet behind `gateway`",
        "write `exit: true` on `gateway` (it needs an `endpoint`) and `use_exit: gateway` on each host",
    ),
    case(
        "allowed-ips-default-with-exit",
        "7:27",
        Some("laptop"),
        "`allowed_ips` prefix `0.0.0.0/0` of `laptop` is already sent to its exit `web1` (`use_exit`)",
        "remove it from `allowed_ips`, or remove `use_exit`",
    ),
    case(
        "keys-unknown",
        "3:9",
        None,
        "`network.keys` is `remote`, which is not a place keys are made",
        "write `keys: local` (wgdeploy makes every key and keeps it in the state file) or `keys: on-host`",
    ),
    case(
        "keys-on-host-with-preshared",
        "4:19",
        None,
        "`preshared_keys: true` cannot go with `keys: on-host`",
        "remove `preshared_keys: true`, or use `keys: local` to keep preshared keys",
    ),
];

#[test]
fn every_invalid_inventory_has_a_case() {
    let mut files: Vec<String> = std::fs::read_dir(common::repo("inventories/invalid"))
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".yaml")
                .to_owned()
        })
        .collect();
    files.sort();
    let mut cases: Vec<&str> = CASES.iter().map(|case| case.file).collect();
    cases.sort();
    assert_eq!(files, cases);
}

#[test]
fn bad_inventories_fail_with_located_actionable_errors() {
    let dir = tempfile::tempdir().unwrap();
    for case in CASES {
        let path = format!("inventories/invalid/{}.yaml", case.file);
        let out = dir.path().join(case.file);
        let state = dir.path().join(format!("{}.state.json", case.file));
        for args in [
            vec![
                "plan",
                path.as_str(),
                "--offline",
                "--state",
                state.to_str().unwrap(),
            ],
            vec![
                "render",
                path.as_str(),
                "--out",
                out.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
            ],
        ] {
            let output = wgdeploy(&args);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{}: {err}", case.file);
            assert!(output.stdout.is_empty(), "{}", case.file);
            assert!(!err.contains("panicked"), "{}: {err}", case.file);
            assert!(err.starts_with("error: "), "{}: {err}", case.file);
            assert!(
                err.contains(case.message),
                "{}: wanted message {:?} in\n{err}",
                case.file,
                case.message
            );
            let location = if case.at.is_empty() {
                format!("--> {path}\n")
            } else {
                format!("--> {path}:{}\n", case.at)
            };
            assert!(
                err.contains(&location),
                "{}: wanted {location:?} in\n{err}",
                case.file
            );
            match case.host {
                Some(host) => assert!(
                    err.contains(&format!("= host: {host}\n")),
                    "{}: wanted host {host} in\n{err}",
                    case.file
                ),
                None => assert!(!err.contains("= host:"), "{}: {err}", case.file),
            }
            assert!(
                err.contains("= help: ") && err.contains(case.help),
                "{}: wanted help {:?} in\n{err}",
                case.file,
                case.help
            );
            assert!(
                !out.exists() && !state.exists(),
                "{}: nothing may be written",
                case.file
            );
        }
    }
}

#[test]
fn a_bad_public_key_is_never_shown() {
    let output = wgdeploy(&[
        "plan",
        "inventories/invalid/device-public-key-not-a-key.yaml",
        "--offline",
    ]);
    let err = stderr(&output);
    assert!(
        !err.contains("xyzzy") && err.contains("(not shown)"),
        "{err}"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.yaml");
    std::fs::write(
        &path,
        "network:\n  addresses: [100.64.0.0/24]\n  port: 0\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true, listen_port: 99999 }\n  a: { address: 1.2.3.4 }\n",
    )
    .unwrap();
    let output = wgdeploy(&["plan", path.to_str().unwrap(), "--offline"]);
    let err = stderr(&output);
    assert!(
        err.contains("`network.port` is 0")
            && err.contains("`listen_port` is 99999")
            && err.contains("`1.2.3.4` is outside"),
        "{err}"
    );
    assert!(err.ends_with("3 errors\n"), "{err}");
}

#[test]
fn a_missing_file_is_named() {
    let output = wgdeploy(&["plan", "inventories/does-not-exist.yaml", "--offline"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("cannot read inventory `inventories/does-not-exist.yaml`")
            && err.contains("help:"),
        "{err}"
    );
}

#[test]
fn an_unreadable_file_is_named() {
    // A directory cannot be read as a file, even by root.
    let output = wgdeploy(&["plan", "inventories", "--offline"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot read inventory `inventories`"),
        "{}",
        stderr(&output)
    );
}

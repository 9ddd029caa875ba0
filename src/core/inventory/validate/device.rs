//! Devices wgdeploy does not log into (`manage: false`): phones, laptops, routers whose config is
//! exported and installed by hand. Their own rules: a device has no `ssh` settings (they would
//! never be used), cannot be a relay (forwarding is set up over SSH), may carry its own public key,
//! and no managed host can be reached through one (`ssh.jump`).

use super::super::raw::RawHost;
use super::Checker;
use crate::core::error::At;
use crate::core::keys::PublicKey;
use crate::core::model::{Device, Host, HostId, HostName};

/// The device `raw` declares, or `None` for a host wgdeploy manages over SSH.
pub(super) fn check_device(
    checker: &mut Checker,
    host: &HostName,
    raw: &RawHost,
) -> Option<Device> {
    let label = Some(host.as_str());
    let managed = raw.manage.as_ref().is_none_or(|manage| manage.value);
    if managed {
        if let Some(key) = &raw.public_key {
            let at = checker.at_of(key);
            checker.report(
                at,
                label,
                format!("`{host}` has a `public_key` but is managed over SSH: `public_key` is for devices wgdeploy does not log into"),
                Some(format!("add `manage: false` if wgdeploy must never log into `{host}`; otherwise remove `public_key`: wgdeploy generates and installs the key of every host it manages")),
            );
        }
        return None;
    }
    if let Some(ssh) = &raw.ssh {
        let at = checker.at_of(ssh);
        checker.report(
            at,
            label,
            format!("`{host}` has `manage: false`, so wgdeploy never logs into it, but it has `ssh` settings"),
            Some(format!("remove the `ssh` block, or remove `manage: false` to have wgdeploy manage `{host}` over SSH")),
        );
    }
    if let Some(relay) = raw.relay.as_ref().filter(|relay| relay.value) {
        let at = checker.at_of(relay);
        checker.report(
            at,
            label,
            format!("`{host}` is a relay with `manage: false`: a relay's forwarding is set up over SSH, and wgdeploy never logs into a device"),
            Some("make a host wgdeploy manages the relay, or remove `manage: false`".into()),
        );
    }
    let public_key = raw.public_key.as_ref().and_then(|key| {
        // The value is never quoted, not even in the snippet: a key pasted into the wrong field
        // may be a (mistyped) private key.
        PublicKey::from_base64(&key.value).or_else(|| {
            let at = checker.at_of(key).map(|mut at| {
                at.text = at.text.map(|line| match line.find(key.value.as_str()) {
                    Some(start) if !key.value.is_empty() => {
                        format!("{}(not shown){}", &line[..start], &line[start + key.value.len()..])
                    }
                    _ => line,
                });
                at
            });
            checker.report(
                at,
                label,
                format!("`public_key` of `{host}` is not a WireGuard public key (base64 of 32 bytes: 44 characters ending in `=`)"),
                Some("paste the output of `wg pubkey` on the device (the WireGuard apps show it as the tunnel's public key), or remove `public_key` to have wgdeploy generate the device's key".into()),
            );
            None
        })
    });
    Some(Device { public_key })
}

/// No managed host may be reached through a device: wgdeploy has no SSH access there.
/// `jump_at` locates a host's `ssh.jump` setting.
pub(super) fn check_jumps(
    checker: &mut Checker,
    hosts: &[Host],
    jump_at: impl Fn(HostId) -> Option<At>,
) {
    for (id, host) in hosts.iter().enumerate() {
        let Some(jump) = host.ssh.jump.filter(|_| !host.is_device()) else {
            continue;
        };
        if hosts[jump].is_device() {
            checker.report(
                jump_at(id),
                Some(host.name.as_str()),
                format!(
                    "`ssh.jump` of `{}` names `{}`, a device wgdeploy never logs into (`manage: false`)",
                    host.name, hosts[jump].name
                ),
                Some("name a host wgdeploy manages as the jump host, or remove `jump`".into()),
            );
        }
    }
}

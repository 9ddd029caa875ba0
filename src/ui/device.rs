//! How plans, apply and status list devices (`manage: false`): never contacted, each with what
//! changed in its config since it was last exported, and `wgdeploy export`'s own notes.

use crate::core::device::SinceExport;
use crate::core::model::printable_lines;
use crate::engine::devices::DeviceView;
use crate::ui::colour;
use std::path::Path;

const DEVICE: &str = "device (not managed over SSH)";

/// One block per device: its line and, when the config changed since its export, the redacted
/// diff and the command that exports it again.
pub fn plan_text(devices: &[DeviceView], inventory: &Path) -> String {
    let mut text = String::new();
    for device in devices {
        let name = &device.name;
        let export = format!("wgdeploy export {} {name}", inventory.display());
        let (mark, what) = match &device.since {
            SinceExport::Never => ('~', format!("never exported: run `{export}`")),
            SinceExport::Unchanged { at } => ('=', format!("unchanged since exported {at}")),
            SinceExport::Changed { at, diff } if diff.is_empty() => (
                '~',
                format!(
                    "its keys changed since exported {at}: run `{export}` and install it on the device"
                ),
            ),
            SinceExport::Changed { at, .. } => (
                '~',
                format!("changed since exported {at}: run `{export}` and install it on the device"),
            ),
        };
        text.push_str(&format!(
            "{} {name}: {DEVICE}: {what}\n",
            colour::mark(mark)
        ));
        if let SinceExport::Changed { diff, .. } = &device.since {
            for line in diff.lines() {
                text.push_str(&format!(
                    "    {}\n",
                    colour::diff_line(&printable_lines(line))
                ));
            }
        }
    }
    text
}

/// The devices as JSON, for `plan --json`.
pub fn json(devices: &[DeviceView]) -> serde_json::Value {
    let items = devices
        .iter()
        .map(|device| {
            let (state, at, diff) = match &device.since {
                SinceExport::Never => ("never-exported", None, None),
                SinceExport::Unchanged { at } => ("unchanged", Some(at), None),
                SinceExport::Changed { at, diff } => ("changed", Some(at), Some(diff)),
            };
            serde_json::json!({
                "host": device.name,
                "managed": false,
                "own_key": device.own_key,
                "since_export": state,
                "exported_at": at,
                "diff": diff,
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

/// A device in `status`: what the peers that were surveyed saw of it.
pub struct DeviceSeen {
    pub name: String,
    /// The most recent handshake any surveyed peer had with it: (peer, seconds ago).
    pub handshake: Option<(String, u64)>,
}

/// One line per device for `status`.
pub fn status_text(devices: &[DeviceSeen]) -> String {
    devices
        .iter()
        .map(|device| {
            let seen = match &device.handshake {
                Some((peer, age)) => format!(
                    "latest handshake {} ago with {peer}",
                    crate::ui::status::units::format_age(*age)
                ),
                None => "no handshake seen by the peers surveyed".to_owned(),
            };
            format!("{} {}: {DEVICE}: {seen}\n", colour::mark('='), device.name)
        })
        .collect()
}

/// The devices as JSON, for `status --json`: the latest handshake seen, or null.
pub fn status_json(devices: &[DeviceSeen]) -> serde_json::Value {
    let items = devices
        .iter()
        .map(|device| {
            let handshake = device
                .handshake
                .as_ref()
                .map(|(peer, age)| serde_json::json!({ "peer": peer, "seconds_ago": age }));
            serde_json::json!({
                "host": device.name,
                "managed": false,
                "latest_handshake": handshake,
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

/// What `wgdeploy export` says on stderr beside the config (never the config itself).
pub fn export_note(host: &str, own_key: bool, written: Option<&Path>) -> String {
    let mut note = String::new();
    if let Some(path) = written {
        note.push_str(&format!(
            "wrote the config of {host} to {} (mode 0600)\n",
            path.display()
        ));
    }
    if own_key {
        note.push_str(&format!(
            "{host} made its own key pair: put its private key in place of the `PrivateKey` placeholder before use\n"
        ));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(since: SinceExport) -> DeviceView {
        DeviceView {
            name: "phone".into(),
            own_key: false,
            since,
        }
    }

    #[test]
    fn devices_in_json_carry_no_config_when_unchanged_and_the_diff_when_changed() {
        let value = json(&[
            view(SinceExport::Never),
            view(SinceExport::Changed {
                at: "2026-12-01T03:00:00Z".into(),
                diff: "+x\n".into(),
            }),
        ]);
        assert_eq!(value[0]["since_export"], "never-exported");
        assert_eq!(value[0]["diff"], serde_json::Value::Null);
        assert_eq!(value[1]["since_export"], "changed");
        assert_eq!(value[1]["diff"], "+x\n");
        assert_eq!(value[1]["managed"], false);
        let seen = status_json(&[DeviceSeen {
            name: "phone".into(),
            handshake: Some(("relay1".into(), 12)),
        }]);
        assert_eq!(seen[0]["latest_handshake"]["peer"], "relay1");
        assert_eq!(
            status_text(&[DeviceSeen {
                name: "phone".into(),
                handshake: None
            }]),
            "= phone: device (not managed over SSH): no handshake seen by the peers surveyed\n"
        );
    }

    #[test]
    fn devices_say_what_changed_since_their_export() {
        let text = plan_text(
            &[
                view(SinceExport::Never),
                view(SinceExport::Unchanged {
                    at: "2026-12-01T03:00:00Z".into(),
                }),
                view(SinceExport::Changed {
                    at: "2026-12-01T03:00:00Z".into(),
                    diff: "-AllowedIPs = a\n+AllowedIPs = b\n".into(),
                }),
                view(SinceExport::Changed {
                    at: "2026-12-01T03:00:00Z".into(),
                    diff: String::new(),
                }),
            ],
            Path::new("inv.yaml"),
        );
        assert_eq!(
            text,
            "~ phone: device (not managed over SSH): never exported: run `wgdeploy export inv.yaml phone`\n\
             = phone: device (not managed over SSH): unchanged since exported 2026-12-01T03:00:00Z\n\
             ~ phone: device (not managed over SSH): changed since exported 2026-12-01T03:00:00Z: run `wgdeploy export inv.yaml phone` and install it on the device\n\
             \x20   -AllowedIPs = a\n\
             \x20   +AllowedIPs = b\n\
             ~ phone: device (not managed over SSH): its keys changed since exported 2026-12-01T03:00:00Z: run `wgdeploy export inv.yaml phone` and install it on the device\n"
        );
    }
}

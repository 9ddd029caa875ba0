//! Devices wgdeploy does not log into (`manage: false`): their keys, and what changed in their
//! config since it was last exported. Pure: the state's record in, a comparison out.

use crate::core::keys::{KeySource, ON_HOST_KEY_MARKER, PRIVATE_KEY_PLACEHOLDER, PublicKey};
use crate::core::model::Host;

/// A host's public key: the one the inventory declares for a device that made its own key pair,
/// else the one of the private key wgdeploy keeps for it, else the one a host that made its own
/// key reported (`keys: on-host`).
pub fn public_key(host: &Host, keys: &dyn KeySource) -> Option<PublicKey> {
    match host.declared_key() {
        Some(key) => Some(*key),
        None => keys
            .private_key(host.name.as_str())
            .map(|key| key.public_key())
            .or_else(|| keys.public_key(host.name.as_str())),
    }
}

/// What a config's `PrivateKey =` line carries: the key wgdeploy holds, the placeholder for a
/// device whose private key never left it, or the marker a host with its own key fills in
/// (`on_host`).
pub fn private_key_text(host: &Host, keys: &dyn KeySource, on_host: bool) -> String {
    if host.declared_key().is_some() {
        return PRIVATE_KEY_PLACEHOLDER.to_owned();
    }
    if on_host {
        return ON_HOST_KEY_MARKER.to_owned();
    }
    keys.private_key(host.name.as_str())
        .map(|key| key.expose_base64())
        .unwrap_or_default()
}

/// A device's config as `wgdeploy export` last handed it out, kept in the state so plans can say
/// what changed since: the text with every secret redacted, and a fingerprint of the whole text
/// (so a changed key shows too, without the state repeating a secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exported {
    /// When, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub at: String,
    /// `sha256:…` of the exported text, secrets included.
    pub fingerprint: String,
    /// The exported text, secrets redacted.
    pub config: String,
}

impl Exported {
    /// The record of exporting `text` at `at`.
    pub fn of(text: &str, at: String) -> Exported {
        Exported {
            at,
            fingerprint: fingerprint(text),
            config: crate::core::change::redact(text, None),
        }
    }
}

fn fingerprint(text: &str) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let hex: String = hash
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A device's config now, against its last export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinceExport {
    /// Never exported: the device has no config from wgdeploy yet.
    Never,
    /// The device runs what it should (if it installed the export).
    Unchanged { at: String },
    /// The config changed: a redacted unified diff, empty when only a secret changed (the private
    /// key, a preshared key), which redaction cannot show.
    Changed { at: String, diff: String },
}

impl SinceExport {
    /// Whether the device needs its config exported (again).
    pub fn needs_export(&self) -> bool {
        !matches!(self, SinceExport::Unchanged { .. })
    }
}

/// Compares the config `current` (as rendered now) with the last export of `host`.
pub fn since_export(host: &str, current: &str, last: Option<&Exported>) -> SinceExport {
    let Some(last) = last else {
        return SinceExport::Never;
    };
    if fingerprint(current) == last.fingerprint {
        return SinceExport::Unchanged {
            at: last.at.clone(),
        };
    }
    let now = crate::core::change::redact(current, None);
    let diff = if now == last.config {
        String::new()
    } else {
        similar::TextDiff::from_lines(&last.config, &now)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("{host} (exported {})", last.at),
                &format!("{host} (planned)"),
            )
            .to_string()
    };
    SinceExport::Changed {
        at: last.at.clone(),
        diff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[Interface]\nAddress = 100.64.0.2/24\nPrivateKey = SECRET1\n\n[Peer]\n# Name = relay1\nPublicKey = P1\nAllowedIPs = 100.64.0.0/24\n";

    #[test]
    fn an_export_keeps_no_secret_and_tells_what_changed_since() {
        let exported = Exported::of(CONFIG, "2026-12-01T03:00:00Z".into());
        assert!(!format!("{exported:?}").contains("SECRET1"));
        assert_eq!(since_export("phone", CONFIG, None), SinceExport::Never);
        assert_eq!(
            since_export("phone", CONFIG, Some(&exported)),
            SinceExport::Unchanged {
                at: "2026-12-01T03:00:00Z".into()
            }
        );
        let wider = CONFIG.replace("100.64.0.0/24", "100.64.0.0/24, 198.18.7.0/24");
        let SinceExport::Changed { diff, .. } = since_export("phone", &wider, Some(&exported))
        else {
            panic!("a new AllowedIPs is a change");
        };
        assert!(
            diff.contains("-AllowedIPs = 100.64.0.0/24\n")
                && diff.contains("+AllowedIPs = 100.64.0.0/24, 198.18.7.0/24\n"),
            "{diff}"
        );
        // A new key shows as a change with nothing to diff: never the key itself.
        let rekeyed = CONFIG.replace("SECRET1", "SECRET2");
        let since = since_export("phone", &rekeyed, Some(&exported));
        assert_eq!(
            since,
            SinceExport::Changed {
                at: "2026-12-01T03:00:00Z".into(),
                diff: String::new()
            }
        );
        assert!(since.needs_export());
    }

    #[test]
    fn a_device_with_its_own_key_pair_gets_the_placeholder() {
        let inventory = crate::core::inventory::parse(
            std::path::Path::new("i.yaml"),
            "network: { addresses: [100.64.0.0/24] }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  phone: { manage: false, public_key: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw= }\n  tablet: { manage: false }\n",
        )
        .unwrap();
        struct NoKeys;
        impl KeySource for NoKeys {
            fn private_key(&self, _: &str) -> Option<&crate::core::keys::PrivateKey> {
                None
            }
            fn preshared_key(&self, _: &str, _: &str) -> Option<&crate::core::keys::PresharedKey> {
                None
            }
        }
        let [relay, phone, tablet] = &inventory.hosts[..] else {
            panic!("three hosts");
        };
        assert!(!relay.is_device() && phone.is_device() && tablet.is_device());
        assert_eq!(
            public_key(phone, &NoKeys).unwrap().to_base64(),
            "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
        );
        assert_eq!(
            private_key_text(phone, &NoKeys, false),
            PRIVATE_KEY_PLACEHOLDER
        );
        assert!(public_key(tablet, &NoKeys).is_none());
    }
}

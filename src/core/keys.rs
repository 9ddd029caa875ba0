//! WireGuard key material. Secrets redact themselves in Debug and Display: the only way to get a
//! private or preshared key's text is the explicit [`PrivateKey::expose_base64`], used by the
//! renderer and the state file writer and nowhere else.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;
use x25519_dalek::{PublicKey as DalekPublic, StaticSecret};

const REDACTED: &str = "(redacted)";

/// What a device's exported config says in place of a private key wgdeploy never held (the device
/// made its own key pair and the inventory names its `public_key`). Not a key, so `wg` and
/// wg-quick refuse the file loudly ("Key is not the correct length or format") and the WireGuard
/// apps refuse to import it, instead of running a tunnel with a wrong key.
pub const PRIVATE_KEY_PLACEHOLDER: &str = "<paste the device's private key here>";

/// What a config wgdeploy sends to a host with `keys: on-host` says in place of its private key:
/// the host's apply step puts its own key (from `/etc/wireguard/IFACE.key`) on this line as it
/// writes the file, and the survey puts the marker back when it reads the file, so the key never
/// crosses the connection. `remote/scripts/lib.sh` writes the same text (a test holds them
/// together); like the device placeholder it is no key, so a file that kept it fails loudly.
pub const ON_HOST_KEY_MARKER: &str = "<kept on the host>";

/// A public key as messages and reports show it: its first 8 characters and `…`.
pub fn short_key(key: &str) -> String {
    let head: String = key.chars().take(8).collect();
    format!("{head}…")
}

fn decode32(text: &str) -> Option<[u8; 32]> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

/// An x25519 private key (clamped by x25519-dalek when used).
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey([u8; 32]);

impl PrivateKey {
    pub fn generate() -> PrivateKey {
        PrivateKey(StaticSecret::random().to_bytes())
    }

    /// Builds a key from fixed bytes; for tests and reproducible fixtures only.
    pub fn from_bytes(bytes: [u8; 32]) -> PrivateKey {
        PrivateKey(bytes)
    }

    /// Parses `wg genkey` output; the error never repeats the input.
    pub fn from_base64(text: &str) -> Option<PrivateKey> {
        decode32(text).map(PrivateKey)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(DalekPublic::from(&StaticSecret::from(self.0)).to_bytes())
    }

    /// The key as `wg` prints it. Call only where the secret must be written (config, state file).
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey{REDACTED}")
    }
}

impl fmt::Display for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A WireGuard preshared key: 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PresharedKey([u8; 32]);

impl PresharedKey {
    pub fn generate() -> PresharedKey {
        // A preshared key is just 32 random bytes; a fresh x25519 secret is exactly that.
        PresharedKey(StaticSecret::random().to_bytes())
    }

    pub fn from_base64(text: &str) -> Option<PresharedKey> {
        decode32(text).map(PresharedKey)
    }

    pub fn expose_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresharedKey{REDACTED}")
    }
}

impl fmt::Display for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A host's own key as a config or the host itself tells it: the private key (`keys: local`, the
/// state holds it), or only its public half (`keys: on-host`: the private key never leaves the
/// host). Debug never shows a secret (the key types redact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnKey {
    Private(PrivateKey),
    Public(PublicKey),
}

impl OwnKey {
    pub fn public_key(&self) -> PublicKey {
        match self {
            OwnKey::Private(key) => key.public_key(),
            OwnKey::Public(key) => *key,
        }
    }
}

/// A public key: not secret, printed as `wg` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    pub fn from_base64(text: &str) -> Option<PublicKey> {
        decode32(text).map(PublicKey)
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// Where rendering finds each host's private key and each pair's preshared key (the state file,
/// in practice), so the pure core needs no store.
pub trait KeySource: Sync {
    fn private_key(&self, host: &str) -> Option<&PrivateKey>;
    fn preshared_key(&self, a: &str, b: &str) -> Option<&PresharedKey>;
    /// The public key of a host whose private key wgdeploy does not hold (`keys: on-host`).
    fn public_key(&self, _host: &str) -> Option<PublicKey> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let key = PrivateKey::generate();
        let secret = key.expose_base64();
        assert!(!format!("{key:?} {key} {:?}", Some(&key)).contains(&secret));
        let psk = PresharedKey::generate();
        assert!(!format!("{psk:?} {psk}").contains(&psk.expose_base64()));
    }

    #[test]
    fn matches_wg_pubkey() {
        // `echo yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk= | wg pubkey` (RFC 7748 test vector key).
        let key = PrivateKey::from_base64("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=").unwrap();
        assert_eq!(
            key.public_key().to_base64(),
            "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
        );
        assert_eq!(
            key.expose_base64(),
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
        );
    }

    #[test]
    fn rejects_malformed_base64() {
        assert!(PrivateKey::from_base64("not base64").is_none());
        assert!(PrivateKey::from_base64("AAAA").is_none());
    }
}

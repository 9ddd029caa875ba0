//! OpenSSH `known_hosts`: which keys a host is known by, and recording a new host's key.
//!
//! russh ships a parser (`russh::keys::known_hosts`), but it splits fields on single spaces only,
//! gives up on the whole file at the first key it cannot parse, ignores `@revoked`, does not
//! understand wildcards or negations, and its line numbers skip comment lines (so "line N" in a
//! changed-key error would point at the wrong line). This one follows sshd(8)'s format: markers,
//! comma-separated patterns with `*`/`?`/`!`, hashed `|1|salt|hmac` names, comments and blank lines.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{Algorithm, PublicKey};
use sha1::Sha1;

use super::error::known_hosts_name;

/// A line of known_hosts that applies to the host being checked.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// 1-based line number in the file, as editors and `ssh-keygen -R` count.
    pub line: u32,
    pub revoked: bool,
    pub key: PublicKey,
}

/// What known_hosts says about the key a host presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Known,
    /// The host has no entry at all.
    Unknown,
    /// The host has entries, none with this key: `line` is the first of them (one of the same key
    /// type when there is one, as that is the entry the new key would replace).
    Changed {
        line: u32,
    },
    Revoked {
        line: u32,
    },
}

/// The entries of `path` that apply to `host` on `port` (`[host]:port` off port 22). A missing file
/// is an empty one; lines that cannot be parsed, and `@cert-authority` lines (host certificates are
/// not accepted), are skipped as OpenSSH skips them.
pub(crate) fn entries_for(path: &Path, host: &str, port: u16) -> io::Result<Vec<Entry>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let name = known_hosts_name(&host.to_ascii_lowercase(), port);
    Ok(text
        .lines()
        .enumerate()
        .filter_map(|(index, line)| parse_line(index + 1, line, &name))
        .collect())
}

fn parse_line(number: usize, line: &str, name: &str) -> Option<Entry> {
    let mut fields = line.split_ascii_whitespace().peekable();
    let first = *fields.peek()?;
    if first.starts_with('#') {
        return None;
    }
    let revoked = match first {
        "@revoked" => true,
        "@cert-authority" => return None,
        marker if marker.starts_with('@') => return None,
        _ => false,
    };
    if first.starts_with('@') {
        fields.next();
    }
    let patterns = fields.next()?;
    let _key_type = fields.next()?;
    let blob = fields.next()?;
    if !host_matches(name, patterns) {
        return None;
    }
    let key = russh::keys::parse_public_key_base64(blob).ok()?;
    Some(Entry {
        line: u32::try_from(number).unwrap_or(u32::MAX),
        revoked,
        key,
    })
}

/// OpenSSH's `match_hostname`: a negated pattern that matches wins over everything, otherwise any
/// matching positive (plain, wildcard or hashed) pattern matches.
fn host_matches(name: &str, patterns: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard_match(name, &negated.to_ascii_lowercase()) {
                return false;
            }
        } else if let Some(hashed) = pattern.strip_prefix("|1|") {
            matched |= hashed_match(name, hashed);
        } else {
            matched |= wildcard_match(name, &pattern.to_ascii_lowercase());
        }
    }
    matched
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as written by `HashKnownHosts yes`.
fn hashed_match(name: &str, salt_and_hash: &str) -> bool {
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// Glob with `*` (any run) and `?` (one character), over the whole name.
fn wildcard_match(name: &str, pattern: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut n, mut p) = (0, 0);
    // Where the last `*` was, and the name position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                n += 1;
                p += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    star = Some((star_p, star_n + 1));
                    p = star_p + 1;
                    n = star_n + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Judges `key` against the host's entries.
pub(crate) fn verdict(entries: &[Entry], key: &PublicKey) -> Verdict {
    let same = |entry: &&Entry| entry.key.key_data() == key.key_data();
    if let Some(entry) = entries.iter().filter(|e| e.revoked).find(same) {
        return Verdict::Revoked { line: entry.line };
    }
    let plain: Vec<&Entry> = entries.iter().filter(|e| !e.revoked).collect();
    if plain.iter().any(same) {
        return Verdict::Known;
    }
    let same_type = plain
        .iter()
        .find(|e| same_key_type(&e.key.algorithm(), &key.algorithm()));
    match same_type.or(plain.first()) {
        Some(entry) => Verdict::Changed { line: entry.line },
        None => Verdict::Unknown,
    }
}

/// Key types compare by family: an RSA key is one type whatever signature hash it is used with.
pub(crate) fn same_key_type(a: &Algorithm, b: &Algorithm) -> bool {
    let rsa = |x: &Algorithm| matches!(x, Algorithm::Rsa { .. });
    (rsa(a) && rsa(b)) || a == b
}

/// Serialises appends from the tasks of this process, so that two connections learning keys at the
/// same time neither interleave lines nor both add the same host.
static APPEND: Mutex<()> = Mutex::new(());

/// Records `key` for a host that had no entry, unless another connection recorded one meanwhile:
/// re-reads the file under the lock and returns the verdict on the fresh contents, appending only
/// when the host is still unknown. Creates the file (0600) and its directory (0700) when missing.
pub(crate) fn record_if_unknown(
    path: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> io::Result<Verdict> {
    let _guard = APPEND
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let fresh = verdict(&entries_for(path, host, port)?, key);
    if fresh != Verdict::Unknown {
        return Ok(fresh);
    }
    append(path, host, port, key)?;
    Ok(Verdict::Known)
}

fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let bare = PublicKey::new(key.key_data().clone(), "");
    let encoded = bare.to_openssh().map_err(io::Error::other)?;
    let mut line = String::new();
    if !ends_with_newline(&mut file)? {
        line.push('\n');
    }
    line.push_str(&format!(
        "{} {encoded}\n",
        known_hosts_name(&host.to_ascii_lowercase(), port)
    ));
    // One write on an O_APPEND descriptor: a concurrent ssh(1) appending too cannot split it.
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

fn ends_with_newline(file: &mut std::fs::File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const ED2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";

    fn key(blob: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(blob).expect("test key")
    }

    fn judge(file: &str, host: &str, port: u16, blob: &str) -> Verdict {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, file).expect("write");
        let entries = entries_for(&path, host, port).expect("read");
        verdict(&entries, &key(blob))
    }

    #[test]
    fn plain_port_and_comment_lines() {
        let file =
            format!("# comment\n\n[web]:2222 ssh-ed25519 {ED1}\nweb\tssh-ed25519   {ED2} c\n");
        assert_eq!(judge(&file, "web", 2222, ED1), Verdict::Known);
        assert_eq!(judge(&file, "WEB", 22, ED2), Verdict::Known);
        // Line numbers count comments and blank lines, as an editor does.
        assert_eq!(judge(&file, "web", 2222, ED2), Verdict::Changed { line: 3 });
        assert_eq!(judge(&file, "other", 22, ED1), Verdict::Unknown);
    }

    #[test]
    fn hashed_entries_match() {
        // From russh's own test: "example.com" hashed by ssh-keygen -H.
        let file = format!(
            "|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= ssh-ed25519 {ED2}\n"
        );
        assert_eq!(judge(&file, "example.com", 22, ED2), Verdict::Known);
        assert_eq!(judge(&file, "example.org", 22, ED2), Verdict::Unknown);
    }

    #[test]
    fn wildcards_negation_and_markers() {
        let file = format!(
            "*.lan,!db.lan ssh-ed25519 {ED1}\n@cert-authority *.lan ssh-ed25519 {ED2}\n@revoked * ssh-ed25519 {ED2}\nbad line\nhost ssh-ed25519 notbase64\n"
        );
        assert_eq!(judge(&file, "web.lan", 22, ED1), Verdict::Known);
        assert_eq!(judge(&file, "db.lan", 22, ED1), Verdict::Unknown);
        assert_eq!(
            judge(&file, "web.lan", 22, ED2),
            Verdict::Revoked { line: 3 }
        );
        assert_eq!(judge(&file, "host", 22, ED1), Verdict::Unknown);
    }

    #[test]
    fn glob() {
        assert!(wildcard_match("web1.lan", "web?.*"));
        assert!(wildcard_match("[10.0.0.1]:2222", "[10.0.0.*]:2222"));
        assert!(!wildcard_match("web1.lan", "web?"));
        assert!(wildcard_match("", "*"));
        assert!(wildcard_match("aXbXc", "a*b*c"));
    }

    #[test]
    fn record_creates_file_and_appends_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/known_hosts");
        let k = key(ED1);
        assert_eq!(
            record_if_unknown(&path, "h", 2222, &k).unwrap(),
            Verdict::Known
        );
        assert_eq!(
            record_if_unknown(&path, "h", 2222, &k).unwrap(),
            Verdict::Known
        );
        assert_eq!(
            record_if_unknown(&path, "h", 2222, &key(ED2)).unwrap(),
            Verdict::Changed { line: 1 }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("[h]:2222 ssh-ed25519 {ED1}\n"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

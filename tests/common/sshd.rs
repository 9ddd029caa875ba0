//! A throwaway OpenSSH sshd on 127.0.0.1 for the SSH transport tests: its own host keys,
//! authorized_keys, config and log in a temporary directory; killed by pid when dropped.
//! Needs /usr/sbin/sshd and ssh-keygen; runs as root (as CI does), so it logs in as root.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// The user the tests log in as: whoever runs them (root in CI).
pub fn current_user() -> String {
    let output = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8(output.stdout)
        .expect("utf-8 user name")
        .trim()
        .to_string()
}

/// `ssh-keygen -t KIND -N PASSPHRASE -f DIR/NAME`; returns the private key path (`.pub` beside).
pub fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut command = Command::new("ssh-keygen");
    command.args(["-q", "-t", kind, "-N", passphrase, "-C", "", "-f"]);
    command.arg(&path);
    if kind == "rsa" {
        command.args(["-b", "2048"]);
    }
    let status = command
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen -t {kind} failed");
    path
}

pub fn public_of(private: &Path) -> PathBuf {
    let mut public = private.as_os_str().to_owned();
    public.push(".pub");
    PathBuf::from(public)
}

/// The SHA256 fingerprint field of `ssh-keygen -lf FILE`.
pub fn fingerprint(public_key_file: &Path) -> String {
    let output = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key_file)
        .output()
        .expect("run ssh-keygen -lf");
    assert!(output.status.success(), "ssh-keygen -lf failed");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    text.split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_string()
}

/// `type base64` of a public key file (comment dropped).
pub fn public_key_text(public_key_file: &Path) -> String {
    let text = std::fs::read_to_string(public_key_file).expect("read public key");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// Host private keys, the first being ed25519; `.pub` beside each.
    pub host_keys: Vec<PathBuf>,
    pub authorized_keys: PathBuf,
    pub log: PathBuf,
}

impl Sshd {
    /// An sshd with an ed25519 host key that accepts the given public key files.
    pub fn start(authorized: &[&Path]) -> Sshd {
        Sshd::start_with(authorized, &["ed25519"], "")
    }

    /// `host_key_kinds` are ssh-keygen types; `extra` is appended to sshd_config.
    pub fn start_with(authorized: &[&Path], host_key_kinds: &[&str], extra: &str) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} not found: install openssh-server (scripts/test.sh does, as root)"
        );
        // sshd's privilege separation directory; tmpfs /run starts without it in containers.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd (the tests run as root)");
        let dir = tempfile::tempdir().expect("tempdir");
        let host_keys: Vec<PathBuf> = host_key_kinds
            .iter()
            .map(|kind| keygen(dir.path(), &format!("host_{kind}"), kind, ""))
            .collect();
        let authorized_keys = dir.path().join("authorized_keys");
        let lines: String = authorized
            .iter()
            .map(|path| std::fs::read_to_string(path).expect("read public key"))
            .collect();
        std::fs::write(&authorized_keys, lines).expect("write authorized_keys");
        let log = dir.path().join("sshd.log");
        // Another test process may grab the free port between probe and bind: retry a few times.
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            let text = sshd_config(dir.path(), port, &host_keys, &authorized_keys, extra);
            std::fs::write(&config, text).expect("write sshd_config");
            if let Some(child) = spawn_listening(&config, &log, port) {
                return Sshd {
                    child,
                    port,
                    dir,
                    host_keys,
                    authorized_keys,
                    log,
                };
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            eprintln!("sshd on port {port} did not come up:\n{log_text}");
        }
        panic!("sshd did not start after 5 tries");
    }

    pub fn host_public(&self) -> PathBuf {
        public_of(&self.host_keys[0])
    }

    /// The known_hosts line for this server's first host key: `[127.0.0.1]:PORT type base64`.
    pub fn known_hosts_line(&self) -> String {
        self.known_hosts_line_for(&self.host_keys[0])
    }

    pub fn known_hosts_line_for(&self, host_key: &Path) -> String {
        format!(
            "[127.0.0.1]:{} {}\n",
            self.port,
            public_key_text(&public_of(host_key))
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Kills the listener by its pid; per-connection children end with their connections.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts sshd and waits until it accepts connections; `None` (child killed) if it does not.
fn spawn_listening(config: &Path, log: &Path, port: u16) -> Option<Child> {
    let mut child = Command::new(SSHD)
        .arg("-D")
        .arg("-f")
        .arg(config)
        .arg("-E")
        .arg(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sshd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}

fn sshd_config(
    dir: &Path,
    port: u16,
    host_keys: &[PathBuf],
    authorized_keys: &Path,
    extra: &str,
) -> String {
    let host_key_lines: String = host_keys
        .iter()
        .map(|key| format!("HostKey {}\n", key.display()))
        .collect();
    format!(
        "Port {port}\n\
         ListenAddress 127.0.0.1\n\
         {host_key_lines}\
         PidFile {pid}\n\
         AuthorizedKeysFile {authorized}\n\
         StrictModes no\n\
         UsePAM no\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         AllowTcpForwarding yes\n\
         MaxStartups 100:30:200\n\
         LogLevel DEBUG1\n\
         {extra}\n",
        pid = dir.join("sshd.pid").display(),
        authorized = authorized_keys.display(),
    )
}

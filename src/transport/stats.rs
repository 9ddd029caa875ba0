//! What reaching hosts cost, per host: SSH connections opened, exec requests, and turns, written
//! to a file at exit when the CLI edge asks for it (`WGDEPLOY_STATS=FILE`). Off by default, and then
//! free: nothing is counted and the byte streams are not wrapped.
//!
//! A *turn* is one time the client has to wait for the server's answer before it can go on (one
//! round trip on the critical path: at round-trip time R, a host's turns × R is the time it waits on
//! the network). Messages sent back to back without waiting in between count once. They are
//! counted where the transport waits, by what the SSH exchange is (`lab/latency-proxy.py --trace`
//! shows it chunk by chunk):
//! - connecting: 1 for TCP (connect() returns after the server's SYN-ACK); 2 for the SSH handshake
//!   (russh sends its version, reads the server's version with its KEXINIT, then sends its KEXINIT
//!   and ECDH init together and waits for the reply; NEWKEYS is not waited for); authentication:
//!   1 per key file offered (its request is signed at once and goes out behind the `ssh-userauth`
//!   service request, unanswered: vendor/russh's changes), 1 per agent key offered and 1 more for
//!   the one the server takes (an agent is asked to sign only for a key the server takes); never a
//!   `none` request first. So a connection with one key file is 4 turns;
//! - each command run: 1 for the channel's open confirmation (SSH lets no request name a channel
//!   before it, as requests carry the server's channel number), none when the channel was opened
//!   ahead alongside an earlier run's (`Transport::open_ahead`); 1 more with stdin (OpenSSH's sshd
//!   opens a session channel with a zero window and opens it once the command has started, so
//!   stdin waits for that; the command text travels in the exec request and does not); 1 for the
//!   command's answer (the exec request and EOF go out together, unanswered);
//! - the confirm's probe (`Transport::reach_anew`): a connection (TCP only, no SSH session) and
//!   2 turns: the connect, then sshd's identification line.
//!
//! Turns of connections open at the same time (a confirm while another runs) are summed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One host's counts.
#[derive(Debug, Default)]
pub struct Counter {
    connections: AtomicU64,
    execs: AtomicU64,
    turns: AtomicU64,
}

impl Counter {
    pub fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }
    pub fn exec(&self) {
        self.execs.fetch_add(1, Ordering::Relaxed);
    }
    pub fn turns(&self, count: u64) {
        self.turns.fetch_add(count, Ordering::Relaxed);
    }
    /// (connections, execs, turns)
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.connections.load(Ordering::Relaxed),
            self.execs.load(Ordering::Relaxed),
            self.turns.load(Ordering::Relaxed),
        )
    }
}

type Table = Mutex<BTreeMap<String, Arc<Counter>>>;
static STATS: OnceLock<Table> = OnceLock::new();

/// Starts counting (once per process; the CLI edge calls it when `WGDEPLOY_STATS` is set).
pub fn enable() {
    STATS.get_or_init(Table::default);
}

/// The counter of host `label`, or `None` when counting is off.
pub fn host(label: &str) -> Option<Arc<Counter>> {
    let table = STATS.get()?;
    let mut table = table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Some(Arc::clone(table.entry(label.to_owned()).or_default()))
}

/// The counts as text: a header, then `host<TAB>connections<TAB>execs<TAB>turns` per host.
pub fn render() -> String {
    let mut text = String::from("host\tconnections\texecs\tturns\n");
    if let Some(table) = STATS.get() {
        let table = table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (host, counter) in table.iter() {
            let (connections, execs, turns) = counter.get();
            text.push_str(&format!("{host}\t{connections}\t{execs}\t{turns}\n"));
        }
    }
    text
}

/// Writes [`render`] to `path` (replacing it).
pub fn write(path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(render().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_per_host() {
        let counter = Counter::default();
        counter.connection();
        counter.exec();
        counter.exec();
        counter.turns(3);
        assert_eq!(counter.get(), (1, 2, 3));
        enable();
        let a = host("relay1").unwrap();
        a.connection();
        a.turns(8);
        assert!(render().contains("relay1\t1\t0\t8\n"));
    }
}

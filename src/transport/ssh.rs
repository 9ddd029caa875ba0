//! The SSH transport: russh (pure Rust, tokio) talking to the hosts' OpenSSH sshd.
//!
//! One [`SshSession`] is one authenticated connection (through bastions when asked); each
//! [`Transport::run`] opens its own session channel on it, so runs may overlap. Host keys are
//! verified strictly against the known_hosts file given in [`SshOptions`]; the transport reads no
//! environment variable and no home directory itself: the CLI edge passes every path.

mod auth;
mod config;
mod error;
mod handler;
mod known_hosts;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{Algorithm, EcdsaCurve, HashAlg};
use russh::{ChannelMsg, ChannelReadHalf, Disconnect, Preferred};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use super::{Output, Pending, Transport, TransportError};
use config::Hop;
use handler::{HandshakeError, HostKeyCheck};

pub use error::SshError;

/// Everything needed to reach one host, as the inventory describes it. ssh_config fills in what is
/// not set here, as it does for ssh's command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshTarget {
    /// The inventory host name, for messages.
    pub label: String,
    /// Address or name as written in the inventory; ssh_config `Host` patterns match this.
    pub host: String,
    /// Explicit port; else ssh_config Port; else 22.
    pub port: Option<u16>,
    /// Explicit user; else ssh_config User; else [`SshOptions::default_user`].
    pub user: Option<String>,
    /// Explicit identity file, offered first.
    pub identity: Option<PathBuf>,
    /// A bastion to connect through (direct-tcpip), itself resolved the same way. Replaces any
    /// ssh_config ProxyJump for this host.
    pub jump: Option<Box<SshTarget>>,
}

/// How to connect, shared by all targets of a run. Holds paths only, never key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    /// Host keys are verified strictly against this file.
    pub known_hosts: PathBuf,
    /// Record the key of a host absent from `known_hosts` (never replace a changed one).
    pub accept_new: bool,
    /// Budget per hop for TCP connect (or bastion channel) + handshake + authentication.
    pub connect_timeout: Duration,
    /// The ssh_config to honour. `~` in it stands for the directory holding its `.ssh` folder.
    pub config_file: Option<PathBuf>,
    /// ssh-agent socket; `None`: no agent.
    pub agent_socket: Option<PathBuf>,
    /// Tried after the agent; missing files are skipped.
    pub default_identities: Vec<PathBuf>,
    /// The user when neither the target nor ssh_config names one.
    pub default_user: String,
}

/// One authenticated connection, through its bastions if any.
pub struct SshSession {
    label: String,
    handle: Handle<HostKeyCheck>,
    /// The bastion connections carrying `handle`, outermost first; kept open for its lifetime.
    jumps: Vec<Handle<HostKeyCheck>>,
    /// Limits the runs in flight on this connection (see [`MAX_CHANNELS`]).
    channels: Semaphore,
    /// The target's own hop: where [`Transport::reach_anew`] opens its new connection.
    hop: Hop,
    /// `WGDEPLOY_STATS`: this host's counts (`None`: not counting).
    stats: Option<Arc<super::stats::Counter>>,
    /// [`Transport::open_ahead`] was asked: the next run opens a spare channel with its own.
    ahead: std::sync::atomic::AtomicBool,
    /// The channel opened ahead, and when; used by the next run if still fresh (see [`SPARE_FOR`]).
    spare: Mutex<Option<(Instant, russh::Channel<client::Msg>)>>,
}

/// How long a channel opened ahead is used: sshd keeps idle channels open (`ChannelTimeout` is off
/// by default), and a run right after the survey (`apply --yes`) comes within a second; a channel
/// that waited through a long confirmation prompt is left for a fresh one instead.
const SPARE_FOR: Duration = Duration::from_secs(20);

/// sshd refuses more than `MaxSessions` (default 10) open channels per connection; runs beyond
/// this many wait for a free channel instead of failing.
const MAX_CHANNELS: usize = 8;

/// sshd's `MaxStartups` (default 10:30:100) starts dropping connections once 10 are not yet
/// authenticated: at most this many handshakes (TCP connect to authenticated) run at once to one
/// address and port, whatever `--parallel` says (many hosts behind one bastion, or one address);
/// below those 10, so other clients keep room too.
const MAX_HANDSHAKES_PER_ADDRESS: usize = 8;

/// Handshake slots per `(host, port)`.
type Slots = Mutex<std::collections::HashMap<(String, u16), Arc<Semaphore>>>;

/// The handshake slots of `host:port` (see [`MAX_HANDSHAKES_PER_ADDRESS`]), shared by the run.
fn handshake_slots(host: &str, port: u16) -> Arc<Semaphore> {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    let slots = SLOTS.get_or_init(Mutex::default);
    let mut slots = slots
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(
        slots
            .entry((host.to_owned(), port))
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_HANDSHAKES_PER_ADDRESS))),
    )
}

impl std::fmt::Debug for SshSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSession")
            .field("label", &self.label)
            .field("jumps", &self.jumps.len())
            .finish_non_exhaustive()
    }
}

impl SshSession {
    /// Connects to `target` (through its bastions), verifies every hop's host key and
    /// authenticates every hop.
    pub async fn connect(target: &SshTarget, options: &SshOptions) -> Result<SshSession, SshError> {
        let hops = config::resolve(target, options)?;
        let stats = super::stats::host(&target.label);
        let mut handles: Vec<Handle<HostKeyCheck>> = Vec::with_capacity(hops.len());
        let mut first_channel = None;
        for (index, hop) in hops.iter().enumerate() {
            // The target's first channel is asked for with its authentication.
            let target = index + 1 == hops.len();
            let connected = connect_hop(hop, handles.last(), options, stats.as_ref(), target).await;
            match connected {
                Ok((handle, channel)) => {
                    handles.push(handle);
                    first_channel = channel;
                }
                Err(error) => {
                    disconnect_all(handles).await;
                    return Err(error);
                }
            }
        }
        let handle = handles
            .pop()
            .expect("resolve returns at least the target itself");
        let hop = hops
            .into_iter()
            .next_back()
            .expect("resolve returns at least the target itself");
        Ok(SshSession {
            label: target.label.clone(),
            handle,
            jumps: handles,
            channels: Semaphore::new(MAX_CHANNELS),
            hop,
            stats,
            ahead: std::sync::atomic::AtomicBool::new(false),
            spare: Mutex::new(first_channel.map(|channel| (Instant::now(), channel))),
        })
    }

    /// Says goodbye to the host, then to each bastion.
    pub async fn close(self) {
        let mut handles = self.jumps;
        handles.push(self.handle);
        disconnect_all(handles).await;
    }
}

/// Disconnects innermost first, and waits briefly for each connection to wind down so the
/// goodbye is actually sent before the bastion under it goes away.
impl SshSession {
    /// A new TCP connection to the target's sshd (through the innermost bastion's session when
    /// there is one: a new connection from it, as a new session would make), read until sshd's
    /// identification line (`SSH-2.0-…`), then dropped.
    async fn reach_anew_now(&self) -> Result<(), TransportError> {
        let failed = |reason: String| TransportError {
            message: format!(
                "a new connection to {} ({}) did not reach sshd: {reason}",
                self.label,
                self.hop.addr()
            ),
        };
        if let Some(stats) = &self.stats {
            // A connection (TCP only), and 2 turns: the connect, then sshd's identification line.
            stats.connection();
            stats.turns(2);
        }
        match self.jumps.last() {
            None => {
                let stream = tcp_connect(&self.hop)
                    .await
                    .map_err(|error| failed(error.to_string()))?;
                read_identification(stream).await.map_err(failed)
            }
            Some(bastion) => {
                let stream = open_tunnel(bastion, &self.hop)
                    .await
                    .map_err(|error| failed(error.to_string()))?;
                read_identification(stream).await.map_err(failed)
            }
        }
    }
}

/// Reads what an SSH server sends first until its identification line (RFC 4253 4.2: lines before
/// it are allowed), at most 8 KiB.
async fn read_identification(mut stream: impl tokio::io::AsyncRead + Unpin) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while seen.len() < 8192 {
        let read = stream
            .read(&mut buffer)
            .await
            .map_err(|error| io_reason(&error))?;
        if read == 0 {
            return Err("the connection closed before the server said it speaks SSH".into());
        }
        seen.extend_from_slice(&buffer[..read]);
        if seen
            .split(|&byte| byte == b'\n')
            .any(|line| line.starts_with(b"SSH-"))
        {
            return Ok(());
        }
    }
    Err("no SSH identification line in the first 8 KiB".into())
}

async fn disconnect_all(mut handles: Vec<Handle<HostKeyCheck>>) {
    while let Some(handle) = handles.pop() {
        let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
        let _ = tokio::time::timeout(Duration::from_secs(1), handle).await;
    }
}

/// One hop: its transport (TCP, or a direct-tcpip channel through `via`), the handshake with host
/// key verification, then authentication, all within `connect_timeout`. With `first_channel`, a
/// session channel is asked for with the authentication (vendor/russh sends it right behind the
/// signed request, a key file's or an agent key's: it is confirmed with the authentication's
/// answer), for the first command to start on without a turn of its own.
async fn connect_hop(
    hop: &Hop,
    via: Option<&Handle<HostKeyCheck>>,
    options: &SshOptions,
    stats: Option<&Arc<super::stats::Counter>>,
    first_channel: bool,
) -> Result<(Handle<HostKeyCheck>, Option<russh::Channel<client::Msg>>), SshError> {
    if let Some(stats) = stats {
        stats.connection();
    }
    // Waiting for a slot is not part of the host's budget. Never closed: acquiring cannot fail.
    let slots = handshake_slots(&hop.host, hop.port);
    let _slot = slots.acquire().await.ok();
    let deadline = Instant::now() + options.connect_timeout;
    let entries =
        known_hosts::entries_for(&options.known_hosts, &hop.host, hop.port).map_err(|error| {
            SshError::KnownHosts {
                path: options.known_hosts.clone(),
                reason: error.to_string(),
            }
        })?;
    let config = client_config(&entries);
    let check = HostKeyCheck {
        hop: hop.name.clone(),
        host: hop.host.clone(),
        port: hop.port,
        known_hosts: options.known_hosts.clone(),
        accept_new: options.accept_new,
        entries,
        accepted: None,
    };
    let timed_out = |stage| SshError::Timeout {
        hop: hop.name.clone(),
        addr: hop.addr(),
        after: options.connect_timeout,
        stage,
    };
    let handshake = match via {
        None => {
            let stream = timeout_at(deadline, tcp_connect(hop))
                .await
                .map_err(|_| timed_out("tcp connect"))??;
            // connect() returned once the server's SYN-ACK came: the TCP handshake's turn.
            if let Some(stats) = stats {
                stats.turns(1);
            }
            timeout_at(deadline, client::connect_stream(config, stream, check)).await
        }
        Some(bastion) => {
            let channel = timeout_at(deadline, open_tunnel(bastion, hop))
                .await
                .map_err(|_| timed_out("opening the tunnel through the jump host"))??;
            // The bastion's answer to the tunnel's open.
            if let Some(stats) = stats {
                stats.turns(1);
            }
            timeout_at(deadline, client::connect_stream(config, channel, check)).await
        }
    };
    let mut handle = handshake
        .map_err(|_| timed_out("ssh handshake"))?
        .map_err(|error| handshake_error(hop, error))?;
    // Versions, then the key exchange (see `stats`).
    if let Some(stats) = stats {
        stats.turns(2);
    }
    // Asked before the authentication starts, so that it can go right behind its request.
    let early = match first_channel {
        true => handle.channel_open_session_early().await.ok(),
        false => None,
    };
    let authenticated = timeout_at(
        deadline,
        auth::authenticate(&mut handle, hop, options, stats),
    )
    .await
    .map_err(|_| timed_out("authentication"))
    .and_then(|result| result);
    let rode_along = match authenticated {
        Ok(rode_along) => rode_along,
        Err(error) => {
            disconnect_all(vec![handle]).await;
            return Err(error);
        }
    };
    let channel = match early {
        // A channel that could not ride along costs its own turn; one that fails is no loss
        // (the first command opens its own).
        Some(early) => {
            if let (Some(stats), false) = (stats, rode_along) {
                stats.turns(1);
            }
            timeout_at(deadline, early.confirmed())
                .await
                .ok()
                .and_then(Result::ok)
        }
        None => None,
    };
    Ok((handle, channel))
}

/// Tries each address the name resolves to, as ssh does, keeping the last error.
async fn tcp_connect(hop: &Hop) -> Result<TcpStream, SshError> {
    let unreachable = |reason: String| SshError::Unreachable {
        hop: hop.name.clone(),
        addr: hop.addr(),
        reason,
    };
    let addresses = tokio::net::lookup_host((hop.host.as_str(), hop.port))
        .await
        .map_err(|error| unreachable(format!("cannot resolve {}: {error}", hop.host)))?;
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                // Commands and their replies are small request/response exchanges: do not let
                // Nagle's algorithm hold them back.
                stream
                    .set_nodelay(true)
                    .map_err(|error| unreachable(error.to_string()))?;
                return Ok(stream);
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(unreachable(match last_error {
        Some(error) => io_reason(&error),
        None => format!("{} has no address", hop.host),
    }))
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => error.to_string(),
    }
}

/// A direct-tcpip channel from the bastion to the hop, used as the hop's byte stream.
async fn open_tunnel(
    bastion: &Handle<HostKeyCheck>,
    hop: &Hop,
) -> Result<russh::ChannelStream<client::Msg>, SshError> {
    let channel = bastion
        .channel_open_direct_tcpip(hop.host.clone(), u32::from(hop.port), "127.0.0.1", 0)
        .await
        .map_err(|error| SshError::Unreachable {
            hop: hop.name.clone(),
            addr: hop.addr(),
            reason: format!("the jump host could not connect to it: {error}"),
        })?;
    Ok(channel.into_stream())
}

fn handshake_error(hop: &Hop, error: HandshakeError) -> SshError {
    match error {
        HandshakeError::Refused(error) => *error,
        HandshakeError::Ssh(error) => SshError::Protocol {
            hop: hop.name.clone(),
            addr: hop.addr(),
            reason: error.to_string(),
        },
    }
}

/// Host key algorithms we accept, best first. No SHA-1 `ssh-rsa` signatures, as in OpenSSH ≥ 8.8.
const HOST_KEY_ALGORITHMS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// A client configuration and the host key algorithm order it was made for.
type SharedConfig = (Vec<Algorithm>, Arc<client::Config>);

/// The client configuration for a host whose known_hosts entries are `entries`. Like ssh(1), ask
/// first for the key types already recorded for the host, so that a host with an RSA key on file
/// is not refused as "changed" for presenting its Ed25519 key. Configurations are shared: one per
/// distinct algorithm order (in practice one or two for a whole run).
fn client_config(entries: &[known_hosts::Entry]) -> Arc<client::Config> {
    let (mut order, rest): (Vec<Algorithm>, Vec<Algorithm>) =
        HOST_KEY_ALGORITHMS.iter().cloned().partition(|algorithm| {
            entries
                .iter()
                .filter(|entry| !entry.revoked)
                .any(|entry| known_hosts::same_key_type(&entry.key.algorithm(), algorithm))
        });
    order.extend(rest);

    static CONFIGS: OnceLock<Mutex<Vec<SharedConfig>>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(Mutex::default);
    let mut configs = configs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, config)) = configs.iter().find(|(known, _)| *known == order) {
        return Arc::clone(config);
    }
    let config = Arc::new(new_config(order.clone()));
    configs.push((order, Arc::clone(&config)));
    config
}

/// Compressed when the server agrees (OpenSSH's sshd does by default, after authentication):
/// each command carries its whole script, which compresses about threefold (the survey's 18 KiB to
/// 6 KiB), so the exec request fits in the first window of a new TCP connection (10 segments)
/// instead of waiting a round trip for more; configs and answers shrink too. The price is about
/// 150 KiB of zlib state per open connection (measured: 100 hosts at once, 27 → 42 MiB).
const COMPRESSION: &[russh::compression::Name] = &[
    russh::compression::ZLIB_LEGACY,
    russh::compression::ZLIB,
    russh::compression::NONE,
];

fn new_config(host_key_order: Vec<Algorithm>) -> client::Config {
    client::Config {
        preferred: Preferred {
            key: Cow::Owned(host_key_order),
            compression: Cow::Borrowed(COMPRESSION),
            ..Preferred::DEFAULT
        },
        // A host that vanishes (power loss, network partition) must not leave a run waiting
        // forever: after ~1 min without any answer to keepalives the connection is dropped.
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        nodelay: true,
        ..client::Config::default()
    }
}

impl Transport for SshSession {
    async fn reach_anew(&self) -> Option<Result<(), TransportError>> {
        Some(self.reach_anew_now().await)
    }

    fn open_ahead(&self) {
        self.ahead.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    async fn run(&self, command: &str, stdin: &[u8]) -> Result<Output, TransportError> {
        // Never closed, so acquiring cannot fail; a closed semaphore would only mean no limit.
        let _permit = self.channels.acquire().await.ok();
        let (reader, writer) = self
            .start_counted(command, !stdin.is_empty())
            .await?
            .split();
        feed_and_collect(&self.label, reader, writer, stdin, Collector::default()).await
    }

    async fn run_until(
        &self,
        command: &str,
        marker: &[u8],
    ) -> Option<Result<(Output, Option<Pending>), TransportError>> {
        Some(self.run_until_marker(command, marker).await)
    }
}

impl SshSession {
    /// The channel opened ahead, if still fresh.
    fn take_spare(&self) -> Option<russh::Channel<client::Msg>> {
        self.spare
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .filter(|(opened, _)| opened.elapsed() < SPARE_FOR)
            .map(|(_, channel)| channel)
    }

    /// The next run's channel opens while this one runs (asked by `open_ahead`), whether this run
    /// had a channel opened ahead itself or not.
    async fn open_spare_if_asked(&self) {
        if self.ahead.swap(false, std::sync::atomic::Ordering::Relaxed)
            && let Ok(channel) = self.handle.channel_open_session().await
        {
            *self
                .spare
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((Instant::now(), channel));
        }
    }

    /// Starts `command` on the channel opened ahead (or one opened now), counting its exec and
    /// turns, while the next run's channel opens if asked. Turns: the channel's open confirmation
    /// (SSH allows no request on a channel before it: a request names the server's channel
    /// number), none with a channel opened ahead; with stdin (`stdin_waits`), sshd's window
    /// adjustment (it opens session channels with no window until the command has started, so
    /// stdin waits for it; the command text itself does not); then the command's answer (exec
    /// request and EOF go out back to back, unanswered).
    async fn start_counted(
        &self,
        command: &str,
        stdin_waits: bool,
    ) -> Result<russh::Channel<client::Msg>, TransportError> {
        let spare = self.take_spare();
        if let Some(stats) = &self.stats {
            stats.exec();
            stats.turns(u64::from(spare.is_none()) + u64::from(stdin_waits) + 1);
        }
        let (started, ()) = tokio::join!(self.start(spare, command), self.open_spare_if_asked());
        started
    }

    /// Starts `command` on `channel` (or a channel opened now).
    async fn start(
        &self,
        channel: Option<russh::Channel<client::Msg>>,
        command: &str,
    ) -> Result<russh::Channel<client::Msg>, TransportError> {
        let error = |what: &str, error: russh::Error| TransportError {
            message: format!("{what} on {}: {error}", self.label),
        };
        let channel = match channel {
            Some(channel) => channel,
            None => self
                .handle
                .channel_open_session()
                .await
                .map_err(|e| error("cannot open an ssh channel", e))?,
        };
        channel
            .exec(true, command)
            .await
            .map_err(|e| error("cannot start a command", e))?;
        Ok(channel)
    }

    /// [`Transport::run_until`]: the command's stdin stays open until the pending half is
    /// finished (or dropped); a task owns the channel meanwhile.
    async fn run_until_marker(
        &self,
        command: &str,
        marker: &[u8],
    ) -> Result<(Output, Option<Pending>), TransportError> {
        let permit = self.channels.acquire().await.ok();
        // Its stdin comes later, to a command that started long before (see `Pending::finish`).
        let (mut reader, writer) = self.start_counted(command, false).await?.split();
        let mut collector = Collector::default();
        let before = loop {
            let message = reader.wait().await;
            let data = matches!(message, Some(ChannelMsg::Data { .. }));
            if let Some(ended) = collector.take(message) {
                let _ = writer.close().await;
                return collected(&self.label, ended).map(|output| (output, None));
            }
            if data && let Some(before) = collector.split_at_marker(marker) {
                break before;
            }
        };
        drop(permit);
        let (pending, stdin, rest) = Pending::new();
        let (label, stats) = (self.label.clone(), self.stats.clone());
        tokio::spawn(async move {
            // Dropped unused: the command sees its stdin end with nothing on it.
            let stdin = stdin.await.unwrap_or_default();
            if let (Some(stats), false) = (&stats, stdin.is_empty()) {
                // The input goes, the answer comes: sshd opened the window long ago.
                stats.turns(1);
            }
            let _ = rest.send(feed_and_collect(&label, reader, writer, &stdin, collector).await);
        });
        Ok((before, Some(pending)))
    }
}

/// Feeds `stdin` to a started command, closes it, and collects the command's output until the
/// server closes the channel.
async fn feed_and_collect(
    label: &str,
    mut reader: ChannelReadHalf,
    writer: russh::ChannelWriteHalf<client::Msg>,
    stdin: &[u8],
    mut collector: Collector,
) -> Result<Output, TransportError> {
    // Feed stdin while collecting output, never one after the other: a command like `cat`
    // stops reading once its output is not drained, and russh stops delivering window
    // adjustments while a channel's incoming queue is full.
    let feed = async {
        // A failure here means the command exited without reading everything (or the channel
        // is gone), which the collected output already tells.
        if !stdin.is_empty() {
            let _ = writer.data_bytes(stdin.to_vec()).await;
        }
        let _ = writer.eof().await;
    };
    let collect = async {
        loop {
            if let Some(ended) = collector.take(reader.wait().await) {
                break ended;
            }
        }
    };
    tokio::pin!(feed, collect);
    let mut fed = false;
    let ended = loop {
        tokio::select! {
            () = &mut feed, if !fed => fed = true,
            ended = &mut collect => break ended,
        }
    };
    if matches!(ended, Collected::Refused) {
        let _ = writer.close().await;
    }
    collected(label, ended)
}

fn collected(label: &str, ended: Collected) -> Result<Output, TransportError> {
    match ended {
        Collected::Output(output) => Ok(output),
        Collected::Refused => Err(TransportError {
            message: format!("{label} refused to run the command"),
        }),
        Collected::Lost => Err(TransportError {
            message: format!("the connection to {label} was lost while a command was running"),
        }),
    }
}

enum Collected {
    Output(Output),
    /// The server answered the exec request with a failure.
    Refused,
    /// The connection ended before the command's exit status came.
    Lost,
}

/// A channel's output as it comes. Stdout is channel data, stderr is extended data of type 1. A
/// channel closed without exit status (killed by a signal, say) gives `status: None`.
#[derive(Default)]
struct Collector {
    output: Output,
    exec_answered: bool,
}

impl Collector {
    /// Takes one message from the channel; `Some` once the command is over.
    fn take(&mut self, message: Option<ChannelMsg>) -> Option<Collected> {
        match message {
            Some(ChannelMsg::Data { data }) => self.output.stdout.extend_from_slice(&data),
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                self.output.stderr.extend_from_slice(&data);
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => self.output.status = Some(exit_status),
            Some(ChannelMsg::Success) => self.exec_answered = true,
            Some(ChannelMsg::Failure) if !self.exec_answered => return Some(Collected::Refused),
            Some(ChannelMsg::Close) => {
                return Some(Collected::Output(std::mem::take(&mut self.output)));
            }
            // The session ended without closing the channel: the connection is gone. The output
            // still stands if the command had finished.
            None if self.output.status.is_some() => {
                return Some(Collected::Output(std::mem::take(&mut self.output)));
            }
            None => return Some(Collected::Lost),
            Some(_) => {}
        }
        None
    }

    /// Once stdout holds `marker`: the output before it (stderr so far included), leaving what
    /// came after the marker for the rest. Data arriving means the command started, so the
    /// exec request was answered.
    fn split_at_marker(&mut self, marker: &[u8]) -> Option<Output> {
        let at = self
            .output
            .stdout
            .windows(marker.len())
            .position(|window| window == marker)?;
        let after = self.output.stdout.split_off(at + marker.len());
        self.output.stdout.truncate(at);
        self.exec_answered = true;
        Some(std::mem::replace(
            &mut self.output,
            Output {
                stdout: after,
                ..Output::default()
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn session_is_send_and_sync() {
        assert_send_sync::<SshSession>();
    }

    #[test]
    fn errors_stay_small() {
        // Clippy's result_large_err threshold: every caller returning Result<_, SshError> would
        // trip it (and pay for the copies) if the error grew past this.
        assert!(std::mem::size_of::<SshError>() <= 128);
    }

    #[test]
    fn handshakes_share_eight_slots_per_address_and_port() {
        let a = handshake_slots("198.51.100.7", 22);
        assert!(Arc::ptr_eq(&a, &handshake_slots("198.51.100.7", 22)));
        assert!(!Arc::ptr_eq(&a, &handshake_slots("198.51.100.7", 2222)));
        assert_eq!(a.available_permits(), MAX_HANDSHAKES_PER_ADDRESS);
    }

    #[test]
    fn one_shared_config_for_the_usual_order() {
        let a = client_config(&[]);
        let b = client_config(&[]);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.preferred.key.first(), Some(&Algorithm::Ed25519));
        assert!(a.nodelay);
    }

    #[test]
    fn known_key_types_are_asked_first() {
        const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQCsxLsE+WMFmSFYZCC8KqEjeotJdQy1hyWS8b+1cnqnfq/ci5sKb/JMP9d4pJ0K4xVSm+8R4AZzOrS41JjKJfL9UawaW1xCIVIPR4TTzriLNKn1IUCjMYsVnJINp4PVIe/zBBYkMGBVo9OtQVbs5LA0jPeEkJEBbbMxFnKTLYatzw==";
        let entry = known_hosts::Entry {
            line: 1,
            revoked: false,
            key: russh::keys::parse_public_key_base64(RSA).expect("test key"),
        };
        let config = client_config(&[entry]);
        assert!(matches!(config.preferred.key[0], Algorithm::Rsa { .. }));
        assert!(matches!(config.preferred.key[1], Algorithm::Rsa { .. }));
        assert_eq!(config.preferred.key[2], Algorithm::Ed25519);
    }
}

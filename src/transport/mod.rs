//! How wgdeploy talks to a host: run one shell command with some bytes on its stdin, get its output.
//!
//! The apply logic is written against [`Transport`], so it is unit-tested with the recording fake in
//! [`fake`] and runs for real over SSH ([`ssh`], russh against OpenSSH's sshd).

pub mod fake;
pub mod ssh;
pub mod stats;

use std::future::Future;

/// What a remote command produced. `status` is `None` when the command ended without an exit status
/// (killed by a signal, or the channel closed early).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// A connection to one host that can run commands. Commands are complete `sh` command lines, built
/// and quoted by the caller (one place: `remote::quote`).
pub trait Transport: Send + Sync {
    /// Runs `command`, feeding `stdin` then closing it; waits for the exit status and all output.
    fn run(
        &self,
        command: &str,
        stdin: &[u8],
    ) -> impl Future<Output = Result<Output, TransportError>> + Send;

    /// Opens a *new* connection to the host's SSH server the way a new session would (through the
    /// same jump hosts), waits for the server's identification line and closes it: proof that new
    /// connections get through, without a second key exchange and authentication. `None`: this
    /// transport cannot tell (the caller opens a full session instead).
    fn reach_anew(&self) -> impl Future<Output = Option<Result<(), TransportError>>> + Send {
        async { None }
    }

    /// The next run also opens a second channel, at the same time as its own, and keeps it for the
    /// run after: that one then starts without waiting for its channel (a round trip saved, e.g.
    /// the apply step after the survey). Nothing for transports without channels.
    fn open_ahead(&self) {}

    /// Runs `command` until its stdout holds `marker` (a line the command prints when it is ready
    /// for more, with a nonce so no file it prints can hold it): the output before the marker,
    /// and the command itself, still running and waiting for its stdin ([`Pending`]). The
    /// pending half is `None` when the command ended without printing the marker (its output is
    /// then complete). `None`: this transport cannot (the caller runs a second command instead).
    fn run_until(
        &self,
        command: &str,
        marker: &[u8],
    ) -> impl Future<Output = Option<Result<(Output, Option<Pending>), TransportError>>> + Send
    {
        let _ = (command, marker);
        async { None }
    }
}

/// A command stopped at its marker (see [`Transport::run_until`]), waiting for its stdin. Dropped
/// unused, its stdin is closed with nothing on it.
#[derive(Debug)]
pub struct Pending {
    stdin: tokio::sync::oneshot::Sender<Vec<u8>>,
    rest: tokio::sync::oneshot::Receiver<Result<Output, TransportError>>,
    since: std::time::Instant,
}

impl Pending {
    /// The command's side of a pending half: `stdin` receives what [`Pending::finish`] feeds (or
    /// an error when the pending half was dropped), `rest` takes the rest of the output.
    pub fn new() -> (
        Pending,
        tokio::sync::oneshot::Receiver<Vec<u8>>,
        tokio::sync::oneshot::Sender<Result<Output, TransportError>>,
    ) {
        let (stdin, stdin_receiver) = tokio::sync::oneshot::channel();
        let (rest_sender, rest) = tokio::sync::oneshot::channel();
        let pending = Pending {
            stdin,
            rest,
            since: std::time::Instant::now(),
        };
        (pending, stdin_receiver, rest_sender)
    }

    /// How long the command has been waiting.
    pub fn waited(&self) -> std::time::Duration {
        self.since.elapsed()
    }

    /// Feeds `stdin` to the command, closes it, and waits for the rest of its output (what it
    /// printed after the marker) and its exit status.
    pub async fn finish(self, stdin: Vec<u8>) -> Result<Output, TransportError> {
        let gone = || TransportError {
            message: "the command waiting for its input is gone".to_owned(),
        };
        self.stdin.send(stdin).map_err(|_| gone())?;
        self.rest.await.map_err(|_| gone())?
    }
}

/// A transport failure after the connection was established (the connection itself failing is
/// reported by the transport's own connect error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub message: String,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

//! A recording fake transport for unit tests of apply logic: answers each command from a handler
//! and records every command with its stdin, so tests assert what would have run on a host.

use super::{Output, Pending, Transport, TransportError};
use std::sync::{Arc, Mutex};

type Handler = dyn Fn(&str, &[u8]) -> Result<Output, TransportError> + Send + Sync;
type Delay = dyn Fn(&str) -> std::time::Duration + Send + Sync;
/// Commands run, each with the stdin it was given.
type Log = Mutex<Vec<(String, Vec<u8>)>>;

#[derive(Clone)]
pub struct FakeTransport {
    handler: Arc<Handler>,
    log: Arc<Log>,
    delay: Option<Arc<Delay>>,
    /// What [`Transport::reach_anew`] answers (`None`: no such probe, as by default).
    reach: Option<Result<(), TransportError>>,
    /// [`Transport::run_until`] leaves commands waiting (see [`FakeTransport::with_waiting`]).
    waiting: bool,
}

/// The command a [`FakeTransport::with_waiting`] records, and its handler is asked, for the input
/// a waiting command was given.
pub const WAITING_INPUT: &str = "<input to the waiting command>";

impl FakeTransport {
    pub fn new(
        handler: impl Fn(&str, &[u8]) -> Result<Output, TransportError> + Send + Sync + 'static,
    ) -> FakeTransport {
        FakeTransport {
            handler: Arc::new(handler),
            log: Arc::default(),
            delay: None,
            reach: None,
            waiting: false,
        }
    }

    /// Makes [`Transport::run_until`] answer as a host whose command printed its marker: the
    /// handler's answer to the command is the output before it, and the input the pending half is
    /// given is recorded, and answered by the handler, as the command [`WAITING_INPUT`].
    pub fn with_waiting(self) -> FakeTransport {
        FakeTransport {
            waiting: true,
            ..self
        }
    }

    /// Makes [`Transport::reach_anew`] answer `reach` (and record the probe as `reach_anew`): a
    /// host whose sshd a new connection reaches (`Ok`), or not.
    pub fn with_reach(self, reach: Result<(), TransportError>) -> FakeTransport {
        FakeTransport {
            reach: Some(reach),
            ..self
        }
    }

    /// Makes each command take `delay(command)` before the handler answers: a slow host. A caller
    /// that gives up earlier (a timeout) cancels the command before the handler runs, as if the
    /// host never finished it.
    pub fn with_delay(
        self,
        delay: impl Fn(&str) -> std::time::Duration + Send + Sync + 'static,
    ) -> FakeTransport {
        FakeTransport {
            delay: Some(Arc::new(delay)),
            ..self
        }
    }

    /// Every command run so far, with its stdin, in order.
    pub fn recorded(&self) -> Vec<(String, Vec<u8>)> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

impl Transport for FakeTransport {
    async fn run(&self, command: &str, stdin: &[u8]) -> Result<Output, TransportError> {
        if let Ok(mut log) = self.log.lock() {
            log.push((command.to_owned(), stdin.to_vec()));
        }
        if let Some(delay) = &self.delay {
            tokio::time::sleep(delay(command)).await;
        }
        (self.handler)(command, stdin)
    }

    async fn run_until(
        &self,
        command: &str,
        _marker: &[u8],
    ) -> Option<Result<(Output, Option<Pending>), TransportError>> {
        if !self.waiting {
            return None;
        }
        let before = match self.run(command, &[]).await {
            Ok(before) => before,
            Err(error) => return Some(Err(error)),
        };
        let (pending, stdin, rest) = Pending::new();
        let fake = self.clone();
        tokio::spawn(async move {
            let Ok(stdin) = stdin.await else { return };
            let _ = rest.send(fake.run(WAITING_INPUT, &stdin).await);
        });
        Some(Ok((before, Some(pending))))
    }

    async fn reach_anew(&self) -> Option<Result<(), TransportError>> {
        let reach = self.reach.clone()?;
        if let Ok(mut log) = self.log.lock() {
            log.push(("reach_anew".to_owned(), Vec::new()));
        }
        Some(reach)
    }
}

/// Output with status 0 and this stdout.
pub fn ok(stdout: &str) -> Result<Output, TransportError> {
    Ok(Output {
        status: Some(0),
        stdout: stdout.as_bytes().to_vec(),
        stderr: Vec::new(),
    })
}

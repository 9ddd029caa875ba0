//! A recording fake transport for unit tests of apply logic: answers each command from a handler
//! and records every command with its stdin, so tests assert what would have run on a host.

use super::{Output, Transport, TransportError};
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
}

impl FakeTransport {
    pub fn new(
        handler: impl Fn(&str, &[u8]) -> Result<Output, TransportError> + Send + Sync + 'static,
    ) -> FakeTransport {
        FakeTransport {
            handler: Arc::new(handler),
            log: Arc::default(),
            delay: None,
            reach: None,
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

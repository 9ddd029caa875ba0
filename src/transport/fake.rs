//! A recording fake transport for unit tests of apply logic: answers each command from a handler
//! and records every command with its stdin, so tests assert what would have run on a host.

use super::{Output, Transport, TransportError};
use std::sync::{Arc, Mutex};

type Handler = dyn Fn(&str, &[u8]) -> Result<Output, TransportError> + Send + Sync;
/// Commands run, each with the stdin it was given.
type Log = Mutex<Vec<(String, Vec<u8>)>>;

#[derive(Clone)]
pub struct FakeTransport {
    handler: Arc<Handler>,
    log: Arc<Log>,
}

impl FakeTransport {
    pub fn new(
        handler: impl Fn(&str, &[u8]) -> Result<Output, TransportError> + Send + Sync + 'static,
    ) -> FakeTransport {
        FakeTransport {
            handler: Arc::new(handler),
            log: Arc::default(),
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
        (self.handler)(command, stdin)
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

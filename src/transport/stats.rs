//! What reaching hosts cost, per host: SSH connections opened, exec requests, and turns, written
//! to a file at exit when the CLI edge asks for it (`WGDEPLOY_STATS=FILE`). Off by default, and then
//! free: nothing is counted and the byte streams are not wrapped.
//!
//! A *turn* is one time the client had to wait for the server's answer before it could go on: on
//! one connection, each time bytes arrive from the server after the client sent bytes since the
//! previous arrival (a request → answer alternation), plus one for each TCP handshake (connect()
//! returns only after the server's SYN-ACK). Requests sent back to back without waiting (pipelined)
//! count once. Over a network with round-trip time R, a connection's turns × R is about the time
//! it spends waiting on the network; a host's turns are summed over its connections, which may
//! overlap in time (so the sum can exceed the host's critical path).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
    pub fn turn(&self) {
        self.turns.fetch_add(1, Ordering::Relaxed);
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
    let mut table = table.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Some(Arc::clone(table.entry(label.to_owned()).or_default()))
}

/// The counts as text: a header, then `host<TAB>connections<TAB>execs<TAB>turns` per host.
pub fn render() -> String {
    let mut text = String::from("host\tconnections\texecs\tturns\n");
    if let Some(table) = STATS.get() {
        let table = table.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
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

/// A byte stream that counts turns (see the module doc) into `counter`.
pub struct Counted<S> {
    inner: S,
    counter: Option<Arc<Counter>>,
    /// The client sent bytes since the server's last ones arrived.
    wrote: bool,
}

impl<S> Counted<S> {
    pub fn new(inner: S, counter: Option<Arc<Counter>>) -> Counted<S> {
        Counted {
            inner,
            counter,
            wrote: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() > before
            && std::mem::take(&mut this.wrote)
            && let Some(counter) = &this.counter
        {
            counter.turn();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(written)) = polled
            && written > 0
        {
            this.wrote = true;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_turn_is_an_answer_after_a_request() {
        let counter = Arc::new(Counter::default());
        let (client, mut server) = tokio::io::duplex(64);
        let mut client = Counted::new(client, Some(counter.clone()));
        let mut buf = [0u8; 8];
        // Two requests back to back, then their answers: one turn.
        client.write_all(b"a").await.unwrap();
        client.write_all(b"b").await.unwrap();
        server.read_exact(&mut buf[..2]).await.unwrap();
        server.write_all(b"AB").await.unwrap();
        client.read_exact(&mut buf[..2]).await.unwrap();
        // More bytes from the server without a request in between: no new turn.
        server.write_all(b"C").await.unwrap();
        client.read_exact(&mut buf[..1]).await.unwrap();
        assert_eq!(counter.get().2, 1);
        // A second request and answer.
        client.write_all(b"c").await.unwrap();
        server.write_all(b"D").await.unwrap();
        client.read_exact(&mut buf[..1]).await.unwrap();
        assert_eq!(counter.get().2, 2);
    }

    #[test]
    fn counts_render_per_host() {
        let counter = Counter::default();
        counter.connection();
        counter.exec();
        counter.exec();
        assert_eq!(counter.get(), (1, 2, 0));
    }
}

//! The listener's defences against hostile or broken clients: the limits, a capped
//! accept loop that backs off on errors, and a guard on stalled response writes.
//!
//! - **Connection cap.** A slot (semaphore permit) is taken *before* `accept`, and held
//!   by the connection's task until it ends. Beyond the cap, new connections wait in the
//!   kernel's listen backlog (no file descriptor, no memory in the process) and are
//!   accepted in arrival order as slots free up; when the backlog is full the kernel
//!   drops or refuses them. The connections being served are never interrupted for
//!   newcomers.
//! - **Accept errors.** Errors of one pending connection (`ECONNABORTED`, reset,
//!   refused, interrupted) are skipped at once; any other error (`EMFILE`, `ENFILE`,
//!   `ENOBUFS`, `ENOMEM`, …) — or a run of more than [`IMMEDIATE_RETRIES`] errors —
//!   pauses the loop with exponential backoff from [`ACCEPT_BACKOFF_MIN`] to
//!   [`ACCEPT_BACKOFF_MAX`] instead of spinning on a listener that stays readable.
//! - **Stalled writes.** A response the client does not read for `body_timeout` ends
//!   the connection ([`WriteGuard`]).
//!
//! The header and body timeouts themselves are applied by the server
//! (`crate::server`): hyper's header read timeout, which also closes idle keep-alive
//! connections, and a deadline on reading the body.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// Default time to receive a request head (also the keep-alive idle limit): 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time to receive a whole request body (and the longest a response write may
/// stall): 30 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default number of failed token checks from one address before it is blocked.
pub const DEFAULT_AUTH_FAILURES: u32 = 10;
/// Default block of an address after too many failed token checks (also the window
/// in which failures are counted).
pub const DEFAULT_AUTH_LOCKOUT: Duration = Duration::from_secs(60);

/// First pause after an accept error that is not about one connection.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause between accept attempts while errors go on.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Errors in a row retried at once before the backoff applies to every error.
pub const IMMEDIATE_RETRIES: u32 = 16;

/// The listener's limits (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Time from a connection being ready for a request (just opened, or its previous
    /// answer sent) to the end of the request head. A client that takes longer is
    /// disconnected, with `408 request_timeout` if it had sent part of a head. This is
    /// also how long an idle keep-alive connection is kept.
    pub header_timeout: Duration,
    /// Time to receive a whole request body (`408 request_timeout` after it), and the
    /// longest a response write may stall because the client does not read.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Failed operator-token checks from one client address (within `auth_lockout`)
    /// after which the address is answered `429 rate_limited`; `0` turns it off.
    pub auth_failures: u32,
    /// How long such an address is blocked.
    pub auth_lockout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            auth_failures: DEFAULT_AUTH_FAILURES,
            auth_lockout: DEFAULT_AUTH_LOCKOUT,
        }
    }
}

/// A source of connections: the TCP listener, or a fake in tests.
pub(crate) trait Listener: Send + 'static {
    /// The connection type.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Accepts the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send;
}

impl Listener for TcpListener {
    type Io = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        TcpListener::accept(self).await
    }
}

/// True for errors that concern one pending connection only.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The pause after each accept error (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    errors_in_a_row: u32,
    backing_off: u32,
}

impl AcceptBackoff {
    /// The pause before the next attempt after `e`; `None` to retry at once.
    pub(crate) fn after_error(&mut self, e: &io::Error) -> Option<Duration> {
        self.errors_in_a_row = self.errors_in_a_row.saturating_add(1);
        if is_connection_error(e) && self.errors_in_a_row <= IMMEDIATE_RETRIES {
            return None;
        }
        let step = self.backing_off.min(16);
        self.backing_off = self.backing_off.saturating_add(1);
        Some(
            ACCEPT_BACKOFF_MIN
                .saturating_mul(1u32 << step)
                .min(ACCEPT_BACKOFF_MAX),
        )
    }

    /// A connection was accepted: errors start again from the shortest pause.
    pub(crate) fn reset(&mut self) {
        *self = AcceptBackoff::default();
    }
}

/// Accepts connections until `stop` is notified, at most `max_connections` at once,
/// handing each with its slot to `on_accept` (whose task must hold the slot until the
/// connection ends).
pub(crate) async fn accept_loop<L, F>(
    mut listener: L,
    max_connections: usize,
    stop: Arc<Notify>,
    mut on_accept: F,
) where
    L: Listener,
    F: FnMut(L::Io, SocketAddr, OwnedSemaphorePermit),
{
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut backoff = AcceptBackoff::default();
    let mut waiting_logged = false;
    loop {
        if slots.available_permits() == 0 && !waiting_logged {
            tracing::warn!(
                max_connections,
                "connection cap reached: new connections wait in the listen backlog"
            );
            waiting_logged = true;
        }
        let slot = tokio::select! {
            _ = stop.notified() => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => return,
            },
        };
        if slots.available_permits() > 0 {
            waiting_logged = false;
        }
        let (io, peer) = loop {
            let accepted = tokio::select! {
                _ = stop.notified() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok(conn) => {
                    backoff.reset();
                    break conn;
                }
                Err(e) => match backoff.after_error(&e) {
                    None => tracing::debug!(error = %e, "accept failed for one connection"),
                    Some(pause) => {
                        tracing::warn!(
                            error = %e,
                            pause_ms = pause.as_millis() as u64,
                            "accept failed; pausing before the next attempt"
                        );
                        tokio::select! {
                            _ = stop.notified() => return,
                            _ = tokio::time::sleep(pause) => {}
                        }
                    }
                },
            }
        };
        on_accept(io, peer, slot);
    }
}

/// Wraps a connection so that a write the peer does not take for `limit` fails with
/// `TimedOut` (a client that stops reading its answer cannot hold its slot forever).
#[derive(Debug)]
pub struct WriteGuard<T> {
    inner: T,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteGuard<T> {
    /// Guards `inner` with a stall limit.
    pub fn new(inner: T, limit: Duration) -> Self {
        WriteGuard {
            inner,
            limit,
            stalled: None,
        }
    }

    /// The wrapped connection.
    pub fn into_inner(self) -> T {
        self.inner
    }

    fn on_write<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if timer.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read the response in time",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.on_write(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.on_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.on_write(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.on_write(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::sync::mpsc;

    fn emfile() -> io::Error {
        // EMFILE, "Too many open files": not an error of one connection.
        io::Error::from_raw_os_error(24)
    }

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut b = AcceptBackoff::default();
        let pauses: Vec<Duration> = (0..10).map(|_| b.after_error(&emfile()).unwrap()).collect();
        assert_eq!(pauses[0], ACCEPT_BACKOFF_MIN);
        assert_eq!(pauses[1], ACCEPT_BACKOFF_MIN * 2);
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]), "{pauses:?}");
        assert_eq!(pauses[9], ACCEPT_BACKOFF_MAX);
        b.reset();
        assert_eq!(b.after_error(&emfile()), Some(ACCEPT_BACKOFF_MIN));
    }

    #[test]
    fn one_connection_errors_retry_at_once_but_not_forever() {
        let mut b = AcceptBackoff::default();
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        for _ in 0..IMMEDIATE_RETRIES {
            assert_eq!(b.after_error(&aborted), None);
        }
        assert_eq!(b.after_error(&aborted), Some(ACCEPT_BACKOFF_MIN));
    }

    /// Fails `errors` times with EMFILE, then hands out in-memory connections; pends
    /// for good after `max_calls` calls so that a spinning loop stops and is seen.
    struct Flaky {
        calls: Arc<AtomicUsize>,
        errors: usize,
        max_calls: usize,
        reached: Option<tokio::sync::oneshot::Sender<()>>,
        peers: Arc<Mutex<Vec<DuplexStream>>>,
    }

    impl Listener for Flaky {
        type Io = DuplexStream;

        async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= self.max_calls {
                if let Some(tx) = self.reached.take() {
                    let _ = tx.send(());
                }
                std::future::pending::<()>().await;
            }
            if n <= self.errors {
                return Err(emfile());
            }
            let (ours, theirs) = tokio::io::duplex(64);
            self.peers.lock().unwrap().push(theirs);
            Ok((ours, "127.0.0.1:9".parse().unwrap()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_pauses_on_accept_errors_instead_of_spinning() {
        let calls = Arc::new(AtomicUsize::new(0));
        let (reached_tx, mut reached) = tokio::sync::oneshot::channel();
        let listener = Flaky {
            calls: calls.clone(),
            errors: usize::MAX,
            max_calls: 1000,
            reached: Some(reached_tx),
            peers: Arc::default(),
        };
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(accept_loop(listener, 4, stop.clone(), |_, _, _| {}));
        // Ten (virtual) seconds of EMFILE: a spinning loop makes its 1000 calls at
        // once and trips `reached`; a backing-off one makes a handful.
        let spun = tokio::select! {
            _ = &mut reached => true,
            _ = tokio::time::sleep(Duration::from_secs(10)) => false,
        };
        let n = calls.load(Ordering::SeqCst);
        assert!(!spun, "the accept loop spun: {n} calls");
        // 10 ms doubling to 1 s: about 8 calls in the first 1.3 s, then one a second.
        assert!((5..=25).contains(&n), "{n} accept calls in 10 s");
        stop.notify_one();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the loop stops when asked")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn after_errors_stop_connections_are_accepted_again() {
        let calls = Arc::new(AtomicUsize::new(0));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let listener = Flaky {
            calls: calls.clone(),
            errors: 6,
            max_calls: 8,
            reached: None,
            peers: peers.clone(),
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let stop = Arc::new(Notify::new());
        tokio::spawn(accept_loop(
            listener,
            4,
            stop.clone(),
            move |io, _, slot| {
                let _ = tx.send((io, slot));
            },
        ));
        let (mut io, _slot) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("a connection after the errors")
            .unwrap();
        assert!(calls.load(Ordering::SeqCst) >= 7);
        // The connection is the one the listener handed out after its six errors.
        assert_eq!(peers.lock().unwrap().len(), 1);
        let mut theirs = peers.lock().unwrap().pop().unwrap();
        theirs.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        stop.notify_one();
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_cap_is_accepted_until_a_slot_frees() {
        let calls = Arc::new(AtomicUsize::new(0));
        let listener = Flaky {
            calls: calls.clone(),
            errors: 0,
            max_calls: 100,
            reached: None,
            peers: Arc::default(),
        };
        let slots = Arc::new(Mutex::new(Vec::new()));
        let held = slots.clone();
        let stop = Arc::new(Notify::new());
        tokio::spawn(accept_loop(listener, 3, stop.clone(), move |_, _, slot| {
            held.lock().unwrap().push(slot);
        }));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(slots.lock().unwrap().len(), 3);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "accept is not called while full"
        );
        slots.lock().unwrap().pop();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(slots.lock().unwrap().len(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        stop.notify_one();
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_times_out() {
        let (ours, _theirs) = tokio::io::duplex(16);
        let mut guarded = WriteGuard::new(ours, Duration::from_secs(5));
        // The peer reads nothing: the 16-byte buffer fills and the write stalls.
        let err = tokio::time::timeout(Duration::from_secs(60), guarded.write_all(&[7u8; 64]))
            .await
            .expect("the guard ends the write")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // A reading peer is not cut off.
        let (ours, mut reader) = tokio::io::duplex(16);
        let mut guarded = WriteGuard::new(ours, Duration::from_secs(5));
        let read = tokio::spawn(async move {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).await.unwrap();
            all.len()
        });
        guarded.write_all(&[7u8; 64]).await.unwrap();
        guarded.shutdown().await.unwrap();
        drop(guarded);
        assert_eq!(read.await.unwrap(), 64);
    }
}

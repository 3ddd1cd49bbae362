//! Answers written piece by piece: a producer on a blocking thread writes the body
//! into a small bounded channel while the connection sends it, so a large answer (the
//! view of a batch of 10,000 keys: tens of megabytes of JSON) is never held whole in
//! memory, and a slow client slows the producer down instead of piling chunks up.
//!
//! The status and headers leave before the body is written: a producer that fails
//! part-way cuts the connection (the client sees a truncated body, never a
//! complete-looking one) and the failure is logged. A client that goes away stops the
//! producer at its next chunk.

use bytes::Bytes;
use hyper::body::{Body, Frame};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Bytes gathered before a chunk is handed to the connection.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the producer and the connection.
const CHANNEL_CHUNKS: usize = 4;

/// What writes a streamed answer's body, on a blocking thread.
pub type Producer = Box<dyn FnOnce(&mut ChunkWriter) -> io::Result<()> + Send>;

/// The producer of a streamed answer; it runs once, when the answer is sent.
#[derive(Clone)]
pub struct Streamed(Arc<Mutex<Option<Producer>>>);

impl Streamed {
    /// Wraps `producer`.
    pub fn new(producer: Producer) -> Self {
        Streamed(Arc::new(Mutex::new(Some(producer))))
    }

    /// The producer, the first time only.
    pub(crate) fn take(&self) -> Option<Producer> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl fmt::Debug for Streamed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Streamed")
    }
}

/// The writer a producer writes its body to: bytes are gathered into chunks of
/// [`CHUNK_BYTES`] and handed to the connection, waiting while the channel is full.
#[derive(Debug)]
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl ChunkWriter {
    fn send_chunk(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send_chunk()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_chunk()
    }
}

/// The body a producer feeds through the channel.
#[derive(Debug)]
pub struct ChannelBody(mpsc::Receiver<io::Result<Bytes>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }
}

/// Starts `producer` on a blocking thread of the runtime and returns the body it
/// feeds. Must be called inside the runtime.
pub(crate) fn start(producer: Producer) -> ChannelBody {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            buf: Vec::with_capacity(CHUNK_BYTES),
            tx: tx.clone(),
        };
        let result = producer(&mut writer).and_then(|()| writer.send_chunk());
        if let Err(e) = result {
            if e.kind() == io::ErrorKind::BrokenPipe {
                tracing::debug!("the client went away during a streamed answer");
            } else {
                tracing::error!(error = %e, "a streamed answer failed part-way: the connection is cut");
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    ChannelBody(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    #[tokio::test]
    async fn a_producer_is_sent_in_chunks_and_a_failure_cuts_the_body() {
        let body = start(Box::new(|w| {
            for i in 0..20_000u32 {
                write!(w, "{i},")?;
            }
            Ok(())
        }));
        let mut frames = 0;
        let mut text = Vec::new();
        let mut body = body;
        while let Some(frame) = body.frame().await {
            frames += 1;
            text.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        let expected: String = (0..20_000u32).map(|i| format!("{i},")).collect();
        assert_eq!(String::from_utf8(text).unwrap(), expected);
        assert!(frames >= expected.len() / CHUNK_BYTES, "{frames} frames");

        let failed = start(Box::new(|w| {
            w.write_all(b"{\"items\":[")?;
            Err(io::Error::other("the store failed"))
        }));
        let e = failed.collect().await.unwrap_err();
        assert_eq!(e.to_string(), "the store failed");

        // Taken once: a clone of an answer cannot run its producer twice.
        let s = Streamed::new(Box::new(|_| Ok(())));
        assert!(s.clone().take().is_some());
        assert!(s.take().is_none());
    }
}

//! Reading a handshake against a deadline for the whole of it, not for
//! each read: a peer that sends one byte a second (or nothing) must not
//! hold a connection, its thread and its descriptor forever.

use std::io::{self, Read};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A stream whose reads can be bounded in time.
pub(crate) trait TimedRead: Read {
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()>;
}

impl TimedRead for TcpStream {
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, d)
    }
}

impl TimedRead for UnixStream {
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, d)
    }
}

/// Reads from a stream that fail with `TimedOut` once `until` has passed,
/// however the bytes trickle in. The stream keeps the last read timeout
/// set here: the caller sets the one it wants afterwards.
pub(crate) struct Deadline<'a, S: TimedRead> {
    stream: &'a mut S,
    until: Instant,
}

impl<'a, S: TimedRead> Deadline<'a, S> {
    pub(crate) fn new(stream: &'a mut S, within: Duration) -> Self {
        Deadline { stream, until: Instant::now() + within }
    }
}

/// Whether `e` is a read that ran out of time (a deadline's, or a socket
/// timeout's `WouldBlock`).
pub(crate) fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

impl<S: TimedRead> Read for Deadline<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the deadline passed"));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_trickle_of_bytes_does_not_outlive_the_deadline() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            // One byte every 50 ms: each read is quick, the whole is not.
            for _ in 0..40 {
                if b.write_all(&[1]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut buf = [0u8; 100];
        let e = Deadline::new(&mut a, Duration::from_millis(300)).read_exact(&mut buf).unwrap_err();
        // Timed out, not ended by the trickle's end (an unexpected EOF).
        assert!(timed_out(&e), "{e}");
        drop(a);
        writer.join().unwrap();
    }
}

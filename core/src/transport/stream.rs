//! The byte stream under a link: plain TCP or rustls over TCP, driven
//! without blocking by the link's one thread (`links.rs`), which owns the
//! socket and the TLS connection: no lock is shared around a TLS session
//! between a reader and a writer (issue 17). The thread waits with
//! `poll(2)` on the socket and on a [`Waker`] that the node thread pokes
//! after queuing bytes for the link.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls::Connection;

use crate::transport::session::PeerIdentity;

/// Most plaintext bytes read in one [`LinkStream::pull`]: the session frames
/// them before more are read, so a flooding peer cannot grow this node's
/// memory past a bound.
const PULL_MAX: usize = 256 << 10;
/// rustls' own buffers (plaintext waiting for the handshake or for
/// encryption, and received plaintext not yet read) are bounded by this.
const TLS_BUFFER: usize = 256 << 10;

/// How a link's bytes travel.
pub(crate) enum LinkStream {
    Plain(TcpStream),
    Tls {
        sock: TcpStream,
        tls: Box<Connection>,
        /// Whether the first byte from the peer was seen (checked to be a
        /// TLS record, so a plain hello gets a plain refusal).
        seen_first: bool,
        /// Ciphertext read from the socket in one syscall (rustls' own
        /// `read_tls` would take 4 KB per call), then fed to rustls.
        raw: Vec<u8>,
    },
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pulled {
    /// The connection is open (maybe nothing was read).
    Open,
    /// The peer closed it.
    Eof,
    /// An acceptor expecting TLS got a plain hello.
    NotTls,
}

impl LinkStream {
    /// A stream over `sock`, which is made nonblocking.
    pub(crate) fn new(sock: TcpStream, tls: Option<Connection>) -> io::Result<LinkStream> {
        sock.set_nonblocking(true)?;
        let _ = sock.set_nodelay(true);
        Ok(match tls {
            None => LinkStream::Plain(sock),
            Some(mut tls) => {
                tls.set_buffer_limit(Some(TLS_BUFFER));
                LinkStream::Tls { sock, tls: Box::new(tls), seen_first: false, raw: vec![0; 64 << 10] }
            }
        })
    }

    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            LinkStream::Plain(s) => s,
            LinkStream::Tls { sock, .. } => sock,
        }
    }

    /// "tls" or "insecure", for `rtr show link`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            LinkStream::Plain(_) => "insecure",
            LinkStream::Tls { .. } => "tls",
        }
    }

    /// Whether the transport's own handshake is over (plain: always).
    pub(crate) fn ready(&self) -> bool {
        match self {
            LinkStream::Plain(_) => true,
            LinkStream::Tls { tls, .. } => !tls.is_handshaking(),
        }
    }

    /// Who the transport authenticated the peer as (TLS: its verified
    /// end-entity certificate, once the handshake is over).
    pub(crate) fn identity(&self) -> PeerIdentity {
        match self {
            LinkStream::Tls { tls, .. } => match tls.peer_certificates().and_then(|c| c.first()) {
                Some(c) => PeerIdentity::Certified(c.clone().into_owned()),
                None => PeerIdentity::Unchecked,
            },
            LinkStream::Plain(_) => PeerIdentity::Unchecked,
        }
    }

    /// Read what is there (plaintext, at most [`PULL_MAX`]) into `sink`.
    /// An error is the connection's end (a TLS error, its alert sent when
    /// the socket takes it).
    pub(crate) fn pull(&mut self, buf: &mut [u8], sink: &mut dyn FnMut(&[u8])) -> io::Result<Pulled> {
        let mut got = 0;
        match self {
            LinkStream::Plain(sock) => {
                while got < PULL_MAX {
                    match sock.read(buf) {
                        Ok(0) => return Ok(Pulled::Eof),
                        Ok(n) => {
                            got += n;
                            sink(&buf[..n]);
                            if n < buf.len() {
                                // A short read: the socket is drained for
                                // now (poll says when there is more), no
                                // read just to hear EAGAIN.
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(Pulled::Open)
            }
            LinkStream::Tls { sock, tls, seen_first, raw } => {
                if !*seen_first {
                    let mut first = [0u8; 1];
                    match sock.peek(&mut first) {
                        Ok(0) => return Ok(Pulled::Eof),
                        Ok(_) => {
                            *seen_first = true;
                            // 0x16: a TLS handshake record. A server that
                            // gets anything else met a plain peer.
                            if first[0] != 0x16 && matches!(**tls, Connection::Server(_)) {
                                return Ok(Pulled::NotTls);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Pulled::Open),
                        Err(e) => return Err(e),
                    }
                }
                while got < PULL_MAX {
                    let n = match sock.read(raw) {
                        Ok(0) => return Ok(Pulled::Eof),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    let mut cipher = &raw[..n];
                    while !cipher.is_empty() {
                        tls.read_tls(&mut cipher)?;
                        let state = match tls.process_new_packets() {
                            Ok(s) => s,
                            Err(e) => {
                                // Send the alert (best effort) before closing.
                                let _ = tls.write_tls(sock);
                                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}")));
                            }
                        };
                        let mut plain = state.plaintext_bytes_to_read();
                        let closed = state.peer_has_closed();
                        while plain > 0 {
                            let take = plain.min(buf.len());
                            let m = tls.reader().read(&mut buf[..take])?;
                            if m == 0 {
                                break;
                            }
                            plain -= m;
                            got += m;
                            sink(&buf[..m]);
                        }
                        if closed {
                            return Ok(Pulled::Eof);
                        }
                    }
                    if n < raw.len() {
                        break; // drained for now, as for plain TCP
                    }
                }
                Ok(Pulled::Open)
            }
        }
    }

    /// Take plaintext to send; how many bytes were taken (0: the transport
    /// is full for now, wait for the socket to be writable).
    pub(crate) fn push(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        match self {
            LinkStream::Plain(sock) => match sock.write(data) {
                Ok(n) => Ok(n),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(0),
                Err(e) => Err(e),
            },
            LinkStream::Tls { tls, .. } => match tls.writer().write(data) {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) => Err(e),
            },
        }
    }

    /// Write out what the transport holds (TLS records), as far as the
    /// socket takes it.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if let LinkStream::Tls { sock, tls, .. } = self {
            while tls.wants_write() {
                match tls.write_tls(sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Whether the transport holds bytes the socket did not take yet.
    pub(crate) fn wants_write(&self) -> bool {
        match self {
            LinkStream::Plain(_) => false,
            LinkStream::Tls { tls, .. } => tls.wants_write(),
        }
    }

    /// Close politely where that means something (TLS close_notify).
    pub(crate) fn close(&mut self) {
        if let LinkStream::Tls { sock, tls, .. } = self {
            tls.send_close_notify();
            let _ = tls.write_tls(sock);
        }
        let _ = self.socket().shutdown(std::net::Shutdown::Both);
    }
}

/// A file descriptor that wakes the link thread's `poll` (an eventfd), with
/// a flag so that a burst of sends between two waits costs one write.
pub(crate) struct Waker {
    fd: OwnedFd,
    armed: AtomicBool,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; its result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        Ok(Waker { fd: unsafe { OwnedFd::from_raw_fd(fd) }, armed: AtomicBool::new(false) })
    }

    /// Wake the thread (unless a wake is already pending).
    pub(crate) fn wake(&self) {
        if self.armed.swap(true, Ordering::SeqCst) {
            return;
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Called by the woken thread before it looks at what was queued: a
    /// send after this wakes it again. (A sender that armed the flag
    /// before this may write the eventfd after it: [`wait`] then returns
    /// at once and clears the eventfd, so no wake-up is lost and none
    /// spins.)
    pub(crate) fn reset(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Clear the eventfd (it was readable).
    fn clear(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own eventfd.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Wait until `sock` is readable (or writable, when `want_write`), the
/// waker is poked, or `timeout` passes. True when the socket has something
/// to read (or has ended).
pub(crate) fn wait(sock: &TcpStream, want_write: bool, waker: &Waker, timeout: Option<Duration>) -> io::Result<bool> {
    let mut events = libc::POLLIN;
    if want_write {
        events |= libc::POLLOUT;
    }
    let mut fds = [
        libc::pollfd { fd: sock.as_raw_fd(), events, revents: 0 },
        libc::pollfd { fd: waker.raw(), events: libc::POLLIN, revents: 0 },
    ];
    // Rounded up: a deadline 0.4 ms away must not spin with timeout 0.
    let ms = timeout.map_or(-1, |t| t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32);
    // SAFETY: `fds` is a live array of two pollfd for the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    if fds[1].revents & libc::POLLIN != 0 {
        waker.clear();
    }
    Ok(fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
}

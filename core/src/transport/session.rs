//! One node-to-node link as a sans-I/O state machine: bytes in, events
//! out; frames queued, bytes out; the handshake, ping and inactivity timer
//! decided from the `now` values the caller passes.
//!
//! No sockets, threads, clocks or files here: the driver in `links.rs`
//! owns the connection (plain TCP or TLS, `transport/stream.rs`), feeds
//! what it reads to [`Session::receive`], writes what
//! [`Session::pending_output`] holds, and calls [`Session::tick`] when
//! [`Session::next_deadline`] comes. So every rule of the link protocol is
//! tested here without a process or a socket, and the same session can be
//! driven by the simulator or by any other transport.
//!
//! Handshake (both sides start at once, no frame of either side is read
//! before its own is queued):
//! - the dialler queues `Hello` and waits for `Welcome` (checked with
//!   [`FacilityTable::agree`]) or `Refuse`;
//! - the acceptor waits for the whole `Hello` within the hello timeout,
//!   checks it (version, the node it names, a name or id clash, the name
//!   the peer's certificate gives when the transport authenticated one,
//!   then `agree`) and queues `Welcome` or `Refuse`.
//!
//! Invariant: no `Msg` event is produced before the `Up` event of the
//! link, and none after a `Down`: the driver registers the link (and tells
//! the node) on `Up`, so the node never sees a message of a link it does
//! not know.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::facility::{FacilityTable, Roles};
use crate::node::Internal;
use crate::protocol::peer::{self, FacilityClaim, PeerFrame, MAX_PEER_FRAME, PEER_VERSION};

/// How long a dialled handshake may take (connect excluded).
pub const HANDSHAKE_WAIT: Duration = Duration::from_secs(5);
/// The shortest ping period, whatever the inactivity timer.
const MIN_PING: Duration = Duration::from_millis(100);

/// Who the transport says the peer is.
#[derive(Clone, Debug)]
pub enum PeerIdentity {
    /// Plain TCP (`--insecure-links`): the peer is who it says it is.
    Unchecked,
    /// TLS: the peer's end-entity certificate, already verified to chain
    /// to the cluster's CA; the node name in its hello must be one the
    /// certificate is valid for.
    Certified(rustls::pki_types::CertificateDer<'static>),
}

/// The timers of a link.
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    /// A link that hears nothing for this long is closed.
    pub inactivity: Duration,
    /// The acceptor's bound on the whole hello (and the transport's own
    /// handshake before it); the dialler waits [`HANDSHAKE_WAIT`].
    pub hello_timeout: Duration,
}

/// What happened on the link, in order.
#[derive(Debug)]
pub enum Event {
    /// The handshake succeeded: the peer's name and the facilities the two
    /// nodes agree on, with the peer's roles in each.
    Up { name: String, agreed: BTreeMap<String, Roles> },
    /// A message from the peer (only between `Up` and `Down`).
    Msg(Internal),
    /// The link is over; nothing more comes. A refusal's frame may still
    /// be in [`Session::pending_output`]: the driver writes it if it can.
    Down(Down),
}

/// Why a link ended (or never came up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    /// Acceptor: the peer did not complete its hello in time.
    HelloTimeout,
    /// Acceptor: the peer's hello was refused (the `Refuse` frame with the
    /// public text is queued). `from` is the name it claimed; `noted`: the
    /// refusal concerns a configured peer and belongs in `rtr show link`.
    Refused { from: String, code: &'static str, why: String, noted: bool },
    /// Acceptor: what came instead of a hello could not be read as one
    /// (a bad length, a corrupt frame, a TLS handshake to a plain node).
    BadHello(String),
    /// The handshake failed: refused by the peer, an unexpected answer, a
    /// timeout, the connection closed.
    Failed(String),
    /// The link was up and ended.
    Ended(String),
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Down::HelloTimeout => write!(f, "no hello in time"),
            Down::Refused { from, code, why, .. } => write!(f, "refused a link from {from}: {code}, {why}"),
            Down::BadHello(w) => write!(f, "bad hello: {w}"),
            Down::Failed(w) | Down::Ended(w) => f.write_str(w),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Dialler: `Hello` queued, waiting for the answer.
    AwaitWelcome,
    /// Acceptor: waiting for the peer's `Hello`.
    AwaitHello,
    Up,
    Closed,
}

/// The state of one link (one connection; a reconnect is a new session).
pub struct Session {
    me: String,
    node_id: u32,
    /// The definitions the handshake is checked against (a snapshot taken
    /// when the connection was made).
    table: FacilityTable,
    /// Dialler: the node dialled.
    peer: Option<String>,
    identity: PeerIdentity,
    phase: Phase,
    timers: Timers,
    /// The handshake must end by then.
    handshake_until: Instant,
    last_heard: Instant,
    last_queued: Instant,
    /// Received bytes not yet framed; `inpos` bytes of it consumed.
    input: Vec<u8>,
    inpos: usize,
    /// Bytes to write; `outpos` bytes of it written.
    output: Vec<u8>,
    outpos: usize,
    /// Set when the session ended; returned once as `Event::Down`.
    down: Option<Down>,
    down_reported: bool,
    /// Up: the peer's name.
    name: Option<String>,
    /// The peer's side ended (why), taken once the frames before it are.
    peer_closed: Option<String>,
}

impl Session {
    /// The dialling side of a link to `peer`: `Hello` is queued at once.
    pub fn dial(me: &str, node_id: u32, table: FacilityTable, peer: &str, timers: Timers, now: Instant) -> Session {
        let hello = PeerFrame::Hello {
            version: u32::from(PEER_VERSION),
            from: me.to_string(),
            to: peer.to_string(),
            node_id,
            facilities: table.claims(),
        };
        let mut s = Session::new(me, node_id, table, Some(peer.to_string()), timers, now, Phase::AwaitWelcome);
        s.handshake_until = now + HANDSHAKE_WAIT;
        s.output = peer::encode(&hello);
        s
    }

    /// The accepting side of a link: waits for the peer's `Hello`, whole,
    /// within the hello timeout (counted from `now`, the accept).
    pub fn accept(me: &str, node_id: u32, table: FacilityTable, timers: Timers, now: Instant) -> Session {
        Session::new(me, node_id, table, None, timers, now, Phase::AwaitHello)
    }

    fn new(
        me: &str,
        node_id: u32,
        table: FacilityTable,
        peer: Option<String>,
        timers: Timers,
        now: Instant,
        phase: Phase,
    ) -> Session {
        Session {
            me: me.to_string(),
            node_id,
            table,
            peer,
            identity: PeerIdentity::Unchecked,
            phase,
            timers,
            handshake_until: now + timers.hello_timeout,
            last_heard: now,
            last_queued: now,
            input: Vec::new(),
            inpos: 0,
            output: Vec::new(),
            outpos: 0,
            down: None,
            down_reported: false,
            name: None,
            peer_closed: None,
        }
    }

    /// Who the transport authenticated the peer as (set by the driver once
    /// the TLS handshake is over, before any of the peer's bytes reach the
    /// session).
    pub fn set_identity(&mut self, identity: PeerIdentity) {
        self.identity = identity;
    }

    /// Whether the link is up.
    pub fn is_up(&self) -> bool {
        self.phase == Phase::Up
    }

    /// Whether the session has ended (its `Down` event may still be due).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Bytes read from the peer. Framing happens in [`Session::poll_event`].
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        if self.phase == Phase::Closed || self.peer_closed.is_some() || bytes.is_empty() {
            return;
        }
        self.last_heard = now;
        if self.inpos > 0 && self.inpos == self.input.len() {
            self.input.clear();
            self.inpos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Bytes of the peer's that are not yet a whole frame or not yet taken
    /// as events: the driver stops reading past a bound.
    pub fn buffered_input(&self) -> usize {
        self.input.len() - self.inpos
    }

    /// The connection ended on the peer's side (closed, or the transport
    /// failed: `why`). The whole frames received before are still taken as
    /// events (a refusal, then the close); the end follows them.
    pub fn peer_closed(&mut self, why: Option<String>) {
        if self.peer_closed.is_none() {
            self.peer_closed = Some(why.unwrap_or_else(|| "closed by the peer".into()));
        }
    }

    /// End the session now, for `why` (this node's side: stopping, a write
    /// that failed); frames not yet taken are dropped.
    pub fn closed(&mut self, why: Option<String>) {
        let why = why.unwrap_or_else(|| "closed by the peer".into());
        match self.phase {
            Phase::Closed => {}
            Phase::Up => self.end(Down::Ended(why)),
            Phase::AwaitWelcome => self.end(Down::Failed(format!("no answer to hello: {why}"))),
            Phase::AwaitHello => self.end(Down::Failed(format!("no hello: {why}"))),
        }
    }

    /// Whole frames (already encoded, length prefixes included) from the
    /// node to the peer. Ignored unless the link is up.
    pub fn queue(&mut self, frames: &[u8], now: Instant) {
        if self.phase != Phase::Up {
            return;
        }
        self.push(frames);
        self.last_queued = now;
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.outpos > 0 && self.outpos == self.output.len() {
            self.output.clear();
            self.outpos = 0;
        }
        self.output.extend_from_slice(bytes);
    }

    /// What is to be written, in order.
    pub fn pending_output(&self) -> &[u8] {
        &self.output[self.outpos..]
    }

    /// `n` bytes of [`Session::pending_output`] were written.
    pub fn advance_output(&mut self, n: usize) {
        self.outpos = (self.outpos + n).min(self.output.len());
        if self.outpos == self.output.len() {
            self.output.clear();
            self.outpos = 0;
        } else if self.outpos > (1 << 20) && self.outpos * 2 > self.output.len() {
            self.output.drain(..self.outpos);
            self.outpos = 0;
        }
    }

    /// When [`Session::tick`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed => None,
            Phase::AwaitHello | Phase::AwaitWelcome => Some(self.handshake_until),
            Phase::Up => {
                let ping = self.last_queued + self.ping_every();
                Some(ping.min(self.last_heard + self.timers.inactivity))
            }
        }
    }

    fn ping_every(&self) -> Duration {
        (self.timers.inactivity / 3).max(MIN_PING)
    }

    /// Time passed: the handshake deadline, the inactivity timer, a ping
    /// when nothing was queued for a third of the inactivity time.
    pub fn tick(&mut self, now: Instant) {
        match self.phase {
            Phase::Closed => {}
            Phase::AwaitHello if now >= self.handshake_until => self.end(Down::HelloTimeout),
            Phase::AwaitWelcome if now >= self.handshake_until => {
                let s = HANDSHAKE_WAIT.as_secs();
                self.end(Down::Failed(format!("no answer to hello within {s} s")))
            }
            Phase::AwaitHello | Phase::AwaitWelcome => {}
            Phase::Up => {
                if now.saturating_duration_since(self.last_heard) >= self.timers.inactivity {
                    let s = self.timers.inactivity.as_secs_f64();
                    self.end(Down::Ended(format!("nothing heard for {s} s (inactivity timer)")));
                } else if now.saturating_duration_since(self.last_queued) >= self.ping_every() {
                    self.push(&peer::encode(&PeerFrame::Ping));
                    self.last_queued = now;
                }
            }
        }
    }

    fn end(&mut self, why: Down) {
        self.phase = Phase::Closed;
        if self.down.is_none() {
            self.down = Some(why);
        }
    }

    /// The next event: frames are taken one at a time, so the driver acts
    /// on `Up` before any message after it.
    pub fn poll_event(&mut self) -> Option<Event> {
        while self.phase != Phase::Closed {
            match self.next_frame() {
                Ok(None) => {
                    if let Some(why) = self.peer_closed.take() {
                        self.closed(Some(why));
                    }
                    break;
                }
                Ok(Some(frame)) => {
                    if let Some(ev) = self.on_frame(frame) {
                        return Some(ev);
                    }
                }
                Err(why) => {
                    let down = match self.phase {
                        Phase::Up => Down::Ended(why),
                        Phase::AwaitHello => Down::BadHello(why),
                        _ => Down::Failed(why),
                    };
                    self.end(down);
                }
            }
        }
        if self.phase == Phase::Closed && !self.down_reported {
            self.down_reported = true;
            return self.down.clone().map(Event::Down);
        }
        None
    }

    /// One whole frame off the input, if there is one.
    fn next_frame(&mut self) -> Result<Option<PeerFrame>, String> {
        let avail = &self.input[self.inpos..];
        if self.phase == Phase::AwaitHello && avail.len() >= 2 && avail[0] == 0x16 && avail[1] == 0x03 {
            // A TLS record where a hello's length should be.
            return Err("a TLS handshake, but this node has no TLS configured (insecure links)".into());
        }
        if avail.len() < 4 {
            return Ok(None);
        }
        let n = u32::from_le_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if n > MAX_PEER_FRAME {
            return Err(format!("bad frame: frame of {n} bytes exceeds the limit of {MAX_PEER_FRAME}"));
        }
        if n < 2 {
            return Err(format!("bad frame: frame of {n} bytes is too short"));
        }
        if avail.len() < 4 + n {
            return Ok(None);
        }
        let frame = peer::decode(&avail[4..4 + n]).map_err(|e| format!("bad frame: {e}"));
        self.inpos += 4 + n;
        if self.inpos == self.input.len() {
            self.input.clear();
            self.inpos = 0;
        }
        frame.map(Some)
    }

    fn on_frame(&mut self, frame: PeerFrame) -> Option<Event> {
        match (self.phase, frame) {
            (Phase::Up, PeerFrame::Msg(m)) => Some(Event::Msg(m)),
            (Phase::Up, PeerFrame::Ping) => None,
            (Phase::Up, other) => {
                self.end(Down::Ended(format!("unexpected frame {}", frame_kind(&other))));
                None
            }
            (Phase::AwaitHello, PeerFrame::Hello { version, from, to, node_id, facilities }) => {
                match self.check_hello(version, &from, &to, node_id, &facilities) {
                    Ok(agreed) => {
                        let welcome = PeerFrame::Welcome {
                            from: self.me.clone(),
                            node_id: self.node_id,
                            facilities: self.table.claims(),
                        };
                        self.push(&peer::encode(&welcome));
                        Some(self.up(from, agreed))
                    }
                    Err((code, why, noted)) => {
                        // The full reason names nodes and facility
                        // definitions: it stays in this node's log; the
                        // peer, not (yet) known to be a configured node,
                        // hears only the code (and, when configured here,
                        // which role lists differ).
                        let mut public = refusal_text(code).to_string();
                        if code == "ROLESMISMATCH" {
                            let lists = self.table.mismatch_for_peer(&from, &facilities);
                            if !lists.is_empty() {
                                public = format!("{public}: {}", lists.join("; "));
                            }
                        }
                        self.push(&peer::encode(&PeerFrame::Refuse { code: code.into(), reason: public }));
                        self.end(Down::Refused { from, code, why, noted });
                        None
                    }
                }
            }
            (Phase::AwaitWelcome, PeerFrame::Welcome { from, node_id, facilities }) => {
                let peer = self.peer.clone().unwrap_or_default();
                let checked = if from != peer {
                    Err(format!("the peer is node {from}, not {peer}"))
                } else if node_id == self.node_id {
                    Err(format!("IDCLASH, node {from} has the same id ({node_id:#x}) as this node"))
                } else {
                    self.table.agree(&peer, &facilities).map_err(|(code, why)| format!("{code}, {why}"))
                };
                match checked {
                    Ok(agreed) => Some(self.up(peer, agreed)),
                    Err(why) => {
                        self.end(Down::Failed(why));
                        None
                    }
                }
            }
            (Phase::AwaitWelcome, PeerFrame::Refuse { code, reason }) => {
                let peer = self.peer.clone().unwrap_or_default();
                self.end(Down::Failed(format!("refused by {peer}: {code}, {reason}")));
                None
            }
            (Phase::AwaitWelcome, other) => {
                self.end(Down::Failed(format!("unexpected answer to hello: {}", frame_kind(&other))));
                None
            }
            (Phase::AwaitHello, other) => {
                self.end(Down::Failed(format!("the link began with {} instead of a hello", frame_kind(&other))));
                None
            }
            (Phase::Closed, _) => None,
        }
    }

    fn up(&mut self, name: String, agreed: BTreeMap<String, Roles>) -> Event {
        self.phase = Phase::Up;
        self.name = Some(name.clone());
        Event::Up { name, agreed }
    }

    /// The acceptor's checks of a hello, in order; a refusal gives its
    /// code, the full reason (for this node's log) and whether it is about
    /// a configured peer (then `rtr show link` shows it).
    #[allow(clippy::type_complexity)]
    fn check_hello(
        &self,
        version: u32,
        from: &str,
        to: &str,
        node_id: u32,
        facilities: &[FacilityClaim],
    ) -> Result<BTreeMap<String, Roles>, (&'static str, String, bool)> {
        if version != u32::from(PEER_VERSION) {
            return Err(("VERSION", format!("node protocol version {version} is not {PEER_VERSION}"), false));
        }
        if to != self.me {
            return Err(("WRONGNODE", format!("this is node {}, not {to}", self.me), false));
        }
        if node_id == self.node_id || from == self.me {
            let why = format!("node {from} has the same name or id ({node_id:#x}) as this node");
            return Err(("IDCLASH", why, false));
        }
        if let PeerIdentity::Certified(cert) = &self.identity {
            if !crate::transport::tls::cert_names(cert, from) {
                let why = format!("its certificate (signed by this cluster's CA) does not name node {from}");
                return Err(("CERTNAME", why, true));
            }
        }
        self.table.agree(from, facilities).map_err(|(code, why)| (code, why, true))
    }
}

/// A frame's kind for a message (never its content: a peer's bytes do not
/// go to the log whole).
fn frame_kind(f: &PeerFrame) -> &'static str {
    match f {
        PeerFrame::Hello { .. } => "a hello",
        PeerFrame::Welcome { .. } => "a welcome",
        PeerFrame::Refuse { .. } => "a refusal",
        PeerFrame::Ping => "a ping",
        PeerFrame::Msg(_) => "a message",
    }
}

/// What a refused peer is told besides the code: a fixed text per code,
/// revealing no node name, node id or facility definition to a peer that
/// may not be a configured node (issue 17). The acceptor's log and `rtr
/// show link` there keep the full reason.
pub fn refusal_text(code: &str) -> &'static str {
    match code {
        "VERSION" => "node protocol version not supported",
        "WRONGNODE" => "the hello names another node",
        "IDCLASH" => "the node name or id clashes with this node's",
        "NODENOTCFG" => "the node is not configured here",
        "FACNOTDEC" => "no shared facility declared",
        "ROLESMISMATCH" => "facility definitions differ",
        "CERTNAME" => "the certificate does not name the node in the hello",
        "TLSREQUIRED" => "this node accepts TLS links only",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facility::FacilityDef;
    use crate::node::ToRouter;

    const T: Timers = Timers { inactivity: Duration::from_secs(9), hello_timeout: Duration::from_secs(2) };

    fn table(me: &str) -> FacilityTable {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut t = FacilityTable::new(me);
        t.insert(FacilityDef::new("F", &s(&["a"]), &s(&["b"]), &s(&["b"])).unwrap());
        t
    }

    fn msg() -> Internal {
        Internal::Tr(ToRouter::Acked { tids: Vec::new() })
    }

    /// Move everything `from` has to write to `to`.
    fn pipe(from: &mut Session, to: &mut Session, now: Instant) {
        let out = from.pending_output().to_vec();
        from.advance_output(out.len());
        to.receive(&out, now);
    }

    fn events(s: &mut Session) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn up_pair(now: Instant) -> (Session, Session) {
        let mut a = Session::dial("a", 11, table("a"), "b", T, now);
        let mut b = Session::accept("b", 22, table("b"), T, now);
        pipe(&mut a, &mut b, now);
        assert!(matches!(&events(&mut b)[..], [Event::Up { name, .. }] if name == "a"));
        pipe(&mut b, &mut a, now);
        assert!(matches!(&events(&mut a)[..], [Event::Up { name, .. }] if name == "b"));
        (a, b)
    }

    fn down(evs: Vec<Event>) -> Down {
        match evs.into_iter().last() {
            Some(Event::Down(d)) => d,
            other => panic!("not down: {other:?}"),
        }
    }

    #[test]
    fn a_handshake_brings_both_sides_up_and_carries_messages_in_order() {
        let now = Instant::now();
        let (mut a, mut b) = up_pair(now);
        assert!(a.is_up() && b.is_up());
        let m = peer::encode(&PeerFrame::Msg(msg()));
        a.queue(&[m.clone(), m].concat(), now);
        // Byte by byte: frames are whole or not at all.
        let out = a.pending_output().to_vec();
        a.advance_output(out.len());
        let mut got = Vec::new();
        for byte in out {
            b.receive(&[byte], now);
            got.extend(events(&mut b));
        }
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|e| matches!(e, Event::Msg(m) if *m == msg())));
    }

    #[test]
    fn messages_right_behind_the_welcome_come_after_up() {
        let now = Instant::now();
        let mut a = Session::dial("a", 11, table("a"), "b", T, now);
        let mut b = Session::accept("b", 22, table("b"), T, now);
        pipe(&mut a, &mut b, now);
        events(&mut b);
        b.queue(&peer::encode(&PeerFrame::Msg(msg())), now);
        pipe(&mut b, &mut a, now); // the welcome and the message in one read
        let evs = events(&mut a);
        assert!(matches!(&evs[..], [Event::Up { .. }, Event::Msg(_)]), "{evs:?}");
    }

    #[test]
    fn refusals_give_the_acceptor_the_reason_and_the_dialler_the_code_only() {
        let now = Instant::now();
        // "z" is in no facility b defines.
        let mut z = Session::dial("z", 33, FacilityTable::new("z"), "b", T, now);
        let mut b = Session::accept("b", 22, table("b"), T, now);
        pipe(&mut z, &mut b, now);
        match down(events(&mut b)) {
            Down::Refused { from, code, why, noted } => {
                assert_eq!((from.as_str(), code, noted), ("z", "NODENOTCFG", true));
                assert!(why.contains("node z is in no facility"), "{why}");
            }
            d => panic!("{d:?}"),
        }
        assert!(!b.pending_output().is_empty(), "the refusal is still to be written");
        pipe(&mut b, &mut z, now);
        assert_eq!(
            down(events(&mut z)),
            Down::Failed("refused by b: NODENOTCFG, the node is not configured here".into())
        );
        // A hello for another node, and one with our own id.
        for (to, id, code) in [("c", 11, "WRONGNODE"), ("b", 22, "IDCLASH")] {
            let mut a = Session::dial("a", id, table("a"), to, T, now);
            let mut b = Session::accept("b", 22, table("b"), T, now);
            pipe(&mut a, &mut b, now);
            assert!(matches!(down(events(&mut b)), Down::Refused { code: c, noted: false, .. } if c == code));
        }
        // A welcome from another node than the one dialled.
        let mut a = Session::dial("a", 11, table("a"), "c", T, now);
        let w = PeerFrame::Welcome { from: "b".into(), node_id: 22, facilities: table("b").claims() };
        a.receive(&peer::encode(&w), now);
        assert_eq!(down(events(&mut a)), Down::Failed("the peer is node b, not c".into()));
    }

    #[test]
    fn a_hello_in_another_protocol_version_is_refused() {
        let now = Instant::now();
        let mut b = Session::accept("b", 22, table("b"), T, now);
        let hello = PeerFrame::Hello {
            version: 99,
            from: "a".into(),
            to: "b".into(),
            node_id: 11,
            facilities: table("a").claims(),
        };
        b.receive(&peer::encode(&hello), now);
        assert!(matches!(down(events(&mut b)), Down::Refused { code: "VERSION", .. }));
    }

    #[test]
    fn bad_frames_end_the_link_with_the_reason() {
        let now = Instant::now();
        let len = |n: u32| n.to_le_bytes().to_vec();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (len(MAX_PEER_FRAME as u32 + 1), "exceeds the limit"),
            (len(1), "too short"),
            ([len(4), vec![PEER_VERSION, 200, 0, 0]].concat(), "bad frame"),
            ([len(3), vec![9, 4, 0]].concat(), "bad frame"),
        ];
        for (bytes, what) in cases {
            let (mut a, _b) = up_pair(now);
            a.receive(&bytes, now);
            match down(events(&mut a)) {
                Down::Ended(why) => assert!(why.contains(what), "{why}"),
                d => panic!("{d:?}"),
            }
            assert!(a.is_closed());
            // Nothing more comes out of a closed session.
            a.receive(&peer::encode(&PeerFrame::Msg(msg())), now);
            assert!(a.poll_event().is_none());
        }
    }

    #[test]
    fn a_truncated_frame_then_the_close_ends_the_link_without_a_message() {
        let now = Instant::now();
        let (mut a, _b) = up_pair(now);
        let m = peer::encode(&PeerFrame::Msg(msg()));
        a.receive(&m[..m.len() - 1], now);
        assert!(events(&mut a).is_empty());
        a.peer_closed(None);
        let evs = events(&mut a);
        assert!(matches!(&evs[..], [Event::Down(Down::Ended(w))] if w == "closed by the peer"), "{evs:?}");
    }

    #[test]
    fn a_refusal_followed_by_the_close_is_read_before_the_close() {
        let now = Instant::now();
        let mut a = Session::dial("a", 11, table("a"), "b", T, now);
        a.receive(&peer::encode(&PeerFrame::Refuse { code: "FACNOTDEC".into(), reason: "x".into() }), now);
        a.peer_closed(None);
        assert_eq!(down(events(&mut a)), Down::Failed("refused by b: FACNOTDEC, x".into()));
    }

    #[test]
    fn the_acceptor_times_out_a_hello_however_slowly_it_trickles() {
        let t0 = Instant::now();
        let mut b = Session::accept("b", 22, table("b"), T, t0);
        let hello = peer::encode(&PeerFrame::Hello {
            version: u32::from(PEER_VERSION),
            from: "a".into(),
            to: "b".into(),
            node_id: 11,
            facilities: table("a").claims(),
        });
        assert_eq!(b.next_deadline(), Some(t0 + T.hello_timeout));
        for (i, byte) in hello[..hello.len() - 1].iter().enumerate() {
            let now = t0 + Duration::from_millis(i as u64);
            b.receive(&[*byte], now);
            b.tick(now);
            assert!(events(&mut b).is_empty());
        }
        b.tick(t0 + T.hello_timeout);
        assert_eq!(down(events(&mut b)), Down::HelloTimeout);
        // The dialler's own bound.
        let mut a = Session::dial("a", 11, table("a"), "b", T, t0);
        a.tick(t0 + HANDSHAKE_WAIT);
        assert!(matches!(down(events(&mut a)), Down::Failed(w) if w.contains("no answer to hello")));
    }

    #[test]
    fn a_quiet_link_pings_and_a_silent_one_is_dropped_by_the_inactivity_timer() {
        let t0 = Instant::now();
        let (mut a, mut b) = up_pair(t0);
        let ping = peer::encode(&PeerFrame::Ping);
        // Nothing queued for a third of the inactivity time: a ping.
        a.tick(t0 + T.inactivity / 3 - Duration::from_millis(1));
        assert!(a.pending_output().is_empty());
        a.tick(t0 + T.inactivity / 3);
        assert_eq!(a.pending_output(), &ping[..]);
        // The ping keeps b's timer from firing, and makes no event.
        let heard = t0 + T.inactivity / 3;
        pipe(&mut a, &mut b, heard);
        assert!(events(&mut b).is_empty());
        b.tick(t0 + T.inactivity);
        assert!(b.is_up());
        // b pinged at that tick too (it had queued nothing); its next duty
        // is the inactivity timer, counted from the ping it heard.
        assert_eq!(b.pending_output(), &ping[..]);
        assert_eq!(b.next_deadline(), Some(heard + T.inactivity));
        b.tick(heard + T.inactivity);
        match down(events(&mut b)) {
            Down::Ended(why) => assert!(why.contains("inactivity timer"), "{why}"),
            d => panic!("{d:?}"),
        }
        assert_eq!(b.next_deadline(), None);
    }

    #[test]
    fn a_tls_handshake_to_a_plain_acceptor_is_named_as_such() {
        let now = Instant::now();
        let mut b = Session::accept("b", 22, table("b"), T, now);
        b.receive(&[0x16, 0x03, 0x01, 0x02, 0x00], now);
        match down(events(&mut b)) {
            Down::BadHello(why) => assert!(why.contains("TLS handshake") && why.contains("no TLS"), "{why}"),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn with_a_certified_peer_the_hello_must_name_the_certificates_node() {
        let now = Instant::now();
        let cert_for = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let c = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
            c.der().clone()
        };
        // A certificate of "a": a's hello passes.
        let mut a = Session::dial("a", 11, table("a"), "b", T, now);
        let mut b = Session::accept("b", 22, table("b"), T, now);
        b.set_identity(PeerIdentity::Certified(cert_for("a")));
        pipe(&mut a, &mut b, now);
        assert!(matches!(&events(&mut b)[..], [Event::Up { .. }]));
        // A certificate of "x" (valid, of this cluster) claiming to be "a".
        let mut a = Session::dial("a", 11, table("a"), "b", T, now);
        let mut b = Session::accept("b", 22, table("b"), T, now);
        b.set_identity(PeerIdentity::Certified(cert_for("x")));
        pipe(&mut a, &mut b, now);
        match down(events(&mut b)) {
            Down::Refused { from, code, why, noted } => {
                assert_eq!((from.as_str(), code, noted), ("a", "CERTNAME", true));
                assert!(why.contains("does not name node a"), "{why}");
            }
            d => panic!("{d:?}"),
        }
        pipe(&mut b, &mut a, now);
        assert!(matches!(down(events(&mut a)), Down::Failed(w) if w.starts_with("refused by b: CERTNAME")));
    }
}

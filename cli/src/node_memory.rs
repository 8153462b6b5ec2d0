//! `rtr bench --daemon`: the node daemon's resident memory per idle
//! application connection and per transaction in flight.
//!
//! Measured on a real daemon (`rtr start --foreground`, this executable)
//! in a process of its own, so that its `VmRSS` is the node's alone: the
//! growth when `CONNS` applications connect and do nothing, and then when
//! `TXS` client channels each have one transaction in flight (one
//! 100-byte message sent, no server answering: the one server channel
//! never receives). Each figure is read once the daemon's RSS stopped
//! moving (bounded). Resident memory grows in pages and the allocator
//! keeps what it freed, so these are averages over many, not exact sizes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rtr_core::{flags, MsgType, OpenParams, Rtr, Which};

use crate::thread_costs::rss_bytes;

/// Idle connections measured.
const CONNS: usize = 200;
/// Client channels per connection for the in-flight transactions (within
/// the library's 256 channels per connection).
const CHANS_PER_CONN: usize = 250;
/// Transactions in flight measured.
const TXS: usize = 1000;
const WAIT: Duration = Duration::from_secs(10);

/// Bytes per idle connection and per transaction in flight.
pub struct NodeMemory {
    pub per_conn: f64,
    pub per_tx: f64,
}

/// The daemon, killed when dropped (also on an early return).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon's RSS once it stopped changing (three equal readings 50 ms
/// apart, at most 2 s).
fn settled_rss(pid: u32) -> Result<u64, String> {
    let until = Instant::now() + Duration::from_secs(2);
    let mut last = rss_bytes(pid).ok_or("cannot read the daemon's resident memory")?;
    let mut same = 0;
    while same < 3 && Instant::now() < until {
        thread::sleep(Duration::from_millis(50));
        let now = rss_bytes(pid).ok_or("cannot read the daemon's resident memory")?;
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    Ok(last)
}

fn opened(rtr: &Rtr, ch: u32) -> Result<(), String> {
    let m = rtr.receive(&Which::List(vec![ch]), Some(WAIT)).map_err(|e| e.to_string())?;
    if m.sb.msgtype != MsgType::Opened {
        return Err(format!("channel open failed: {}", m.sb.msgtype.name()));
    }
    Ok(())
}

/// Start a daemon in `dir` and measure it.
pub fn measure(dir: &Path) -> Result<NodeMemory, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let socket = dir.join("rtr.sock");
    let child = Command::new(exe)
        .args(["start", "--foreground", "--name", "bench-mem", "--dir"])
        .arg(dir)
        .env_remove(rtr_core::transport::NODE_SOCKET_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start a daemon: {e}"))?;
    let daemon = Daemon(child);
    let pid = daemon.0.id();
    let until = Instant::now() + WAIT;
    let first = loop {
        match Rtr::connect_socket(&socket) {
            Ok(r) => break r,
            Err(_) if Instant::now() < until => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("the daemon did not start: {e}")),
        }
    };
    // The server channel first: the transactions need one to be routed.
    let server_ch = first
        .open_channel(OpenParams { flags: flags::ope::SERVER, ..Default::default() })
        .map_err(|e| e.to_string())?;
    opened(&first, server_ch)?;

    let base = settled_rss(pid)?;
    let mut conns = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        conns.push(first.connect_again().map_err(|e| e.to_string())?);
    }
    let with_conns = settled_rss(pid)?;

    // Client channels on the first few connections, opened before the
    // measurement (an open channel is not a transaction).
    let mut chans = Vec::with_capacity(TXS);
    for (i, rtr) in conns.iter().enumerate().take(TXS.div_ceil(CHANS_PER_CONN)) {
        for _ in 0..CHANS_PER_CONN.min(TXS - i * CHANS_PER_CONN) {
            let ch = rtr
                .open_channel(OpenParams { flags: flags::ope::CLIENT, ..Default::default() })
                .map_err(|e| e.to_string())?;
            chans.push((rtr.clone(), ch));
        }
    }
    for (rtr, ch) in &chans {
        opened(rtr, *ch)?;
    }
    let before_txs = settled_rss(pid)?;
    let msg = [7u8; 100];
    for (rtr, ch) in &chans {
        rtr.send_to_server(*ch, 0, &msg).map_err(|e| e.to_string())?;
    }
    let with_txs = settled_rss(pid)?;
    drop(chans);
    drop(conns);
    drop(first);
    drop(daemon);
    Ok(NodeMemory {
        per_conn: with_conns.saturating_sub(base) as f64 / CONNS as f64,
        per_tx: with_txs.saturating_sub(before_txs) as f64 / TXS as f64,
    })
}

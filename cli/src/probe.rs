//! `rtr probe`: small client and server processes for multi-process tests
//! and for trying a node by hand. They run against a node daemon: the one
//! whose socket `--socket` names, else `RTR_NODE_SOCKET`. Without either
//! they refuse to run: an embedded node of their own would have no other
//! process to talk to, and its client would fail every transaction.
//!
//! Output is one line per event, for tests to read: `opened`, then
//! `accepted <tid>` / `rejected <tid> <status name>` (client) or
//! `committed <tid>` / `rolled-back <tid> <status name>` (server). The
//! client exits 1 when any transaction was rejected.

use std::path::PathBuf;
use std::time::Duration;

use rtr_core::flags;
use rtr_core::transport::NODE_SOCKET_ENV;
use rtr_core::{MsgType, Rtr, RtrError, Which};

use crate::channels;
use crate::status_text;

/// Where the probe finds its node.
#[derive(clap::Args)]
pub struct NodeArg {
    /// The node daemon's socket (`rtr start` prints it: DIR/rtr.sock).
    /// Default: $RTR_NODE_SOCKET. One of the two is required.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

impl NodeArg {
    fn connect(&self) -> Result<Rtr, String> {
        let path = match &self.socket {
            Some(p) => p.clone(),
            None => match std::env::var_os(NODE_SOCKET_ENV) {
                Some(p) if !p.is_empty() => PathBuf::from(p),
                _ => {
                    return Err(format!(
                        "no node daemon given: pass --socket PATH or set {NODE_SOCKET_ENV} \
                         (start one with `rtr start --dir DIR`; its socket is DIR/rtr.sock)"
                    ))
                }
            },
        };
        Rtr::connect_socket(&path).map_err(|e| format!("cannot reach the node daemon at {}: {e}", path.display()))
    }
}

#[derive(clap::Subcommand)]
pub enum ProbeCmd {
    /// Run transactions: each sends one message (key, then text) and
    /// accepts. Exits 1 if any transaction is rejected.
    Client {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long, default_value = "PROBE")]
        facility: String,
        #[arg(long, default_value_t = 10)]
        count: u64,
        /// Key of every message (4-byte unsigned).
        #[arg(long, default_value_t = 1)]
        key: u32,
        /// Pause between transactions, in milliseconds.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
    },
    /// Serve a key range until stopped, voting yes by receiving again.
    Server {
        #[command(flatten)]
        node: NodeArg,
        #[arg(long, default_value = "PROBE")]
        facility: String,
        #[arg(long, default_value_t = 0)]
        lo: u32,
        #[arg(long, default_value_t = u32::MAX)]
        hi: u32,
        /// Stop (without voting) on the first message after this many committed transactions.
        #[arg(long)]
        exit_after: Option<u64>,
    },
}

fn line(s: String) {
    outln!("{s}");
}

fn status_name(code: i32) -> String {
    status_text::name(code)
}

pub fn run(cmd: ProbeCmd) -> Result<(), String> {
    let wait = Some(Duration::from_secs(30));
    match cmd {
        ProbeCmd::Client { node, facility, count, key, pause_ms } => {
            let rtr = &node.connect()?;
            let ch = channels::client(rtr, &facility)?;
            let which = Which::List(vec![ch]);
            line("opened".into());
            let mut rejected = 0u64;
            for i in 0..count {
                let mut msg = key.to_ne_bytes().to_vec();
                msg.extend_from_slice(format!("probe {i}").as_bytes());
                rtr.send_to_server(ch, flags::sen::ACCEPT, &msg).map_err(|e| e.to_string())?;
                let tid = rtr.get_tid(ch, 0).map_err(|e| e.to_string())?;
                loop {
                    let m = rtr.receive(&which, wait).map_err(|e| e.to_string())?;
                    match m.sb.msgtype {
                        MsgType::Accepted => {
                            line(format!("accepted {tid}"));
                            break;
                        }
                        MsgType::Rejected => {
                            let (s, _) = m.status().unwrap_or((0, 0));
                            line(format!("rejected {tid} {}", status_name(s)));
                            rejected += 1;
                            break;
                        }
                        _ => {}
                    }
                }
                if pause_ms > 0 {
                    std::thread::sleep(Duration::from_millis(pause_ms));
                }
            }
            if rejected > 0 {
                return Err(format!("{rejected} of {count} transactions rejected"));
            }
            Ok(())
        }
        ProbeCmd::Server { node, facility, lo, hi, exit_after } => {
            let rtr = &node.connect()?;
            let ch = channels::server(rtr, &facility, lo, hi, 0)?;
            let which = Which::List(vec![ch]);
            line("opened".into());
            let mut committed = 0;
            loop {
                let m = match rtr.receive(&which, None) {
                    Ok(m) => m,
                    Err(RtrError::NodeUnavailable(e)) => return Err(format!("node gone: {e}")),
                    Err(e) => return Err(e.to_string()),
                };
                match m.sb.msgtype {
                    MsgType::Msg1 | MsgType::Msg1Uncertain if exit_after.is_some_and(|n| committed >= n) => {
                        line(format!("exiting holding {}", m.sb.tid));
                        std::process::exit(3);
                    }
                    MsgType::Accepted => {
                        committed += 1;
                        line(format!("committed {}", m.sb.tid));
                    }
                    MsgType::Rejected => {
                        let (s, _) = m.status().unwrap_or((0, 0));
                        line(format!("rolled-back {} {}", m.sb.tid, status_name(s)));
                    }
                    _ => {}
                }
            }
        }
    }
}

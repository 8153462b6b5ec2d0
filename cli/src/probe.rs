//! `rtr probe`: small client and server processes for multi-process tests
//! and for trying a node by hand. They use the process-wide connection, so
//! they run against the node daemon named by `RTR_NODE_SOCKET`, or else
//! against an embedded node of their own.
//!
//! Output is one line per event, for tests to read: `opened`, then
//! `accepted <tid>` / `rejected <tid> <status>` (client) or
//! `committed <tid>` / `rolled-back <tid> <status>` (server).

use std::io::Write;
use std::time::Duration;

use rtr_core::flags;
use rtr_core::{MsgType, Rtr, RtrError, Status, Which};

use crate::channels;

#[derive(clap::Subcommand)]
pub enum ProbeCmd {
    /// Run transactions: each sends one message (key, then text) and accepts.
    Client {
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
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

fn status_name(code: i32) -> &'static str {
    Status::from_code(code).map_or("?", Status::name)
}

pub fn run(cmd: ProbeCmd) -> Result<(), String> {
    let rtr = Rtr::global().map_err(|e| e.to_string())?;
    let wait = Some(Duration::from_secs(30));
    match cmd {
        ProbeCmd::Client { facility, count, key, pause_ms } => {
            let ch = channels::client(rtr, &facility)?;
            let which = Which::List(vec![ch]);
            line("opened".into());
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
                            break;
                        }
                        _ => {}
                    }
                }
                if pause_ms > 0 {
                    std::thread::sleep(Duration::from_millis(pause_ms));
                }
            }
            Ok(())
        }
        ProbeCmd::Server { facility, lo, hi, exit_after } => {
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

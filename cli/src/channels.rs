//! Opening channels for the commands' own workloads (demo, bench, crash
//! test, probes): open, then wait (bounded) for `rtr_mt_opened`.

use std::time::Duration;

use rtr_core::flags;
use rtr_core::keyseg::{KeySegment, KeyType};
use rtr_core::protocol::ChanId;
use rtr_core::{MsgType, OpenParams, Rtr, Which};

/// How long an open may take before the command gives up.
const OPEN_WAIT: Duration = Duration::from_secs(10);

fn opened(rtr: &Rtr, ch: ChanId) -> Result<ChanId, String> {
    let m = rtr.receive(&Which::List(vec![ch]), Some(OPEN_WAIT)).map_err(|e| format!("waiting for the open: {e}"))?;
    match m.sb.msgtype {
        MsgType::Opened => Ok(ch),
        t => Err(format!(
            "channel open failed: {}: {}",
            t.name(),
            crate::status_text::of_message(&m).unwrap_or_else(|| "no status".into())
        )),
    }
}

/// A client channel on `facility`, open.
pub fn client(rtr: &Rtr, facility: &str) -> Result<ChanId, String> {
    let p = OpenParams { flags: flags::ope::CLIENT, facility: Some(facility.into()), ..Default::default() };
    opened(rtr, rtr.open_channel(p).map_err(|e| e.to_string())?)
}

/// A server channel on `facility` for 4-byte unsigned keys `lo..=hi` at offset 0, open.
pub fn server(rtr: &Rtr, facility: &str, lo: u32, hi: u32, extra_flags: u32) -> Result<ChanId, String> {
    let seg = KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&lo.to_ne_bytes()), Some(&hi.to_ne_bytes()))
        .map_err(|e| e.to_string())?;
    let p = OpenParams {
        flags: flags::ope::SERVER | extra_flags,
        facility: Some(facility.into()),
        segments: vec![seg],
        ..Default::default()
    };
    opened(rtr, rtr.open_channel(p).map_err(|e| e.to_string())?)
}

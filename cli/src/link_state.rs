//! A link's state, from the text a node reports for `rtr show link`, as
//! separate fields for `--json`.
//!
//! The admin protocol carries the state as one line of text, written by
//! `rtr_core::transport::links` (`LinkTable::show` and the notes it keeps per
//! peer). This reads back the forms written there; a form it does not know
//! becomes state `"unknown"` with the whole text as the reason, never a
//! failure, so a newer node still shows. The human table prints the text
//! unchanged.

use crate::journal_cmd::Json;

/// One link's state, split into fields.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    /// "up", "down", "connecting", "waiting" (for the peer to connect) or
    /// "unknown" (a text this build cannot read).
    pub state: &'static str,
    /// Seconds the link has been up.
    pub up_s: Option<u64>,
    /// "dialled" (this node connected) or "accepted" (the peer did), for a
    /// link that is up.
    pub direction: Option<&'static str>,
    /// Bytes queued for the peer, for a link that is up.
    pub queued_bytes: Option<u64>,
    /// "tls" (mutual TLS) or "insecure" (plain TCP, `--insecure-links`),
    /// for a link that is up.
    pub security: Option<&'static str>,
    /// Why the link is down, when the node knows.
    pub reason: Option<String>,
    /// When this node dials again, for a link that is down.
    pub retry_ms: Option<u64>,
}

impl LinkState {
    pub fn parse(text: &str) -> LinkState {
        if let Some(rest) = text.strip_prefix("up ") {
            if let Some(up) = parse_up(rest) {
                return up;
            }
        }
        match text {
            "down (connecting)" => return LinkState { state: "connecting", ..Default::default() },
            "down (waiting for it to connect)" => return LinkState { state: "waiting", ..Default::default() },
            _ => {}
        }
        if let Some(why) = text.strip_prefix("down: ") {
            return down(why, None);
        }
        if text.starts_with("refused its link: ") {
            return down(text, None);
        }
        // "down ({why}); retrying in {ms} ms"
        if let Some(rest) = text.strip_prefix("down (") {
            if let Some((why, retry)) = rest.rsplit_once("); retrying in ") {
                if let Some(ms) = retry.strip_suffix(" ms").and_then(|m| m.parse().ok()) {
                    return down(why, Some(ms));
                }
            }
        }
        LinkState { state: "unknown", reason: Some(text.to_string()), ..Default::default() }
    }

    /// The fields, for a row of `rtr show link --json`.
    pub fn fields(&self) -> Vec<(&'static str, Json)> {
        vec![
            ("state", self.state.into()),
            ("up_s", self.up_s.into()),
            ("direction", self.direction.into()),
            ("queued_bytes", self.queued_bytes.into()),
            ("security", self.security.into()),
            ("reason", self.reason.clone().into()),
            ("retry_ms", self.retry_ms.into()),
        ]
    }
}

fn down(why: &str, retry_ms: Option<u64>) -> LinkState {
    LinkState { state: "down", reason: Some(why.to_string()), retry_ms, ..Default::default() }
}

/// "{secs} s ({dialled|accepted}, {tls|insecure}, {n} bytes queued)" (an
/// older node leaves out the security).
fn parse_up(rest: &str) -> Option<LinkState> {
    let (secs, rest) = rest.split_once(" s (")?;
    let (dir, rest) = rest.split_once(", ")?;
    let (security, rest) = match rest.split_once(", ") {
        Some(("tls", r)) => (Some("tls"), r),
        Some(("insecure", r)) => (Some("insecure"), r),
        Some(_) => return None,
        None => (None, rest),
    };
    let queued = rest.strip_suffix(" bytes queued)")?;
    let direction = match dir {
        "dialled" => "dialled",
        "accepted" => "accepted",
        _ => return None,
    };
    Some(LinkState {
        state: "up",
        up_s: Some(secs.parse().ok()?),
        direction: Some(direction),
        queued_bytes: Some(queued.parse().ok()?),
        security,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_the_node_writes_reads_back() {
        assert_eq!(
            LinkState::parse("up 12 s (dialled, 340 bytes queued)"),
            LinkState {
                state: "up",
                up_s: Some(12),
                direction: Some("dialled"),
                queued_bytes: Some(340),
                ..Default::default()
            }
        );
        assert_eq!(LinkState::parse("up 0 s (accepted, 0 bytes queued)").direction, Some("accepted"));
        let tls = LinkState::parse("up 3 s (accepted, tls, 7 bytes queued)");
        assert_eq!((tls.direction, tls.security, tls.queued_bytes), (Some("accepted"), Some("tls"), Some(7)));
        assert_eq!(LinkState::parse("up 3 s (dialled, insecure, 0 bytes queued)").security, Some("insecure"));
        assert_eq!(LinkState::parse("down (connecting)").state, "connecting");
        assert_eq!(LinkState::parse("down (waiting for it to connect)").state, "waiting");
        let d = LinkState::parse("down (connection refused (os error 111)); retrying in 800 ms");
        assert_eq!(
            (d.state, d.reason.as_deref(), d.retry_ms),
            ("down", Some("connection refused (os error 111)"), Some(800))
        );
        let d = LinkState::parse("down: peer closed the connection");
        assert_eq!((d.state, d.reason.as_deref(), d.retry_ms), ("down", Some("peer closed the connection"), None));
        let d = LinkState::parse("refused its link: ROLESMISMATCH, backend differs");
        assert_eq!((d.state, d.reason.as_deref()), ("down", Some("refused its link: ROLESMISMATCH, backend differs")));
    }

    #[test]
    fn unknown_or_malformed_text_is_kept_whole_and_never_panics() {
        for t in [
            "",
            "up",
            "up x s (dialled, 1 bytes queued)",
            "up 1 s (sideways, 1 bytes queued)",
            "up 1 s (dialled, plain, 1 bytes queued)",
            "down (x); retrying in ms",
            "sleeping",
            "up 99999999999999999999999 s (dialled, 0 bytes queued)",
        ] {
            let s = LinkState::parse(t);
            assert_eq!((s.state, s.reason.as_deref()), ("unknown", Some(t)), "{t:?}");
        }
    }
}

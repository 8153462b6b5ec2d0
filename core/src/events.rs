//! Event numbers (`rtr_evtnum_t`): user events, RTR events and the markers of
//! a subscription list. The header generator writes the `RTR_EVTNUM_*`
//! constants from [`ALL_EVENTS`]. Values are ours (the manuals give names):
//! user events 0..=250, RTR events from 256, list markers negative so they
//! never clash with an event.

pub const USERBASE: i32 = 0;
pub const USERMAX: i32 = 250;
pub const RTRBASE: i32 = 256;

/// (C name, value), in header order.
pub const ALL_EVENTS: &[(&str, i32)] = &[
    ("RTR_EVTNUM_USERBASE", USERBASE),
    ("RTR_EVTNUM_USERMAX", USERMAX),
    ("RTR_EVTNUM_RTRBASE", RTRBASE),
    ("RTR_EVTNUM_FACREADY", FACREADY),
    ("RTR_EVTNUM_FACDEAD", FACDEAD),
    ("RTR_EVTNUM_FERTRGAIN", RTRBASE + 2),
    ("RTR_EVTNUM_FERTRLOSS", RTRBASE + 3),
    ("RTR_EVTNUM_RTRFEGAIN", RTRBASE + 4),
    ("RTR_EVTNUM_RTRFELOSS", RTRBASE + 5),
    ("RTR_EVTNUM_RTRBEGAIN", RTRBASE + 6),
    ("RTR_EVTNUM_RTRBELOSS", RTRBASE + 7),
    ("RTR_EVTNUM_BERTRGAIN", RTRBASE + 8),
    ("RTR_EVTNUM_BERTRLOSS", RTRBASE + 9),
    ("RTR_EVTNUM_KEYRANGEGAIN", KEYRANGEGAIN),
    ("RTR_EVTNUM_KEYRANGELOSS", KEYRANGELOSS),
    ("RTR_EVTNUM_SRPRIMARY", SRPRIMARY),
    ("RTR_EVTNUM_SRSTANDBY", RTRBASE + 13),
    ("RTR_EVTNUM_SRSECONDARY", RTRBASE + 14),
    ("RTR_EVTNUM_SRSHADOWLOST", RTRBASE + 15),
    ("RTR_EVTNUM_SRSHADOWGAIN", RTRBASE + 16),
    ("RTR_EVTNUM_SRRECOVERCMPL", SRRECOVERCMPL),
    ("RTR_EVTNUM_RTRMAX", RTRBASE + 17),
    ("RTR_EVTNUM_USERDEF", -1),
    ("RTR_EVTNUM_RTRDEF", -2),
    ("RTR_EVTNUM_UP_TO", -3),
    ("RTR_EVTNUM_ENDLIST", -4),
];

pub const FACREADY: i32 = RTRBASE;
pub const FACDEAD: i32 = RTRBASE + 1;
/// A frontend gained a router (`..LOSS` is the next number).
pub const FERTRGAIN: i32 = RTRBASE + 2;
/// A router gained a frontend.
pub const RTRFEGAIN: i32 = RTRBASE + 4;
/// A router gained a backend.
pub const RTRBEGAIN: i32 = RTRBASE + 6;
/// A backend gained a router.
pub const BERTRGAIN: i32 = RTRBASE + 8;
pub const KEYRANGEGAIN: i32 = RTRBASE + 10;
pub const KEYRANGELOSS: i32 = RTRBASE + 11;
pub const SRPRIMARY: i32 = RTRBASE + 12;
pub const SRSTANDBY: i32 = RTRBASE + 13;
pub const SRSECONDARY: i32 = RTRBASE + 14;
pub const SRSHADOWLOST: i32 = RTRBASE + 15;
pub const SRSHADOWGAIN: i32 = RTRBASE + 16;
pub const SRRECOVERCMPL: i32 = RTRBASE + 17;

/// Longest subscription list accepted (guards against a list without `RTR_EVTNUM_ENDLIST`).
pub const MAX_EVENT_LIST: usize = 4096;

/// The events a channel subscribed to (its `pevtnum` list at open).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Inclusive ranges of event numbers.
    pub ranges: Vec<(i32, i32)>,
}

impl Subscription {
    pub fn wants(&self, evtnum: i32) -> bool {
        self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&evtnum))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

const USERDEF: i32 = -1;
const RTRDEF: i32 = -2;
const UP_TO: i32 = -3;
const ENDLIST: i32 = -4;

/// Parse a subscription list (without its `RTR_EVTNUM_ENDLIST`):
/// `RTR_EVTNUM_USERDEF` alone means every user event and
/// `RTR_EVTNUM_RTRDEF` alone every RTR event; numbers after them pick
/// single events, `a, RTR_EVTNUM_UP_TO, b` a range. A number must be a user
/// event (0..=250) or an RTR event (256..); anything else is an error.
pub fn parse_subscription(list: &[i32]) -> Result<Subscription, String> {
    let valid = |n: i32| (USERBASE..=USERMAX).contains(&n) || (RTRBASE..=RTRBASE + 17).contains(&n);
    let mut ranges = Vec::new();
    let mut i = 0;
    // A class marker followed directly by another marker or the end means "all of that class".
    let all_of = |marker: i32| if marker == USERDEF { (USERBASE, USERMAX) } else { (RTRBASE, RTRBASE + 17) };
    while i < list.len() {
        match list[i] {
            m @ (USERDEF | RTRDEF) => {
                let next = list.get(i + 1).copied();
                if next.is_none_or(|n| n == USERDEF || n == RTRDEF) {
                    ranges.push(all_of(m));
                }
                i += 1;
            }
            UP_TO => return Err(format!("RTR_EVTNUM_UP_TO at position {i} does not follow an event number")),
            ENDLIST => break,
            n if valid(n) => {
                if list.get(i + 1) == Some(&UP_TO) {
                    let Some(&hi) = list.get(i + 2) else {
                        return Err(format!("RTR_EVTNUM_UP_TO after {n} has no upper event number"));
                    };
                    if !valid(hi) || hi < n {
                        return Err(format!("{n} RTR_EVTNUM_UP_TO {hi} is not a range of events"));
                    }
                    ranges.push((n, hi));
                    i += 3;
                } else {
                    ranges.push((n, n));
                    i += 1;
                }
            }
            n => return Err(format!("{n} is not an event number (user events 0-250, RTR events from 256)")),
        }
    }
    Ok(Subscription { ranges })
}

/// Does a broadcast's recipient specification match a channel's recipient
/// name? Case-sensitive; `*` matches any sequence and `?` (or `%`) one
/// character. An empty specification matches channels without a name.
pub fn recipient_matches(spec: &str, name: &str) -> bool {
    fn m(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some('?' | '%'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = spec.chars().collect();
    let s: Vec<char> = name.chars().collect();
    m(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_parse_like_rtr_lists() {
        let all_user = parse_subscription(&[USERDEF]).unwrap();
        assert!(all_user.wants(0) && all_user.wants(250) && !all_user.wants(256));
        let s = parse_subscription(&[USERDEF, 1, UP_TO, 5, 9, RTRDEF, RTRBASE + 12]).unwrap();
        assert!(s.wants(1) && s.wants(5) && s.wants(9) && !s.wants(6) && s.wants(RTRBASE + 12));
        assert!(!s.wants(RTRBASE + 13));
        assert!(parse_subscription(&[]).unwrap().is_empty());
        assert!(parse_subscription(&[251]).is_err());
        assert!(parse_subscription(&[UP_TO, 3]).is_err());
        assert!(parse_subscription(&[3, UP_TO]).is_err());
        assert!(parse_subscription(&[9, UP_TO, 3]).is_err());
        assert!(parse_subscription(&[-9]).is_err());
    }

    #[test]
    fn recipient_wildcards() {
        assert!(recipient_matches("srv*", "srvA"));
        assert!(recipient_matches("s?v%", "srvA"));
        assert!(recipient_matches("*", "anything"));
        assert!(recipient_matches("", ""));
        assert!(!recipient_matches("", "named"));
        assert!(!recipient_matches("SRV*", "srvA"), "case-sensitive");
        assert!(!recipient_matches("srv?", "srv"));
        assert!(recipient_matches("a*b*c", "aXXbYYc"));
    }
}

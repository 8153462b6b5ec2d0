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
    ("RTR_EVTNUM_FACREADY", RTRBASE),
    ("RTR_EVTNUM_FACDEAD", RTRBASE + 1),
    ("RTR_EVTNUM_FERTRGAIN", RTRBASE + 2),
    ("RTR_EVTNUM_FERTRLOSS", RTRBASE + 3),
    ("RTR_EVTNUM_RTRFEGAIN", RTRBASE + 4),
    ("RTR_EVTNUM_RTRFELOSS", RTRBASE + 5),
    ("RTR_EVTNUM_RTRBEGAIN", RTRBASE + 6),
    ("RTR_EVTNUM_RTRBELOSS", RTRBASE + 7),
    ("RTR_EVTNUM_BERTRGAIN", RTRBASE + 8),
    ("RTR_EVTNUM_BERTRLOSS", RTRBASE + 9),
    ("RTR_EVTNUM_KEYRANGEGAIN", RTRBASE + 10),
    ("RTR_EVTNUM_KEYRANGELOSS", RTRBASE + 11),
    ("RTR_EVTNUM_SRPRIMARY", RTRBASE + 12),
    ("RTR_EVTNUM_SRSTANDBY", RTRBASE + 13),
    ("RTR_EVTNUM_SRSECONDARY", RTRBASE + 14),
    ("RTR_EVTNUM_SRSHADOWLOST", RTRBASE + 15),
    ("RTR_EVTNUM_SRSHADOWGAIN", RTRBASE + 16),
    ("RTR_EVTNUM_SRRECOVERCMPL", RTRBASE + 17),
    ("RTR_EVTNUM_RTRMAX", RTRBASE + 17),
    ("RTR_EVTNUM_USERDEF", -1),
    ("RTR_EVTNUM_RTRDEF", -2),
    ("RTR_EVTNUM_UP_TO", -3),
    ("RTR_EVTNUM_ENDLIST", -4),
];

/// Longest subscription list accepted (guards against a list without `RTR_EVTNUM_ENDLIST`).
pub const MAX_EVENT_LIST: usize = 4096;

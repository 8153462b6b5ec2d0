//! Flag values of the C API, one table per call.
//!
//! The header generator writes the `RTR_F_*` constants from these tables, so
//! the values below are the only place they are defined. Each call validates
//! its flags against the mask of the flags it knows; a bit outside the mask is
//! `RTR_STS_INVFLAGS`. A flag that is known but not implemented yet is
//! rejected with `RTR_STS_UNSUPPORTED` by the call, never silently ignored.

/// (C name, value) pairs, for the header generator and for messages.
pub type FlagTable = &'static [(&'static str, u32)];

pub mod ope {
    pub const CLIENT: u32 = 1 << 0;
    pub const SERVER: u32 = 1 << 1;
    pub const NOSTANDBY: u32 = 1 << 2;
    pub const NOCONCURRENT: u32 = 1 << 3;
    pub const SHADOW: u32 = 1 << 4;
    pub const TR_CALL_OUT: u32 = 1 << 5;
    pub const BE_CALL_OUT: u32 = 1 << 6;
    pub const EXPLICIT_PREPARE: u32 = 1 << 7;
    pub const EXPLICIT_ACCEPT: u32 = 1 << 8;
    pub const FOREIGN_TM: u32 = 1 << 9;
    pub const XA_MANAGED: u32 = 1 << 10;
    pub const ALL: u32 = (1 << 11) - 1;
}

pub mod sen {
    pub const ACCEPT: u32 = 1 << 0;
    pub const EXPENDABLE: u32 = 1 << 1;
    pub const READONLY: u32 = 1 << 2;
    pub const RETURN_TO_SENDER: u32 = 1 << 3;
    pub const ALL: u32 = (1 << 4) - 1;
}

pub mod rep {
    pub const ACCEPT: u32 = 1 << 0;
    pub const INDEPENDENT: u32 = 1 << 1;
    pub const FORGET: u32 = 1 << 2;
    pub const ALL: u32 = (1 << 3) - 1;
}

pub mod acc {
    pub const FORGET: u32 = 1 << 0;
    pub const INDEPENDENT: u32 = 1 << 1;
    pub const ALL: u32 = (1 << 2) - 1;
}

pub mod rej {
    pub const RETRY: u32 = 1 << 0;
    pub const ALL: u32 = 1;
}

pub mod clo {
    pub const FORCE: u32 = 1 << 0;
    pub const ALL: u32 = 1;
}

pub mod tid {
    pub const RTR: u32 = 1 << 0;
    pub const DDTM: u32 = 1 << 1;
    pub const ALL: u32 = (1 << 2) - 1;
}

/// Every flag constant of the C API, in header order.
pub const ALL_FLAGS: FlagTable = &[
    ("RTR_F_OPE_CLIENT", ope::CLIENT),
    ("RTR_F_OPE_SERVER", ope::SERVER),
    ("RTR_F_OPE_NOSTANDBY", ope::NOSTANDBY),
    ("RTR_F_OPE_NOCONCURRENT", ope::NOCONCURRENT),
    ("RTR_F_OPE_SHADOW", ope::SHADOW),
    ("RTR_F_OPE_TR_CALL_OUT", ope::TR_CALL_OUT),
    ("RTR_F_OPE_BE_CALL_OUT", ope::BE_CALL_OUT),
    ("RTR_F_OPE_EXPLICIT_PREPARE", ope::EXPLICIT_PREPARE),
    ("RTR_F_OPE_EXPLICIT_ACCEPT", ope::EXPLICIT_ACCEPT),
    ("RTR_F_OPE_FOREIGN_TM", ope::FOREIGN_TM),
    ("RTR_F_OPE_XA_MANAGED", ope::XA_MANAGED),
    ("RTR_F_SEN_ACCEPT", sen::ACCEPT),
    ("RTR_F_SEN_EXPENDABLE", sen::EXPENDABLE),
    ("RTR_F_SEN_READONLY", sen::READONLY),
    ("RTR_F_SEN_RETURN_TO_SENDER", sen::RETURN_TO_SENDER),
    ("RTR_F_REP_ACCEPT", rep::ACCEPT),
    ("RTR_F_REP_INDEPENDENT", rep::INDEPENDENT),
    ("RTR_F_REP_FORGET", rep::FORGET),
    ("RTR_F_ACC_FORGET", acc::FORGET),
    ("RTR_F_ACC_INDEPENDENT", acc::INDEPENDENT),
    ("RTR_F_REJ_RETRY", rej::RETRY),
    ("RTR_F_CLO_FORCE", clo::FORCE),
    ("RTR_F_TID_RTR", tid::RTR),
    ("RTR_F_TID_DDTM", tid::DDTM),
];

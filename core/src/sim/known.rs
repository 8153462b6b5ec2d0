//! Runs that break an invariant with today's node code: each is a defect
//! the simulator found on its own, kept here with the seed and settings
//! that show it. `rtr simulate --known` replays them all and passes only
//! when none fails any more; the issues that fix these defects (partition
//! ownership with epochs, exactly-once outcomes across node failures) turn
//! it green and then move the runs into the regression set that `cargo
//! test` runs (`tests.rs`).
//!
//! A seed is tied to the code: a change to the node can move a defect to
//! other seeds. If an entry stops failing while its defect is not fixed,
//! find a new seed with `rtr simulate` (the same settings) and replace it.
//! (Done on 2026-12-04 after the role authority: seeds 3138, 5, 316 and 154
//! replace 3135, 0, 200829 and 60, each traced to the same defect (the
//! deadlock now shows without any fault). The applied-twice run 1375 was
//! fixed (committed tids found in a journal are remembered as decided);
//! seed 1156 shows the re-drive defect that remains.) Fixed by issue 14
//! and moved to the regression set: seed 4 (a frontend rejecting an
//! accepted transaction when it lost its last router) and seed 316 (a
//! branch set aside as rejected after its vote, then committed by its
//! router). Fixed by it
//! and gone from the list: two routers making two actives, and a range left
//! with no active partition after a journal failure; with disk faults the
//! runs that end with work held for ever fell from 130 to 8 in 200 seeds.)

use super::{Faults, SimConfig, ViolationKind};

/// One known failing run.
pub struct Known {
    /// What goes wrong, in a line.
    pub defect: &'static str,
    pub seed: u64,
    pub routers: usize,
    pub faults: Faults,
    /// What the simulator reports first.
    pub kind: ViolationKind,
}

impl Known {
    pub fn config(&self) -> SimConfig {
        let mut c = SimConfig::new(self.seed);
        c.faults = self.faults;
        c.shape.routers = (1..=self.routers).map(|i| format!("tr{i}")).collect();
        c
    }
}

const STORMS: Faults = Faults(Faults::CRASH.0 | Faults::NET.0 | Faults::PARTITION.0 | Faults::FREEZE.0);

pub const KNOWN: &[Known] = &[
    Known {
        defect: "a committed, finished transaction driven again by its frontend after a router loss reaches a node that became active by a live hand-off (the first node's last server left and it released the range): the new active knows nothing of it and presents it as a new msg1, so it commits twice (re-driven tids need an inquiry across the range's backends before a fresh presentation)",
        seed: 1156,
        routers: 2,
        faults: Faults::ALL,
        kind: ViolationKind::AppliedTwice,
    },
    Known {
        defect: "a transaction over two backend nodes commits on one and rolls back on the other (an in-doubt branch asks a router that did not decide it, and the node holding the commit answers 'unknown'; a stale TookOver lets a router forget its own commit; an empty-parts outcome is ignored)",
        seed: 3138,
        routers: 2,
        faults: STORMS,
        kind: ViolationKind::Disagreement,
    },
    Known {
        defect: "a commit lost with a failed disk: the standby releases the taken-over journal while it still has in-doubt transactions, a stale TookOver settles a commit at the router, and the restarted node's branch is rolled back while another range applied it",
        seed: 5,
        routers: 1,
        faults: Faults::DISK,
        kind: ViolationKind::AcceptedNotApplied,
    },
    Known {
        defect: "transactions without timeouts, each holding a server of one key range and waiting for one of the next, wait for ever (nothing breaks the cycle)",
        seed: 154,
        routers: 2,
        faults: Faults::NONE,
        kind: ViolationKind::NoOutcome,
    },
    Known {
        defect: "an operator's --ignore-recovery (or the unrecognized policy) makes a standby active without the lost holder's journal while that holder, frozen, is alive and unfenced: until its next pass finds its grant superseded, two nodes count as active for the range (going active without the journal should wait until the old grant's lock or lease is gone)",
        seed: 60121,
        routers: 1,
        faults: Faults::ALL,
        kind: ViolationKind::TwoActives,
    },
];

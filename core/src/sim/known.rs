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
        defect: "two routers that link to the backends in a different order make two backends active for one key range (no fault needed)",
        seed: 0,
        routers: 2,
        faults: Faults::NONE,
        kind: ViolationKind::TwoActives,
    },
    Known {
        defect: "a committed transaction driven again after a router loss is presented as a new msg1 by the standby that took over the journal holding its commit (committed tids found in a journal are not remembered as decided), and commits twice",
        seed: 2446,
        routers: 2,
        faults: STORMS,
        kind: ViolationKind::AppliedTwice,
    },
    Known {
        defect: "the same, after in-doubt inquiries whose answer (an outcome for no branch, from a router still committing) the backend ignores",
        seed: 1061,
        routers: 2,
        faults: STORMS,
        kind: ViolationKind::AppliedTwice,
    },
    Known {
        defect: "a transaction over two backend nodes commits on one and rolls back on the other: the in-doubt branch asks a router that did not decide it, and the backend holding the commit answers 'unknown'",
        seed: 1292,
        routers: 2,
        faults: STORMS,
        kind: ViolationKind::Disagreement,
    },
    Known {
        defect: "a frontend that loses its last router rejects (ROUTERUNAVAILTMO) a transaction its client accepted and that commits",
        seed: 0,
        routers: 1,
        faults: Faults::NET,
        kind: ViolationKind::Disagreement,
    },
    Known {
        defect: "a commit lost with a failed disk: the standby releases the taken-over journal while it still has in-doubt transactions, a stale TookOver settles a commit at the router, and the restarted node's branch is rolled back while another range applied it",
        seed: 0,
        routers: 1,
        faults: Faults::DISK,
        kind: ViolationKind::AcceptedNotApplied,
    },
    Known {
        defect: "three transactions each hold a server of one key range and wait for one of the next (no timeout): nothing breaks the cycle and the clients wait for ever",
        seed: 108,
        routers: 1,
        faults: Faults::SERVER,
        kind: ViolationKind::NoOutcome,
    },
];

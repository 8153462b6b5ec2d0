//! The process-wide connection (`Rtr::global`, what the C API uses). Alone
//! in its test binary: it reads `RTR_JOURNAL_DIR` once, so the test points it
//! at a fresh directory before first use.

mod common;

use common::*;
use rtr_core::Rtr;

#[test]
fn global_connection_is_one_shared_journaled_connection() {
    let dir = tempfile::tempdir().unwrap();
    // The only test of this binary: nothing else reads the environment concurrently.
    std::env::set_var(rtr_core::runtime::JOURNAL_DIR_ENV, dir.path());
    let g = Rtr::global().unwrap();
    let g2 = Rtr::global().unwrap();
    let s = open_server_in(g, "GLOBALFAC", 1, 10, 0);
    let c = open_client_in(g2, "GLOBALFAC");
    // The same connection: a channel opened through one is known to the other.
    assert_eq!(g2.get_user_handle(s).unwrap(), 0);
    round_trip(g, c, g2, s, 4);
    let t2 = round_trip(g, c, g2, s, 5);
    assert_ne!(t2, Default::default());
    // The journal lives where the environment said.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_some(), "no journal files written");
    // Acknowledge the last commit (receive again) so nothing is left to replay.
    assert_quiet(g, s);
}

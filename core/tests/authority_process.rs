//! The shared-root role authority across processes: a holder killed with
//! SIGKILL loses its lock with its process, and the next claimer wins the
//! next epoch with the dead holder's grant, not released, as `previous`
//! (so it recovers that holder's journal).
//!
//! The child is this test binary re-run with `--exact child` and the root
//! in the environment; every wait is bounded and the child is killed on
//! failure.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};
use rtr_core::authority::shared_root::SharedRoot;
use rtr_core::authority::{Authority, Claim, Grant};

const ROOT: &str = "RTR_AUTHORITY_CHILD_ROOT";
const WAIT: Duration = Duration::from_secs(30);

/// The child process; killed (SIGKILL) and reaped when dropped.
struct Holder {
    child: Child,
    lines: Receiver<String>,
}

impl Holder {
    fn spawn(root: &Path) -> Holder {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(ROOT, root)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // The harness may print "test child ... " before our line.
                if let Some(at) = line.find("@@") {
                    let _ = tx.send(line[at + 2..].to_string());
                }
            }
        });
        Holder { child, lines }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The child side: claims the range as node "kid", says so, and holds it
/// until killed (or, bounded, gives up after `WAIT`). Does nothing when
/// run as an ordinary test.
#[test]
fn child() {
    let Some(root) = std::env::var_os(ROOT) else { return };
    let mut me = SharedRoot::new(Path::new(&root), "kid");
    let claim = me.claim("r", None);
    // It exercises the grant, as a node does once it is active.
    if let Ok(Claim::Granted { epoch, .. }) = &claim {
        me.activate("r", *epoch).expect("marked exercised");
    }
    println!("@@{claim:?}");
    std::thread::sleep(WAIT);
}

#[test]
fn a_holder_killed_with_sigkill_loses_the_role_to_the_next_claimer_unreleased() {
    let d = tempfile::tempdir().unwrap();
    let mut kid = Holder::spawn(d.path());
    let said = kid.lines.recv_timeout(WAIT).expect("the child said nothing in time");
    assert_eq!(said, "Ok(Granted { epoch: 1, previous: None })");
    let mut me = SharedRoot::new(d.path(), "parent");
    let kids = Grant { epoch: 1, holder: "kid".into(), released: false, forced: false };
    assert_eq!(me.claim("r", None).unwrap(), Claim::Held(kids.clone()));
    kid.kill();
    assert_eq!(me.claim("r", None).unwrap(), Claim::Granted { epoch: 2, previous: Some(kids) });
}

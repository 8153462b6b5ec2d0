use super::mem::MemAuthority;
use super::*;
use crate::keyseg::{KeySegment, KeyType};

fn range(lo: u32, hi: u32) -> KeyRange {
    let seg = KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&lo.to_ne_bytes()), Some(&hi.to_ne_bytes())).unwrap();
    KeyRange::new(vec![seg]).unwrap()
}

#[test]
fn range_ids_are_safe_names_equal_exactly_for_the_same_range() {
    let a = range_id("Bank Fac/1", &range(0, 99));
    assert!(a.starts_with("bank%20fac%2F1."), "{a}");
    assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b"%._-".contains(&b)), "{a}");
    assert_eq!(a, range_id("bank fac/1", &range(0, 99).named(Some("p".into()))));
    assert_ne!(a, range_id("bank fac/1", &range(0, 100)));
    assert_ne!(a, range_id("other", &range(0, 99)));
    // Every range id of a facility starts with its prefix, and no other
    // facility's does (a facility name with a dot is escaped).
    assert!(a.starts_with(&facility_prefix("BANK FAC/1")));
    assert!(range_id("a.b", &range(0, 99)).starts_with(&facility_prefix("a.b")));
    assert!(!range_id("a.b", &range(0, 99)).starts_with(&facility_prefix("a")));
}

#[test]
fn one_holder_per_range_until_its_process_ends() {
    let auth = MemAuthority::new();
    let (mut a, mut b) = (auth.handle("a"), auth.handle("b"));
    assert_eq!(a.claim("r", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
    a.activate("r", 1).unwrap();
    // Claimed again by its holder: the same grant, harmlessly.
    assert_eq!(a.claim("r", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
    let held = Grant { epoch: 1, holder: "a".into(), released: false, forced: false };
    assert_eq!(b.claim("r", None).unwrap(), Claim::Held(held.clone()));
    auth.process_ended("a");
    assert_eq!(b.claim("r", None).unwrap(), Claim::Granted { epoch: 2, previous: Some(held) });
    // The old holder, restarted, finds a newer holder alive.
    let mut a = auth.handle("a");
    assert!(matches!(a.claim("r", None).unwrap(), Claim::Held(Grant { epoch: 2, .. })));
}

#[test]
fn a_released_grant_passes_on_without_recovery_and_a_forced_one_fences_by_epoch() {
    let auth = MemAuthority::new();
    let (mut a, mut b) = (auth.handle("a"), auth.handle("b"));
    a.claim("r", None).unwrap();
    a.release("r", 1).unwrap();
    let Claim::Granted { epoch: 2, previous: Some(p) } = b.claim("r", None).unwrap() else { panic!() };
    assert!(p.released && p.holder == "a");
    b.activate("r", 2).unwrap();
    // a claims over b by force: only over the newest epoch.
    assert!(matches!(a.claim("r", Some(1)).unwrap(), Claim::Held(Grant { epoch: 2, .. })));
    let Claim::Granted { epoch: 3, previous: Some(p) } = a.claim("r", Some(2)).unwrap() else { panic!() };
    assert_eq!(p.holder, "b");
    // b learns it lost the role; a takes the lock once b's process is gone.
    assert_eq!(b.maintain(), vec![("r".to_string(), 2)]);
    assert!(b.maintain().is_empty(), "reported once");
    auth.process_ended("b");
    assert!(a.maintain().is_empty());
    let mut c = auth.handle("c");
    assert!(matches!(c.claim("r", None).unwrap(), Claim::Held(Grant { epoch: 3, .. })));
}

#[test]
fn a_node_cut_off_from_the_authority_is_never_granted() {
    let auth = MemAuthority::new();
    let mut a = auth.handle("a");
    auth.set_cut_off("a", true);
    assert!(matches!(a.claim("r", None), Err(AuthorityError::Unreachable(_))));
    auth.set_cut_off("a", false);
    assert!(matches!(a.claim("r", None), Ok(Claim::Granted { epoch: 1, .. })));
}

/// A forced claim takes its own grant's lock at once: the holder it forced
/// out, still running with the old grant's lock, cannot win the range back
/// by a plain claim, nor can anyone else while the new holder lives; once
/// the new holder's process ends, a plain claim wins. (The simulator found
/// two actives when a forced holder took the one range lock only later.)
#[test]
fn a_forced_holder_holds_its_own_lock_from_the_start() {
    let auth = MemAuthority::new();
    let (mut a, mut b, mut c) = (auth.handle("a"), auth.handle("b"), auth.handle("c"));
    a.claim("r", None).unwrap();
    a.activate("r", 1).unwrap();
    // a is frozen; b forces the range with a quorum's word.
    assert!(matches!(b.claim("r", Some(1)).unwrap(), Claim::Granted { epoch: 2, .. }));
    b.activate("r", 2).unwrap();
    // a wakes: it lost the role, and its plain claims are refused.
    assert_eq!(a.maintain(), vec![("r".to_string(), 1)]);
    assert!(matches!(a.claim("r", None).unwrap(), Claim::Held(Grant { epoch: 2, .. })));
    assert!(matches!(c.claim("r", None).unwrap(), Claim::Held(Grant { epoch: 2, .. })));
    auth.process_ended("b");
    let Claim::Granted { epoch: 3, previous: Some(p) } = c.claim("r", None).unwrap() else { panic!() };
    assert!(p.holder == "b" && p.forced && !p.released);
}

/// A holder that dies before it exercised its grant (while it was taking
/// over its predecessor's journal) passes its duty to recover on: the next
/// claim names the last exercised grant as `previous`, not the dead one's.
#[test]
fn a_grant_never_exercised_is_skipped_as_previous() {
    let auth = MemAuthority::new();
    let (mut a, mut b) = (auth.handle("a"), auth.handle("b"));
    a.claim("r", None).unwrap();
    a.activate("r", 1).unwrap();
    // b forces the range from a frozen a, and dies while taking over a's journal.
    assert!(matches!(b.claim("r", Some(1)).unwrap(), Claim::Granted { epoch: 2, .. }));
    auth.process_ended("b");
    let mut b = auth.handle("b");
    let Claim::Granted { epoch: 3, previous: Some(p) } = b.claim("r", None).unwrap() else { panic!() };
    assert_eq!((p.epoch, p.holder.as_str()), (1, "a"), "a's journal is still to be recovered");
}

/// A forced holder that goes on without its predecessor's journal (nothing
/// fenced it) asks whether that predecessor still holds its grant: yes
/// while its lock lives, no once it found the newer grant or its process
/// ended.
#[test]
fn a_forced_out_holder_is_gone_once_it_lets_its_grants_lock_go() {
    let auth = MemAuthority::new();
    let (mut a, mut b) = (auth.handle("a"), auth.handle("b"));
    a.claim("r", None).unwrap();
    a.activate("r", 1).unwrap();
    assert!(matches!(b.claim("r", Some(1)).unwrap(), Claim::Granted { epoch: 2, .. }));
    assert!(!b.holder_gone("r", 1).unwrap(), "a still holds grant 1's lock");
    assert_eq!(a.maintain(), vec![("r".to_string(), 1)]);
    assert!(b.holder_gone("r", 1).unwrap());
    // A grant nobody holds (and a range nobody claimed) has no holder.
    assert!(b.holder_gone("r", 7).unwrap() && b.holder_gone("other", 1).unwrap());
    auth.set_cut_off("b", true);
    assert!(matches!(b.holder_gone("r", 1), Err(AuthorityError::Unreachable(_))));
    // The process ending lets the lock go too.
    let mut c = auth.handle("c");
    auth.set_cut_off("b", false);
    assert!(matches!(c.claim("r", Some(2)).unwrap(), Claim::Granted { epoch: 3, .. }));
    assert!(!c.holder_gone("r", 2).unwrap());
    auth.process_ended("b");
    assert!(c.holder_gone("r", 2).unwrap());
}

#[test]
fn a_note_is_shared_by_every_handle_and_outlives_the_holders_process() {
    let auth = MemAuthority::new();
    let (mut a, mut b) = (auth.handle("a"), auth.handle("b"));
    assert_eq!(a.note("r").unwrap(), None);
    a.claim("r", None).unwrap();
    a.set_note("r", Some("east")).unwrap();
    auth.process_ended("a");
    assert!(matches!(b.claim("r", None).unwrap(), Claim::Granted { epoch: 2, .. }));
    assert_eq!(b.note("r").unwrap().as_deref(), Some("east"));
    b.set_note("r", None).unwrap();
    assert_eq!(a.note("r").unwrap(), None);
    auth.set_cut_off("b", true);
    assert!(matches!(b.set_note("r", Some("west")), Err(AuthorityError::Unreachable(_))));
    assert!(matches!(b.note("r"), Err(AuthorityError::Unreachable(_))));
}

//! Reclaim accounting: which transactions still need which segments.
//!
//! A transaction is *live* from its first record until its Done record. Every
//! segment counts the live transactions that have records in it; a segment
//! whose count is zero holds nothing anyone needs, and once it is the oldest
//! segment it can be recycled. Fence, Drive and Done records pin nothing.
//!
//! Invariant: `by_seg[s]` equals the number of tids `t` with `s` in `by_tid[t]`.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::format::RecordKind;
use crate::tid::Tid;

#[derive(Default, Debug)]
pub struct Live {
    /// Segments (ascending, no duplicates) holding records of each live tid.
    /// FxHash: a look-up per record on the writer thread; tids are made by
    /// nodes (this one or linked ones), not by arbitrary input.
    by_tid: FxHashMap<Tid, Vec<u64>>,
    /// Live tids per segment.
    by_seg: BTreeMap<u64, usize>,
}

impl Live {
    /// Accounts one record written to (or recovered from) segment `seg`.
    /// Records arrive in write order, so a tid's segments are ascending.
    pub fn note(&mut self, seg: u64, tid: Tid, kind: RecordKind) {
        match kind {
            RecordKind::Fence => {}
            // A promise to a later drive of the transaction
            // (`TxRecord::Drive`) pins nothing: it is written after any
            // state of the transaction it protects, so the segments are
            // recycled front first keep it as long as that state; alone (a
            // node that held nothing of the tid promised it all the same),
            // it lasts until its segment is recycled (pinned, it would
            // keep its segment for ever: nothing writes a `Done` for a
            // transaction the node holds nothing of).
            RecordKind::Drive => {}
            // An inquiry's binding "unknown" (`TxRecord::Bound`): alone by
            // nature (the node held nothing of the tid), so, as a lone
            // promise, it lasts until its segment is recycled.
            RecordKind::Bound => {}
            RecordKind::Done => self.release(&tid),
            RecordKind::Carried => {
                // Restates all the transaction still needs: its earlier
                // records need no space any more.
                self.release(&tid);
                self.by_tid.insert(tid, vec![seg]);
                *self.by_seg.entry(seg).or_default() += 1;
            }
            _ => {
                let segs = self.by_tid.entry(tid).or_default();
                if segs.last() != Some(&seg) {
                    segs.push(seg);
                    *self.by_seg.entry(seg).or_default() += 1;
                }
            }
        }
    }

    fn release(&mut self, tid: &Tid) {
        for seg in self.by_tid.remove(tid).unwrap_or_default() {
            if let Some(n) = self.by_seg.get_mut(&seg) {
                *n -= 1;
                if *n == 0 {
                    self.by_seg.remove(&seg);
                }
            }
        }
    }

    pub fn is_live(&self, tid: &Tid) -> bool {
        self.by_tid.contains_key(tid)
    }

    /// Live transactions with records in segment `seg`.
    pub fn live_in(&self, seg: u64) -> usize {
        self.by_seg.get(&seg).copied().unwrap_or(0)
    }

    pub fn transactions(&self) -> usize {
        self.by_tid.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u64) -> Tid {
        Tid { seq: n, ..Tid::default() }
    }

    #[test]
    fn a_carried_record_moves_the_transaction_to_its_segment() {
        let mut l = Live::default();
        l.note(1, t(1), RecordKind::Msg);
        l.note(1, t(1), RecordKind::Applied);
        l.note(1, t(2), RecordKind::Msg);
        l.note(3, t(1), RecordKind::Carried);
        assert_eq!((l.live_in(1), l.live_in(3)), (1, 1));
        l.note(3, t(1), RecordKind::Carried);
        assert_eq!(l.live_in(3), 1, "counted once");
        l.note(4, t(1), RecordKind::Done);
        assert_eq!((l.live_in(3), l.transactions()), (0, 1));
    }

    #[test]
    fn a_promise_to_a_later_drive_pins_nothing() {
        let mut l = Live::default();
        l.note(1, t(1), RecordKind::Drive);
        assert_eq!((l.live_in(1), l.transactions()), (0, 0), "a lone promise keeps no segment");
        l.note(2, t(2), RecordKind::Vote);
        l.note(3, t(2), RecordKind::Drive);
        assert_eq!((l.live_in(2), l.live_in(3)), (1, 0), "the vote pins its segment, the promise its own not");
        l.note(4, t(2), RecordKind::Done);
        assert_eq!(l.transactions(), 0);
    }

    #[test]
    fn done_releases_every_segment_of_the_transaction() {
        let mut l = Live::default();
        l.note(1, t(1), RecordKind::Msg);
        l.note(1, t(1), RecordKind::Vote);
        l.note(1, t(2), RecordKind::Msg);
        l.note(2, t(1), RecordKind::Commit);
        assert_eq!((l.live_in(1), l.live_in(2)), (2, 1));
        l.note(2, t(1), RecordKind::Done);
        assert_eq!((l.live_in(1), l.live_in(2)), (1, 0));
        assert!(!l.is_live(&t(1)) && l.is_live(&t(2)));
        l.note(3, t(9), RecordKind::Done);
        l.note(3, Tid::default(), RecordKind::Fence);
        assert_eq!(l.live_in(3), 0);
        assert_eq!(l.transactions(), 1);
    }
}

//! The plan of one pass: records for the node's own journal packed into
//! appends (new transactions apart and last, within the size limit, order
//! and tokens kept), records for taken-over journals routed by jid in
//! order with their releases, deliveries and peer messages grouped in
//! order; and what each append's result tells the node.

use super::*;
use crate::msgtype::MsgType;
use crate::node::ToFrontend;
use crate::protocol::Payload;

fn tid(seq: u64) -> Tid {
    Tid { node: 1, incarnation: 2, conn: 3, seq }
}

/// One record of transaction `seq` whose payload is `len` bytes of `seq`.
fn rec(seq: u64, len: usize) -> Entry {
    (tid(seq), RecordKind::Msg, vec![seq as u8; len])
}

fn journal(jid: u32, entries: Vec<Entry>, sync: bool, token: Option<u64>, new_tx: bool) -> Output {
    Output::Journal { entries, sync, token, new_tx, jid }
}

/// Records of the node's own journal (jid 0).
fn own(entries: Vec<Entry>, sync: bool, token: Option<u64>, new_tx: bool) -> Output {
    journal(0, entries, sync, token, new_tx)
}

fn bytes(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| journal::format::record_bytes(e.2.len()) as u64).sum()
}

fn seqs(a: &Append) -> Vec<u64> {
    a.entries.iter().map(|e| e.0.seq).collect()
}

fn delivery(chan: u32, evtnum: i32) -> Delivery {
    Delivery { chan, msgtype: MsgType::Msg1, tid: None, evtnum, payload: Payload::None, fence: 0 }
}

fn msg(evtnum: i32) -> Internal {
    Internal::Fe(ToFrontend::Broadcast {
        facility: "F".into(),
        evtnum,
        rcpspc: String::new(),
        data: std::sync::Arc::from(&b"x"[..]),
    })
}

#[test]
fn a_pass_of_records_in_progress_is_one_append_with_every_token() {
    let plan = PassPlan::of(
        vec![
            own(vec![rec(1, 10), rec(1, 20)], false, None, false),
            own(vec![rec(2, 10)], true, Some(7), false),
            own(vec![rec(1, 5)], true, Some(8), false),
        ],
        u64::MAX,
    );
    assert_eq!(plan.own.len(), 1);
    let a = &plan.own[0];
    assert_eq!(seqs(a), [1, 1, 2, 1]);
    assert_eq!(a.tokens, [7, 8]);
    // A transaction is named again only after another's records.
    assert_eq!(a.tids, [tid(1), tid(2), tid(1)]);
    assert!(a.sync && !a.new_tx && a.awaited());
    assert_eq!(a.bytes, bytes(&a.entries));
    assert!(plan.taken_over.is_empty());
}

#[test]
fn records_that_start_transactions_go_apart_and_last() {
    let plan = PassPlan::of(
        vec![
            own(vec![rec(10, 8)], true, Some(1), true),
            own(vec![rec(1, 8)], false, None, false),
            own(vec![rec(11, 8)], false, None, true),
            own(vec![rec(2, 8)], true, Some(2), false),
        ],
        u64::MAX,
    );
    let kinds: Vec<bool> = plan.own.iter().map(|a| a.new_tx).collect();
    assert_eq!(kinds, [false, true]);
    assert_eq!(seqs(&plan.own[0]), [1, 2]);
    assert_eq!(plan.own[0].tokens, [2]);
    assert_eq!(plan.own[0].tids, [tid(1), tid(2)]);
    assert_eq!(seqs(&plan.own[1]), [10, 11]);
    assert_eq!(plan.own[1].tokens, [1]);
    assert_eq!(plan.own[1].tids, [tid(10), tid(11)]);
    assert!(plan.own[0].sync && plan.own[1].sync);
}

#[test]
fn appends_stay_within_the_size_limit_in_order_with_their_tokens() {
    let one = journal::format::record_bytes(100) as u64;
    // Two records fit in an append, three do not.
    let limit = 2 * one + one / 2;
    let outputs = (1..=5).map(|i| own(vec![rec(i, 100)], i % 2 == 0, (i % 2 == 0).then_some(100 + i), false));
    let plan = PassPlan::of(outputs.collect::<Vec<_>>(), limit);
    let split: Vec<Vec<u64>> = plan.own.iter().map(seqs).collect();
    assert_eq!(split, [vec![1, 2], vec![3, 4], vec![5]]);
    let tokens: Vec<&[u64]> = plan.own.iter().map(|a| a.tokens.as_slice()).collect();
    assert_eq!(tokens, [&[102][..], &[104], &[]]);
    let synced: Vec<bool> = plan.own.iter().map(|a| a.sync).collect();
    assert_eq!(synced, [true, true, false]);
    assert!(plan.own.iter().all(|a| a.bytes <= limit && a.bytes == bytes(&a.entries)));
}

#[test]
fn the_limit_applies_to_each_kind_apart_and_never_splits_an_output() {
    let one = journal::format::record_bytes(100) as u64;
    let plan = PassPlan::of(
        vec![
            own(vec![rec(10, 100)], false, None, true),
            own(vec![rec(1, 100)], false, None, false),
            own(vec![rec(11, 100)], false, None, true),
            // The new transactions' append is full before the others' is.
            own(vec![rec(12, 100)], false, None, true),
            // Larger than the limit on its own: an append to itself, whole.
            own(vec![rec(2, 100), rec(2, 100), rec(2, 100)], true, Some(9), false),
            own(vec![rec(3, 100)], false, None, false),
        ],
        2 * one,
    );
    let split: Vec<(bool, Vec<u64>)> = plan.own.iter().map(|a| (a.new_tx, seqs(a))).collect();
    assert_eq!(
        split,
        [(false, vec![1]), (false, vec![2, 2, 2]), (false, vec![3]), (true, vec![10, 11]), (true, vec![12])]
    );
    assert_eq!(plan.own[1].tokens, [9]);
    assert_eq!(plan.own[1].tids, [tid(2)]);
}

#[test]
fn records_for_taken_over_journals_go_to_their_journal_one_output_each_in_order_with_releases() {
    let plan = PassPlan::of(
        vec![
            journal(3, vec![rec(1, 10)], false, None, false),
            own(vec![rec(9, 10)], true, Some(90), false),
            journal(4, vec![rec(2, 10)], true, Some(20), false),
            journal(3, vec![rec(3, 10), rec(4, 10)], true, Some(30), false),
            Output::Release { jid: 3 },
            journal(3, vec![rec(5, 10)], false, None, false),
        ],
        u64::MAX,
    );
    assert_eq!(plan.own.len(), 1);
    assert_eq!((seqs(&plan.own[0]), plan.own[0].tokens.clone()), (vec![9], vec![90]));
    // (jid, the append's records, tokens and sync; None: a release)
    type Step = (u32, Option<(Vec<u64>, Vec<u64>, bool)>);
    let steps: Vec<Step> = plan
        .taken_over
        .iter()
        .map(|s| match s {
            TakenOverStep::Append { jid, append } => (*jid, Some((seqs(append), append.tokens.clone(), append.sync))),
            TakenOverStep::Release { jid } => (*jid, None),
        })
        .collect();
    assert_eq!(
        steps,
        [
            (3, Some((vec![1], vec![], false))),
            (4, Some((vec![2], vec![20], true))),
            (3, Some((vec![3, 4], vec![30], true))),
            (3, None),
            (3, Some((vec![5], vec![], false))),
        ]
    );
}

#[test]
fn deliveries_and_peer_messages_are_grouped_in_order_with_takeovers_and_logs() {
    let plan = PassPlan::of(
        vec![
            Output::Deliver { conn: 5, delivery: delivery(1, 1) },
            Output::Peer { peer: 2, msg: msg(1) },
            Output::Log("one".into()),
            Output::Deliver { conn: 4, delivery: delivery(1, 2) },
            Output::Takeover { node: "b".into(), jid: 7 },
            Output::Peer { peer: 1, msg: msg(2) },
            Output::Deliver { conn: 5, delivery: delivery(2, 3) },
            Output::Peer { peer: 2, msg: msg(3) },
            Output::Log("two".into()),
            Output::Takeover { node: "c".into(), jid: 8 },
        ],
        u64::MAX,
    );
    assert_eq!(plan.deliveries, [(5, vec![delivery(1, 1), delivery(2, 3)]), (4, vec![delivery(1, 2)])]);
    assert_eq!(plan.peers, [(2, vec![msg(1), msg(3)]), (1, vec![msg(2)])]);
    assert_eq!(plan.takeovers, [("b".to_string(), 7), ("c".to_string(), 8)]);
    assert_eq!(plan.logs, [(false, "one".to_string()), (false, "two".to_string())]);
    assert!(plan.own.is_empty() && plan.taken_over.is_empty());
}

#[test]
fn an_empty_pass_plans_nothing() {
    assert_eq!(PassPlan::of(Vec::new(), 1), PassPlan::default());
}

#[test]
fn the_own_journal_s_results_become_node_inputs() {
    let done = |o| own_append_done(o, vec![1, 2], vec![tid(1), tid(2)]);
    assert_eq!(done(AppendOutcome::Written), [Reaction::Done(vec![1, 2], Ok(()))]);
    assert_eq!(
        done(AppendOutcome::Full),
        [Reaction::Done(vec![1, 2], Err(Status::Jnlfull)), Reaction::Failed(vec![tid(1), tid(2)], Status::Jnlfull)]
    );
    // Written or not: the node cannot tell, so it stops.
    assert_eq!(
        done(AppendOutcome::Fenced("fenced by epoch 3".into())),
        [Reaction::Fatal("journal write failed: fenced by epoch 3".into())]
    );
    assert_eq!(done(AppendOutcome::Failed("EIO".into())), [Reaction::Fatal("journal write failed: EIO".into())]);
    // No journal at all: nothing may wait for ever.
    assert_eq!(done(AppendOutcome::NotHeld), [Reaction::Done(vec![1, 2], Ok(()))]);

    // Without tokens: nothing to say when written; the transactions still
    // hear of a full journal.
    let untokened = |o| own_append_done(o, vec![], vec![tid(3)]);
    assert_eq!(untokened(AppendOutcome::Written), []);
    assert_eq!(untokened(AppendOutcome::NotHeld), []);
    assert_eq!(untokened(AppendOutcome::Full), [Reaction::Failed(vec![tid(3)], Status::Jnlfull)]);
    assert_eq!(untokened(AppendOutcome::Failed("EIO".into())), [Reaction::Fatal("journal write failed: EIO".into())]);
}

#[test]
fn a_taken_over_journal_s_results_become_node_inputs_and_never_stop_the_node() {
    let done = |o| taken_over_append_done(o, 7, Some(4));
    assert_eq!(done(AppendOutcome::Written), [Reaction::Done(vec![4], Ok(()))]);
    assert_eq!(done(AppendOutcome::NotHeld), [Reaction::Done(vec![4], Err(Status::Nodeunavail))]);
    assert_eq!(
        done(AppendOutcome::Full),
        [
            Reaction::Log("a write to a taken-over journal failed: journal is full".into()),
            Reaction::Done(vec![4], Err(Status::Jnlfull))
        ]
    );
    // Fenced by another owner, or failed: the node gives the journal up.
    for o in [AppendOutcome::Fenced("fenced".into()), AppendOutcome::Failed("EIO".into())] {
        let r = done(o.clone());
        assert_eq!(r.len(), 3, "{o:?}: {r:?}");
        assert!(matches!(&r[0], Reaction::Log(l) if l.starts_with("a write to a taken-over journal failed: ")));
        assert_eq!(r[1], Reaction::Done(vec![4], Err(Status::Jnlfull)));
        assert_eq!(r[2], Reaction::Lost(7));
    }
    let untokened = |o| taken_over_append_done(o, 7, None);
    assert_eq!(untokened(AppendOutcome::Written), []);
    assert_eq!(untokened(AppendOutcome::NotHeld), []);
    assert!(matches!(untokened(AppendOutcome::Failed("EIO".into())).as_slice(), [Reaction::Log(_), Reaction::Lost(7)]));
    assert!(matches!(untokened(AppendOutcome::Full).as_slice(), [Reaction::Log(_)]));
}

/// A pass with every kind of output mixed: deliveries to two connections
/// interleaved, records of both kinds (one kind over the size limit), a
/// taken-over journal, a peer message, a log line.
fn mixed_pass() -> Vec<Output> {
    vec![
        own(vec![rec(1, 100)], false, None, false),
        Output::Deliver { conn: 5, delivery: delivery(1, 1) },
        own(vec![rec(10, 100)], true, Some(1), true),
        Output::Deliver { conn: 5, delivery: delivery(1, 2) },
        Output::Deliver { conn: 4, delivery: delivery(2, 3) },
        own(vec![rec(2, 100), rec(2, 50)], true, Some(2), false),
        journal(3, vec![rec(7, 10)], true, Some(3), false),
        Output::Peer { peer: 2, msg: msg(1) },
        Output::Deliver { conn: 5, delivery: delivery(3, 4) },
        own(vec![rec(3, 100)], true, Some(4), false),
        Output::Log("x".into()),
        own(vec![rec(11, 100)], false, None, true),
        Output::Deliver { conn: 4, delivery: delivery(2, 5) },
    ]
}

#[test]
fn a_drained_pass_plans_the_same_as_any_other_and_leaves_the_vector_for_the_next() {
    let one = journal::format::record_bytes(100) as u64;
    for limit in [u64::MAX, 2 * one] {
        let mut outputs = mixed_pass();
        let cap = outputs.capacity();
        let drained = PassPlan::of_drained(&mut outputs, limit);
        assert_eq!(drained, PassPlan::of(mixed_pass(), limit), "limit {limit}");
        assert!(outputs.is_empty());
        assert_eq!(outputs.capacity(), cap);
    }
}

#[test]
fn a_drained_pass_sizes_its_vectors_at_once() {
    let mut outputs = mixed_pass();
    let plan = PassPlan::of_drained(&mut outputs, u64::MAX);
    // Each vector got exactly the room for what the pass put in it (grown
    // one output at a time, they would have doubled from four).
    for a in &plan.own {
        assert_eq!(a.entries.capacity(), a.entries.len(), "{:?}", seqs(a));
        assert_eq!(a.tokens.capacity(), a.tokens.len());
    }
    assert_eq!(plan.own.iter().map(|a| a.entries.len()).collect::<Vec<_>>(), [4, 2]);
    for (conn, batch) in &plan.deliveries {
        assert_eq!(batch.capacity(), batch.len(), "connection {conn}");
    }
    assert_eq!(plan.deliveries.iter().map(|(c, b)| (*c, b.len())).collect::<Vec<_>>(), [(5, 3), (4, 2)]);
}

#[test]
fn the_node_takes_its_outputs_into_the_vector_given_back() {
    let mut node = crate::node::Node::new(false);
    let mut spent = node.take_output();
    spent.reserve(64);
    let cap = spent.capacity();
    node.reuse_output(spent);
    assert!(node.take_output().capacity() >= cap);
    // A vector with something in it is emptied first.
    let mut node = crate::node::Node::new(false);
    node.reuse_output(mixed_pass());
    assert!(node.take_output().is_empty());
}

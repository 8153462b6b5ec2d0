//! The vocabulary of `rtr_set_info` (verbs, managed objects, qualifiers),
//! with the C names and codes the header is generated from, and the check
//! that turns one call's qualifier lists into partition changes.
//!
//! The manuals name the verb (`verb_set`), the object
//! (`rtr_partition_object`), the select qualifiers and the set qualifiers,
//! but not their values or the end marker of a list: the codes, the end
//! marker `rtr_qualifier_end` and the retry-count qualifier name
//! (`rtr_partition_rcvy_retry_count`) are ours.

use crate::error::{Result, RtrError};
use crate::facility::node_name;
use crate::protocol::admin::PartitionChange;

/// `verb_set`: change a managed object (the only verb).
pub const VERB_SET: u32 = 1;
/// `rtr_partition_object`: a partition (the only managed object).
pub const PARTITION_OBJECT: u32 = 1;

/// The verbs: (C name, code, meaning).
pub const VERBS: &[(&str, u32, &str)] = &[("verb_set", VERB_SET, "change the selected object")];
/// The managed objects: (C name, code, meaning).
pub const OBJECTS: &[(&str, u32, &str)] =
    &[("rtr_partition_object", PARTITION_OBJECT, "a partition, selected by facility and partition name")];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qualifier {
    End,
    FacilityName,
    PartitionName,
    StateSuspend,
    StateResume,
    StateExitwait,
    StateRecover,
    StateShadow,
    BePriorityList,
    FailToStandby,
    FailToShadow,
    Pre32Compatible,
    RcvyRetryCount,
}

/// What a qualifier's `pvalue` points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Nothing: `pvalue` is not read (pass NULL).
    Ignored,
    /// A NUL-terminated string.
    Text,
    /// An `rtr_uns_32_t`.
    Number,
    /// NULL, or an `rtr_uns_32_t`.
    OptNumber,
}

/// Which list a qualifier belongs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QualifierList {
    /// The terminator of both lists.
    End,
    Select,
    Set,
}

#[derive(Clone, Copy, Debug)]
pub struct QualifierDef {
    pub qualifier: Qualifier,
    /// The C enumerator name.
    pub name: &'static str,
    pub code: u32,
    pub list: QualifierList,
    pub kind: ValueKind,
    /// True when HP RTR names it; false for our additions.
    pub in_rtr: bool,
    /// What it does here (the header comment).
    pub meaning: &'static str,
}

const fn q(
    qualifier: Qualifier,
    name: &'static str,
    code: u32,
    list: QualifierList,
    kind: ValueKind,
    in_rtr: bool,
    meaning: &'static str,
) -> QualifierDef {
    QualifierDef { qualifier, name, code, list, kind, in_rtr, meaning }
}

use QualifierList::{Select, Set};
use ValueKind::{Ignored, Number, OptNumber, Text};

/// Every qualifier, in code order.
pub const QUALIFIERS: &[QualifierDef] = &[
    q(Qualifier::End, "rtr_qualifier_end", 0, QualifierList::End, Ignored, false, "ends a qualifier list"),
    q(Qualifier::FacilityName, "rtr_facility_name", 1, Select, Text, true, "the facility name"),
    q(
        Qualifier::PartitionName,
        "rtr_partition_name",
        2,
        Select,
        Text,
        true,
        "the partition name: its id, as rtr_request_info's prt_name item gives it",
    ),
    q(
        Qualifier::StateSuspend,
        "rtr_partition_state_suspend",
        3,
        Set,
        OptNumber,
        true,
        "suspend presentation of new transactions (those in progress go on) until resumed; the optional \
         timeout in seconds is accepted and not used",
    ),
    q(Qualifier::StateResume, "rtr_partition_state_resume", 4, Set, Ignored, true, "resume presentation"),
    q(
        Qualifier::StateExitwait,
        "rtr_partition_state_exitwait",
        5,
        Set,
        Ignored,
        true,
        "a partition waiting for a lost node's journal becomes active without it (= rtr set partition \
         --ignore-recovery)",
    ),
    q(
        Qualifier::StateRecover,
        "rtr_partition_state_recover",
        6,
        Set,
        Ignored,
        true,
        "try again to take over the lost node's journal (= --restart-recovery)",
    ),
    q(
        Qualifier::StateShadow,
        "rtr_partition_state_shadow",
        7,
        Set,
        Number,
        true,
        "shadowing of a shadow partition's key range: 0 turns it off (only at the shadow primary running \
         alone), any other value on again (= rtr set partition --noshadow|--shadow)",
    ),
    q(
        Qualifier::BePriorityList,
        "rtr_partition_be_priority_list",
        8,
        Set,
        Text,
        true,
        "backend nodes in the order they become active for the key range, \"node,node,...\" (\"\" restores \
         the facility's order)",
    ),
    q(
        Qualifier::FailToStandby,
        "rtr_partition_fail_to_standby",
        9,
        Set,
        Ignored,
        true,
        "failover policy: fail over to a standby of the primary's site (the default, as RTR's)",
    ),
    q(
        Qualifier::FailToShadow,
        "rtr_partition_fail_to_shadow",
        10,
        Set,
        Ignored,
        true,
        "failover policy: fail over to the shadow (the other site's secondary becomes primary at once)",
    ),
    q(
        Qualifier::Pre32Compatible,
        "rtr_partition_pre32_compatible",
        11,
        Set,
        Ignored,
        true,
        "failover policy of RTR before V3.2: not supported (RTR_STS_UNSUPPORTED)",
    ),
    q(
        Qualifier::RcvyRetryCount,
        "rtr_partition_rcvy_retry_count",
        12,
        Set,
        Number,
        false,
        "servers a transaction may take down before it is set aside: 1 or more (= rtr set partition \
         --retry-limit)",
    ),
];

impl Qualifier {
    pub fn def(self) -> &'static QualifierDef {
        QUALIFIERS.iter().find(|d| d.qualifier == self).unwrap_or(&QUALIFIERS[0])
    }

    pub fn from_code(code: u32) -> Option<Qualifier> {
        QUALIFIERS.iter().find(|d| d.code == code).map(|d| d.qualifier)
    }

    /// The qualifier whose C name is `name` (without regard to case).
    pub fn from_name(name: &str) -> Option<Qualifier> {
        QUALIFIERS.iter().find(|d| d.name.eq_ignore_ascii_case(name)).map(|d| d.qualifier)
    }

    pub fn code(self) -> u32 {
        self.def().code
    }
}

/// A qualifier's value, already read from the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QualValue {
    /// No value (C: NULL `pvalue`, or a qualifier whose value is not read).
    None,
    Text(String),
    Number(u32),
}

/// A checked `rtr_set_info` call: the partition and what to change, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSet {
    /// Normalised (upper case).
    pub facility: String,
    pub id: u64,
    /// The changes, in the order given.
    pub changes: Vec<PartitionChange>,
}

fn qualifier_name(code: u32) -> String {
    Qualifier::from_code(code).map_or_else(|| format!("qualifier code {code}"), |q| q.def().name.to_string())
}

/// Check the flags, verb and object of an `rtr_set_info` call: `RTR_STS_INVFLAGS`
/// unless no flag is given, `RTR_STS_INVOBJCT` unless the verb is `verb_set`
/// and the object `rtr_partition_object`. (The C API checks these before it
/// reads the qualifier lists, whose values depend on the object.)
pub fn check_call(fl: u32, verb: u32, object: u32) -> Result<()> {
    if fl != 0 {
        return Err(RtrError::InvalidFlags { call: "rtr_set_info", flags: fl });
    }
    if verb != VERB_SET {
        return Err(RtrError::InvalidObject(format!("verb {verb} is not verb_set ({VERB_SET})")));
    }
    if object != PARTITION_OBJECT {
        return Err(RtrError::InvalidObject(format!(
            "object {object} is not rtr_partition_object ({PARTITION_OBJECT}), the only managed object"
        )));
    }
    Ok(())
}

impl PartitionSet {
    /// Check the qualifier lists of a call. Statuses: `RTR_STS_INVSELITM`
    /// (select list), `RTR_STS_INVFACNAM` (facility name),
    /// `RTR_STS_INVQUALIFIER` (set list), `RTR_STS_UNSUPPORTED` (shadow
    /// qualifiers). Nothing is changed when any check fails.
    pub fn parse(select: &[(u32, QualValue)], set: &[(u32, QualValue)]) -> Result<PartitionSet> {
        let (facility, id) = parse_select(select)?;
        let changes = parse_changes(set)?;
        Ok(PartitionSet { facility, id, changes })
    }
}

fn parse_select(select: &[(u32, QualValue)]) -> Result<(String, u64)> {
    let bad = |why: String| RtrError::InvalidSelItem(why);
    let mut facility = None;
    let mut id = None;
    for (code, value) in select {
        let q = Qualifier::from_code(*code).filter(|q| q.def().list == Select);
        let Some(q) = q else {
            return Err(bad(format!("{} is not a select qualifier", qualifier_name(*code))));
        };
        let QualValue::Text(text) = value else {
            return Err(bad(format!("{} needs a string value", q.def().name)));
        };
        let slot_taken = match q {
            Qualifier::FacilityName => facility.replace(crate::api::normalise_facility(Some(text.trim()))?).is_some(),
            _ => {
                let n = text.trim().parse::<u64>().map_err(|_| {
                    bad(format!(
                        "partition name {text:?} names no partition: partitions are named by their id (a number, \
                         rtr_request_info's prt_name)"
                    ))
                })?;
                id.replace(n).is_some()
            }
        };
        if slot_taken {
            return Err(bad(format!("{} is given twice", q.def().name)));
        }
    }
    match (facility, id) {
        (Some(f), Some(i)) => Ok((f, i)),
        _ => Err(bad("the select qualifiers must give rtr_facility_name and rtr_partition_name".into())),
    }
}

fn parse_changes(set: &[(u32, QualValue)]) -> Result<Vec<PartitionChange>> {
    let bad = |why: String| RtrError::InvalidQualifier(why);
    let mut seen: Vec<Qualifier> = Vec::new();
    let mut changes = Vec::new();
    for (code, value) in set {
        let q = Qualifier::from_code(*code).filter(|q| q.def().list == Set);
        let Some(q) = q else {
            return Err(bad(format!("{} is not a set qualifier", qualifier_name(*code))));
        };
        let name = q.def().name;
        if seen.contains(&q) {
            return Err(bad(format!("{name} is given twice")));
        }
        seen.push(q);
        let change = match (q, value) {
            (Qualifier::Pre32Compatible, _) => {
                return Err(RtrError::Unsupported {
                    flag: name,
                    why: "the pre-3.2 failover policy is not offered: fail_to_standby or fail_to_shadow",
                })
            }
            (Qualifier::StateShadow, QualValue::Number(n)) => Some(PartitionChange::Shadowing(*n != 0)),
            (Qualifier::FailToStandby, _) => Some(PartitionChange::FailToShadow(false)),
            (Qualifier::FailToShadow, _) => Some(PartitionChange::FailToShadow(true)),
            (Qualifier::StateSuspend, QualValue::None | QualValue::Number(_)) => Some(PartitionChange::Suspend),
            (Qualifier::StateResume, _) => Some(PartitionChange::Resume),
            (Qualifier::StateExitwait, _) => Some(PartitionChange::IgnoreRecovery),
            (Qualifier::StateRecover, _) => Some(PartitionChange::RestartRecovery),
            (Qualifier::RcvyRetryCount, QualValue::Number(0)) => {
                return Err(bad(format!("{name} must be at least 1")));
            }
            (Qualifier::RcvyRetryCount, QualValue::Number(n)) => Some(PartitionChange::RetryLimit(*n)),
            (Qualifier::BePriorityList, QualValue::Text(list)) => Some(PartitionChange::PriorityList(priority(list)?)),
            (_, _) => {
                let want = match q.def().kind {
                    Text => "a string",
                    Number => "a number (rtr_uns_32_t)",
                    OptNumber => "no value or a number (rtr_uns_32_t)",
                    Ignored => "no value",
                };
                return Err(bad(format!("{name} takes {want}")));
            }
        };
        changes.extend(change);
    }
    for (a, b) in
        [(Qualifier::StateSuspend, Qualifier::StateResume), (Qualifier::StateExitwait, Qualifier::StateRecover)]
    {
        if seen.contains(&a) && seen.contains(&b) {
            return Err(bad(format!("{} and {} exclude each other", a.def().name, b.def().name)));
        }
    }
    if seen.is_empty() {
        return Err(bad("no set qualifier: nothing to change".into()));
    }
    Ok(changes)
}

/// `"node,node,..."`: valid node names, each once; empty entries are skipped.
fn priority(list: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name = node_name(n).map_err(|why| {
            RtrError::InvalidQualifier(format!("invalid node name {n:?} in the priority list: {why}"))
        })?;
        if out.contains(&name) {
            return Err(RtrError::InvalidQualifier(format!("node {name} is twice in the priority list")));
        }
        out.push(name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn sel(fac: &str, id: &str) -> Vec<(u32, QualValue)> {
        vec![
            (Qualifier::FacilityName.code(), QualValue::Text(fac.into())),
            (Qualifier::PartitionName.code(), QualValue::Text(id.into())),
        ]
    }

    fn set(list: &[(Qualifier, QualValue)]) -> Vec<(u32, QualValue)> {
        list.iter().map(|(q, v)| (q.code(), v.clone())).collect()
    }

    fn status(verb: u32, object: u32, select: &[(u32, QualValue)], set: &[(u32, QualValue)]) -> Status {
        check_call(0, verb, object)
            .and_then(|()| PartitionSet::parse(select, set))
            .map_or_else(|e| e.status(), |_| Status::Ok)
    }

    #[test]
    fn codes_and_names_are_unique_and_end_is_zero() {
        assert_eq!(Qualifier::End.code(), 0);
        for (i, a) in QUALIFIERS.iter().enumerate() {
            assert_eq!(Qualifier::from_code(a.code), Some(a.qualifier));
            assert_eq!(Qualifier::from_name(&a.name.to_uppercase()), Some(a.qualifier));
            for b in &QUALIFIERS[i + 1..] {
                assert_ne!(a.code, b.code);
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn a_good_call_gives_the_changes_in_order() {
        let s = PartitionSet::parse(
            &sel("fac", " 7 "),
            &set(&[
                (Qualifier::FailToStandby, QualValue::None),
                (Qualifier::RcvyRetryCount, QualValue::Number(3)),
                (Qualifier::StateSuspend, QualValue::Number(30)),
                (Qualifier::BePriorityList, QualValue::Text("b, a,".into())),
            ]),
        )
        .unwrap();
        assert_eq!(s.facility, "FAC");
        assert_eq!(s.id, 7);
        assert_eq!(
            s.changes,
            vec![
                PartitionChange::FailToShadow(false),
                PartitionChange::RetryLimit(3),
                PartitionChange::Suspend,
                PartitionChange::PriorityList(vec!["b".into(), "a".into()]),
            ]
        );
        let only_policy = set(&[(Qualifier::FailToStandby, QualValue::None)]);
        assert_eq!(
            PartitionSet::parse(&sel("F", "1"), &only_policy).unwrap().changes,
            vec![PartitionChange::FailToShadow(false)]
        );
        let shadow = set(&[(Qualifier::FailToShadow, QualValue::None)]);
        assert_eq!(
            PartitionSet::parse(&sel("F", "1"), &shadow).unwrap().changes,
            vec![PartitionChange::FailToShadow(true)]
        );
        // rtr_partition_state_shadow: 0 turns shadowing off, any other
        // value on.
        for (n, on) in [(0, false), (1, true), (7, true)] {
            let q = set(&[(Qualifier::StateShadow, QualValue::Number(n))]);
            assert_eq!(PartitionSet::parse(&sel("F", "1"), &q).unwrap().changes, vec![PartitionChange::Shadowing(on)]);
        }
        assert_eq!(check_call(1, VERB_SET, PARTITION_OBJECT).unwrap_err().status(), Status::Invflags);
    }

    #[test]
    fn each_bad_argument_has_its_status() {
        let resume = set(&[(Qualifier::StateResume, QualValue::None)]);
        let good = sel("F", "1");
        assert_eq!(status(VERB_SET, PARTITION_OBJECT, &good, &resume), Status::Ok);
        assert_eq!(status(0, PARTITION_OBJECT, &good, &resume), Status::Invobjct);
        assert_eq!(status(VERB_SET, 2, &good, &resume), Status::Invobjct);
        // Select list.
        assert_eq!(status(1, 1, &good[..1], &resume), Status::Invselitm);
        assert_eq!(status(1, 1, &sel("F", "one"), &resume), Status::Invselitm);
        assert_eq!(status(1, 1, &sel("9F", "1"), &resume), Status::Invfacnam);
        let mut twice = good.clone();
        twice.push(good[1].clone());
        assert_eq!(status(1, 1, &twice, &resume), Status::Invselitm);
        let mut wrong_list = good.clone();
        wrong_list.push(resume[0].clone());
        assert_eq!(status(1, 1, &wrong_list, &resume), Status::Invselitm);
        // Set list.
        for bad in [
            vec![],
            set(&[(Qualifier::FacilityName, QualValue::Text("F".into()))]),
            vec![(99, QualValue::None)],
            set(&[(Qualifier::RcvyRetryCount, QualValue::Number(0))]),
            set(&[(Qualifier::RcvyRetryCount, QualValue::None)]),
            set(&[(Qualifier::BePriorityList, QualValue::Text("a,A".into()))]),
            set(&[(Qualifier::BePriorityList, QualValue::Text("-x".into()))]),
            set(&[(Qualifier::StateSuspend, QualValue::Text("x".into()))]),
            set(&[(Qualifier::StateSuspend, QualValue::None), (Qualifier::StateResume, QualValue::None)]),
            set(&[(Qualifier::StateExitwait, QualValue::None), (Qualifier::StateRecover, QualValue::None)]),
            set(&[(Qualifier::StateResume, QualValue::None), (Qualifier::StateResume, QualValue::None)]),
        ] {
            assert_eq!(status(1, 1, &good, &bad), Status::Invqualifier, "{bad:?}");
        }
        assert_eq!(status(1, 1, &good, &set(&[(Qualifier::Pre32Compatible, QualValue::None)])), Status::Unsupported);
        // The shadow switch needs its value.
        assert_eq!(status(1, 1, &good, &set(&[(Qualifier::StateShadow, QualValue::None)])), Status::Invqualifier);
    }
}

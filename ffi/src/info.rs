//! Management: `rtr_request_info` and `rtr_set_info`.

use std::ffi::c_char;

use rtr_core::info_class::MAX_SELVAL_LEN;
use rtr_core::qualifier::{check_call, QualValue, Qualifier, ValueKind};
use rtr_core::Status;

use crate::boundary::{guard, non_null, opt_cstr, rtr, status_of, write_out};
use crate::types::*;

/// Longest class code or selection item read (bytes, without the NUL).
const MAX_NAME_SCAN: usize = 255;
/// Longest item list (`getitms`) or string qualifier value read.
const MAX_LIST_SCAN: usize = 4096;
/// Most qualifiers read from one list before its `rtr_qualifier_end`.
pub(crate) const MAX_QUALIFIERS: usize = 64;

/// Ask RTR for management information: the program's `rtr show` (RTR's
/// $GET_TXI). The manuals name the call and `RTR_INFCLA_BACKEND_TX`; the
/// other classes and all items are this implementation's (see the
/// `RTR_INFCLA_*` comments for each class's items).
///
/// On `RTR_STS_OK`, `*pchannel` holds a new *information channel*; the
/// answer is already queued on it when the call returns:
/// - one `rtr_mt_request_info` message per object of class `infcla` whose
///   item `selitm` equals `selval` (compared without regard to ASCII case).
///   Its data is text: the items named by `getitms`, in that order, each as
///   `item=value`, joined by `\n` and ended by a NUL (`msgsb.msglen` counts
///   the NUL); for example `"prt_id=1\nstate=active"`. An item is written
///   with its name as `getitms` spells it. Values contain no newline;
///   unknown values are empty (`tid=` for a server without a transaction).
/// - then `rtr_mt_closed`, whose `rtr_status_data_t` has status
///   `RTR_STS_OK` and as reason the number of objects the node left out (a
///   node lists at most 2000 objects per class; normally 0), or the status
///   of a failure after the call returned: `RTR_STS_NODEUNAVAIL` (the node
///   cannot be reached), `RTR_STS_TIMOUT` (it did not answer within about
///   10 s); no records come then.
///
/// After `rtr_mt_closed` only `rtr_close_channel` is valid on the channel
/// (other calls return `RTR_STS_CHANCLOSED`); close it to release it.
/// Transactional calls and broadcasts on an information channel return
/// `RTR_STS_INVCHANNEL`. Receive from it with the channel in the list of
/// `rtr_receive_message` or with `RTR_ANYCHAN`; the wakeup routine and the
/// wakeup descriptor signal its messages like any other.
///
/// Arguments:
/// - `pchannel` (out, required): receives the channel id.
/// - `flags`: `RTR_NO_FLAGS`.
/// - `infcla` (required): the class code, one of the `RTR_INFCLA_*` strings
///   (`"fac"`, `"prt"`, `"srv"`, `"ftx"`, `"rtx"`, `"btx"`, `"lnk"`),
///   without regard to case.
/// - `selitm`: the item that selects objects; NULL, `""` or `"*"` selects
///   every object (`selval` is then ignored). `"fdb_f_name"` is accepted
///   for `fac_name`.
/// - `selval`: the value `selitm` must have (NULL is `""`); at most
///   `RTR_MAX_SELVAL_LEN` characters.
/// - `getitms`: the items to return, comma-separated (spaces around names
///   are ignored); NULL, `""` or `"*"` returns every item of the class, in
///   the order the `RTR_INFCLA_*` comments list them.
///
/// The query runs inside the call (a round trip to the node, at most about
/// 10 s); the library copies every argument and keeps no pointer.
///
/// Returns:
/// - `RTR_STS_OK`: the channel is open and holds the answer;
/// - `RTR_STS_INVPTR`: `pchannel` or `infcla` is NULL;
/// - `RTR_STS_INVFLAGS`: `flags` is not `RTR_NO_FLAGS`;
/// - `RTR_STS_INVSELITM`: unknown class; `selitm` or an item of `getitms`
///   is not an item of the class; an empty name in `getitms`; `selval`
///   longer than `RTR_MAX_SELVAL_LEN`; a string that is not UTF-8 or longer
///   than the library reads (255 bytes for `infcla` and `selitm`, 4096 for
///   `getitms`);
/// - `RTR_STS_TOOMANYCHN`: 256 channels are already open;
/// - `RTR_STS_NODEUNAVAIL`: the RTR node cannot be started or has stopped;
/// - `RTR_STS_INTERNAL`: an internal error (a bug); nothing was opened.
///
/// Thread safety: may be called from any thread, but not from the wakeup
/// routine.
///
/// # Safety
/// `pchannel` is NULL or writable; each string argument is NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rtr_request_info(
    pchannel: *mut rtr_channel_t,
    flags: rtr_req_flag_t,
    infcla: rtr_infoclass_t,
    selitm: rtr_itemcode_t,
    selval: rtr_selval_t,
    getitms: rtr_itemcode_t,
) -> rtr_status_t {
    guard(|| {
        non_null(pchannel, Status::Invptr)?;
        non_null(infcla, Status::Invptr)?;
        // SAFETY: the strings are NULL or NUL-terminated (caller contract);
        // opt_cstr reads at most max + 1 bytes and stops at the NUL.
        let (infcla, selitm, selval, getitms) = unsafe {
            (
                opt_cstr(infcla, MAX_NAME_SCAN, Status::Invselitm)?,
                opt_cstr(selitm, MAX_NAME_SCAN, Status::Invselitm)?,
                opt_cstr(selval, MAX_SELVAL_LEN, Status::Invselitm)?,
                opt_cstr(getitms, MAX_LIST_SCAN, Status::Invselitm)?,
            )
        };
        let text = |s: Option<String>| s.unwrap_or_default();
        let chan = rtr()?
            .request_info(flags, &text(infcla), &text(selitm), &text(selval), &text(getitms))
            .map_err(status_of)?;
        // SAFETY: pchannel is non-NULL (checked above) and writable (caller contract).
        unsafe { write_out(pchannel, chan) };
        Ok(())
    })
}

/// Change a partition: the program's `rtr set partition` (RTR's SET
/// PARTITION). It acts on the partitions of the node this process uses (the
/// embedded node, or the node daemon named by `RTR_NODE_SOCKET`); run it
/// on the backend that holds the partition.
///
/// On `RTR_STS_OK`, `*pchannel` holds a new information channel on which one
/// `rtr_mt_closed` is already queued when the call returns. Its
/// `rtr_status_data_t` gives the result (reason 0):
/// - `RTR_STS_OK`: every change was made;
/// - `RTR_STS_INVOBJCT`: no such partition in that facility on this node;
/// - `RTR_STS_INVQUALIFIER` (extension): the partition's state does not
///   allow the change (`rtr_partition_state_exitwait` or
///   `rtr_partition_state_recover` on a partition that waits for no journal);
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_TIMOUT`: the node cannot be reached or
///   did not answer within about 10 s.
///
/// The changes are made in the order of `set_qualifiers`; the first refused
/// stops the rest (those before it stay made). Then close the channel with
/// `rtr_close_channel` (the only call valid on it after `rtr_mt_closed`).
///
/// Arguments:
/// - `pchannel` (out, required): receives the channel id.
/// - `flags`: `RTR_NO_FLAGS`.
/// - `verb`: `verb_set`.
/// - `object`: `rtr_partition_object`.
/// - `select_qualifiers` (required): which partition: `rtr_facility_name`
///   and `rtr_partition_name` (both strings, both required; the partition
///   name is its id, as `rtr_request_info`'s `prt_name` item gives it).
/// - `set_qualifiers` (required): what to change, at least one qualifier:
///   `rtr_partition_state_suspend`, `rtr_partition_state_resume`,
///   `rtr_partition_state_exitwait`, `rtr_partition_state_recover`,
///   `rtr_partition_be_priority_list`, `rtr_partition_rcvy_retry_count`
///   (extension), `rtr_partition_fail_to_standby` and
///   `rtr_partition_fail_to_shadow` (a shadow partition's failover policy:
///   a standby of the primary's site takes over, or the other site's
///   secondary at once; on a partition that is not shadowed
///   `fail_to_standby` is accepted and changes nothing, `fail_to_shadow`
///   ends in `RTR_STS_UNSUPPORTED`), and `rtr_partition_state_shadow` (a
///   `rtr_uns_32_t`: 0 turns the shadow range's shadowing off, only at the
///   shadow primary running alone, else it ends in `RTR_STS_INVQUALIFIER`;
///   any other value turns it on again; on a partition that is not
///   shadowed 0 changes nothing and on ends in `RTR_STS_UNSUPPORTED`; a
///   role authority that cannot be reached ends it in
///   `RTR_STS_NODEUNAVAIL`, nothing changed). See `rtr_qualifier_t` for
///   the value each takes.
///
/// Both lists are arrays of `rtr_qualifier_value_t` ended by an entry whose
/// qualifier is `rtr_qualifier_end`; at most 64 entries are read before it.
/// The library reads every value during the call and keeps no pointer.
///
/// Returns (nothing is opened or changed unless `RTR_STS_OK`):
/// - `RTR_STS_OK`: the channel is open and holds the result;
/// - `RTR_STS_INVPTR`: `pchannel`, `select_qualifiers` or `set_qualifiers`
///   is NULL;
/// - `RTR_STS_INVFLAGS`: `flags` is not `RTR_NO_FLAGS`;
/// - `RTR_STS_INVOBJCT`: `verb` is not `verb_set` or `object` is not
///   `rtr_partition_object`;
/// - `RTR_STS_INVSELITM`: a select qualifier is missing, given twice, not a
///   select qualifier, without a string value, or its string is unreadable
///   (not UTF-8, over 4096 bytes); the partition name is not a partition id;
///   no `rtr_qualifier_end` within 65 entries;
/// - `RTR_STS_INVFACNAM`: the facility name is not a valid name;
/// - `RTR_STS_INVQUALIFIER` (extension): no set qualifier; one that is
///   unknown, a select qualifier, or given twice; a value of the wrong kind
///   (a NULL string); a retry count of 0; an invalid or repeated node in the
///   priority list; suspend with resume, or exitwait with recover; an
///   unreadable string; no `rtr_qualifier_end` within 65 entries;
/// - `RTR_STS_UNSUPPORTED`: `rtr_partition_pre32_compatible`;
/// - `RTR_STS_TOOMANYCHN`: 256 channels are already open;
/// - `RTR_STS_NODEUNAVAIL`: the RTR node cannot be started or has stopped;
/// - `RTR_STS_INTERNAL`: an internal error (a bug).
///
/// Thread safety: may be called from any thread, but not from the wakeup
/// routine.
///
/// # Safety
/// `pchannel` is NULL or writable; each list is NULL or a readable array
/// ended by `rtr_qualifier_end`, whose `pvalue`s point to what their
/// qualifier takes (or are NULL).
#[no_mangle]
pub unsafe extern "C" fn rtr_set_info(
    pchannel: *mut rtr_channel_t,
    flags: rtr_flags_t,
    verb: rtr_verb_t,
    object: rtr_managed_object_t,
    select_qualifiers: *const rtr_qualifier_value_t,
    set_qualifiers: *const rtr_qualifier_value_t,
) -> rtr_status_t {
    guard(|| {
        non_null(pchannel, Status::Invptr)?;
        non_null(select_qualifiers, Status::Invptr)?;
        non_null(set_qualifiers, Status::Invptr)?;
        // The values a list holds depend on the object: check it first.
        check_call(flags, verb, object).map_err(status_of)?;
        // SAFETY: both lists are non-NULL (checked above) and ended by
        // rtr_qualifier_end, with values as their qualifiers take (caller contract).
        let (select, set) = unsafe {
            (qualifiers(select_qualifiers, Status::Invselitm)?, qualifiers(set_qualifiers, Status::Invqualifier)?)
        };
        let chan = rtr()?.set_info(flags, verb, object, &select, &set).map_err(status_of)?;
        // SAFETY: pchannel is non-NULL (checked above) and writable (caller contract).
        unsafe { write_out(pchannel, chan) };
        Ok(())
    })
}

/// Read a qualifier list up to its `rtr_qualifier_end`: each qualifier code
/// with its value, read as the qualifier takes it (unknown qualifiers: no
/// value; core refuses them). A list without its end within
/// [`MAX_QUALIFIERS`] entries, or an unreadable string, fails with `status`.
///
/// # Safety
/// `p` is non-NULL and points to readable entries up to and including the
/// terminator (or at least `MAX_QUALIFIERS + 1` of them); each `pvalue` is
/// NULL or points to what its qualifier takes.
unsafe fn qualifiers(p: *const rtr_qualifier_value_t, status: Status) -> Result<Vec<(u32, QualValue)>, Status> {
    let end = Qualifier::End.code();
    let mut out = Vec::new();
    for i in 0..=MAX_QUALIFIERS {
        // SAFETY: entries up to the terminator (or the first MAX_QUALIFIERS +
        // 1) are readable (caller contract); we stop at the terminator.
        // Unaligned reads tolerate packed C arrays.
        let e = unsafe { p.add(i).read_unaligned() };
        if e.qualifier == end {
            return Ok(out);
        }
        let kind = Qualifier::from_code(e.qualifier).map_or(ValueKind::Ignored, |q| q.def().kind);
        let value = match kind {
            ValueKind::Ignored => QualValue::None,
            // SAFETY: a string qualifier's pvalue is NULL or NUL-terminated
            // (caller contract); at most MAX_LIST_SCAN + 1 bytes are read.
            ValueKind::Text => match unsafe { opt_cstr(e.pvalue.cast::<c_char>(), MAX_LIST_SCAN, status) }? {
                Some(s) => QualValue::Text(s),
                None => QualValue::None,
            },
            ValueKind::Number | ValueKind::OptNumber if e.pvalue.is_null() => QualValue::None,
            ValueKind::Number | ValueKind::OptNumber => {
                // SAFETY: a number qualifier's non-NULL pvalue points to an
                // rtr_uns_32_t (caller contract); read unaligned.
                let n = unsafe { e.pvalue.cast::<rtr_uns_32_t>().read_unaligned() };
                QualValue::Number(n)
            }
        };
        out.push((e.qualifier, value));
    }
    Err(status)
}

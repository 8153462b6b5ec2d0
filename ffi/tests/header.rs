//! The committed header: it matches what xtask generates, and it compiles on
//! its own as C11 and as C++17 with every warning an error, including the
//! legacy idioms of rtr-c-api.md §5 (string literals, NULL macros, event
//! lists, switch on the message type, status data in the buffer).

use std::path::{Path, PathBuf};
use std::process::Command;

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("include")
}

#[test]
fn committed_header_matches_the_generator() {
    let committed = std::fs::read_to_string(include_dir().join("rtr.h"))
        .expect("include/rtr.h is missing: run `cargo run -p xtask -- header`");
    let generated = xtask::generate();
    if let Some(diff) = xtask::first_difference(&committed, &generated) {
        panic!("include/rtr.h is out of date ({diff}): run `cargo run -p xtask -- header` and commit it");
    }
}

/// A translation unit that includes only rtr.h, checks the sizes legacy code
/// depends on, and uses the API the way legacy C programs do. It is compiled
/// (not linked), so it only has to be valid C and C++.
const TU: &str = r#"
#include "rtr.h"

#ifdef __cplusplus
#define RTR_TEST_ASSERT(c, m) static_assert(c, m)
#else
#define RTR_TEST_ASSERT(c, m) _Static_assert(c, m)
#endif

RTR_TEST_ASSERT(sizeof(rtr_tid_t) == 28, "rtr_tid_t is 7 x 32 bits");
RTR_TEST_ASSERT(sizeof(rtr_status_data_t) == 8, "rtr_status_data_t is 8 bytes");
RTR_TEST_ASSERT(sizeof(rtr_msg_type_t) == 4, "rtr_msg_type_t is a 32-bit enum");
RTR_TEST_ASSERT(sizeof(rtr_keyseg_type_t) == 4, "rtr_keyseg_type_t is a 32-bit enum");
RTR_TEST_ASSERT(sizeof(rtr_usrhdl_t) == sizeof(void *), "a user handle holds a pointer");
RTR_TEST_ASSERT(RTR_STS_OK == 1, "RTR_STS_OK is 1");
RTR_TEST_ASSERT((RTR_STS_OK & 1) == 1, "success is odd");
RTR_TEST_ASSERT(RTR_NO_TIMOUTMS != 0, "RTR_NO_TIMOUTMS differs from a poll");
RTR_TEST_ASSERT(RTR_MAX_MSGLEN == 64000, "RTR_MAX_MSGLEN");
RTR_TEST_ASSERT(RTR_MAX_NUMSEG == 20, "RTR_MAX_NUMSEG");
RTR_TEST_ASSERT(sizeof(rtr_qualifier_t) == 4, "rtr_qualifier_t is a 32-bit enum");
RTR_TEST_ASSERT(rtr_qualifier_end == 0, "a zeroed entry ends a qualifier list");
RTR_TEST_ASSERT(RTR_MAX_SELVAL_LEN == 255, "RTR_MAX_SELVAL_LEN");

int legacy_client(void);
int legacy_server(void);
int legacy_management(void);

/* The manuals' management calls: a query, then a partition change. */
int legacy_management(void)
{
    rtr_channel_t ch;
    rtr_msgsb_t sb;
    char buf[RTR_MAX_MSGLEN];
    rtr_qualifier_value_t select_qualifiers[3];
    rtr_qualifier_value_t set_qualifiers[3];
    rtr_uns_32_t retries = 3;
    rtr_status_t s = rtr_request_info(&ch, RTR_NO_FLAGS, RTR_INFCLA_BACKEND_TX, "fdb_f_name", "CASHFACIL",
                                      "tid,state");
    while (s == RTR_STS_OK) {
        s = rtr_receive_message(&ch, RTR_NO_FLAGS, RTR_ANYCHAN, buf, sizeof buf, RTR_NO_TIMOUTMS, &sb);
        if (sb.msgtype == rtr_mt_closed) {
            s = rtr_close_channel(ch, RTR_NO_FLAGS);
            break;
        }
    }
    select_qualifiers[0].qualifier = rtr_facility_name;
    select_qualifiers[0].pvalue = "CASHFACIL";
    select_qualifiers[1].qualifier = rtr_partition_name;
    select_qualifiers[1].pvalue = "1";
    select_qualifiers[2].qualifier = rtr_qualifier_end;
    select_qualifiers[2].pvalue = NULL;
    set_qualifiers[0].qualifier = rtr_partition_state_suspend;
    set_qualifiers[0].pvalue = NULL;
    set_qualifiers[1].qualifier = rtr_partition_rcvy_retry_count;
    set_qualifiers[1].pvalue = &retries;
    set_qualifiers[2].qualifier = rtr_qualifier_end;
    set_qualifiers[2].pvalue = NULL;
    s = rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select_qualifiers, set_qualifiers);
    if (s != RTR_STS_OK) {
        return s == RTR_STS_INVOBJCT || s == RTR_STS_INVSELITM || s == RTR_STS_INVQUALIFIER;
    }
    s = rtr_receive_message(&ch, RTR_NO_FLAGS, RTR_ANYCHAN, buf, sizeof buf, RTR_NO_TIMOUTMS, &sb);
    return sb.msgtype == rtr_mt_closed && ((rtr_status_data_t *)buf)->status == RTR_STS_OK;
}

int legacy_client(void)
{
    rtr_channel_t ch;
    rtr_msgsb_t sb;
    char buf[RTR_MAX_MSGLEN];
    const char req[] = "request";
    rtr_tid_t tid;
    rtr_usrhdl_t h;
    rtr_status_t s = rtr_open_channel(&ch, RTR_F_OPE_CLIENT, "FAC", RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                      RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG);
    if (s != RTR_STS_OK) {
        return rtr_error_text(s)[0];
    }
    s = rtr_receive_message(&ch, RTR_NO_FLAGS, RTR_ANYCHAN, buf, sizeof buf, RTR_NO_TIMOUTMS, &sb);
    if (sb.msgtype == rtr_mt_closed) {
        return (int)((rtr_status_data_t *)buf)->status;
    }
    s = rtr_start_tx(ch, RTR_NO_FLAGS, 5000, RTR_NO_JOINCHAN);
    s = rtr_send_to_server(ch, RTR_NO_FLAGS, req, sizeof req, RTR_NO_MSGFMT);
    s = rtr_send_to_server(ch, RTR_F_SEN_ACCEPT, buf, 0, RTR_NO_MSGFMT);
    s = rtr_send_to_server(ch, RTR_NO_FLAGS, RTR_NO_MSG, 0, RTR_NO_MSGFMT);
    s = rtr_get_tid(ch, RTR_NO_FLAGS, &tid);
    s = rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON);
    s = rtr_reject_tx(ch, RTR_NO_FLAGS, 7);
    s = rtr_set_user_handle(ch, (rtr_usrhdl_t)&sb);
    s = rtr_get_user_handle(ch, &h);
    {
        rtr_channel_t list[] = { ch, RTR_CHAN_ENDLIST };
        s = rtr_receive_message(&ch, RTR_NO_FLAGS, list, buf, sizeof buf, 0, &sb);
        if (s == RTR_STS_TIMOUT || s == RTR_STS_BUFTOOSMALL) {
            return 1;
        }
    }
    s = rtr_close_channel(ch, RTR_NO_FLAGS);
    return s == RTR_STS_OK && tid.tid32[0] == 0 && h != 0;
}

int legacy_server(void)
{
    rtr_channel_t ch;
    rtr_msgsb_t sb;
    char buf[RTR_MAX_MSGLEN];
    uint32_t lo = 0, hi = 99;
    char name_lo[8] = "A";
    rtr_keyseg_t ks[2];
    rtr_evtnum_t evt[] = { RTR_EVTNUM_USERDEF, RTR_EVTNUM_USERBASE, RTR_EVTNUM_UP_TO, RTR_EVTNUM_USERMAX,
                           RTR_EVTNUM_RTRDEF, RTR_EVTNUM_SRPRIMARY, RTR_EVTNUM_SRSTANDBY,
                           RTR_EVTNUM_ENDLIST };
    rtr_status_t s;
    ks[0].ks_type = rtr_keyseg_unsigned;
    ks[0].ks_length = 4;
    ks[0].ks_offset = 0;
    ks[0].ks_lo_bound = &lo;
    ks[0].ks_hi_bound = &hi;
    ks[1].ks_type = rtr_keyseg_string;
    ks[1].ks_length = sizeof name_lo;
    ks[1].ks_offset = 4;
    ks[1].ks_lo_bound = name_lo;
    ks[1].ks_hi_bound = NULL;
    s = rtr_open_channel(&ch, RTR_F_OPE_SERVER | RTR_F_OPE_EXPLICIT_PREPARE | RTR_F_OPE_EXPLICIT_ACCEPT,
                         "FAC", RTR_NO_RCPNAM, evt, RTR_NO_ACCESS, 2, ks);
    for (;;) {
        s = rtr_receive_message(&ch, RTR_NO_FLAGS, RTR_ANYCHAN, buf, sizeof buf, RTR_NO_TIMOUTMS, &sb);
        if (s != RTR_STS_OK) {
            return 1;
        }
        switch (sb.msgtype) {
        case rtr_mt_msg1:
        case rtr_mt_msg1_uncertain:
        case rtr_mt_msgn:
            s = rtr_reply_to_client(ch, RTR_NO_FLAGS, buf, sb.msglen, RTR_NO_MSGFMT);
            break;
        case rtr_mt_prepare:
            s = rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON);
            break;
        case rtr_mt_accepted:
        case rtr_mt_rejected:
            s = ((rtr_status_data_t *)buf)->status;
            break;
        case rtr_mt_user_event:
        case rtr_mt_rtr_event:
            s = sb.evtnum;
            break;
        case rtr_mt_closed:
            return 0;
        default:
            break;
        }
    }
}
"#;

/// Compile `TU` with `compiler` as `lang`; fail the test with the
/// compiler's diagnostics.
fn compile(compiler_env: &str, default: &str, std: &str, ext: &str) {
    let compiler = std::env::var(compiler_env).unwrap_or_else(|_| default.to_string());
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join(format!("tu.{ext}"));
    std::fs::write(&src, TU).expect("write the translation unit");
    let out = Command::new(&compiler)
        .arg(format!("-std={std}"))
        .args(["-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c"])
        .arg("-I")
        .arg(include_dir())
        .arg(&src)
        .arg("-o")
        .arg(dir.path().join("tu.o"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler} (set {compiler_env} to a {std} compiler): {e}"));
    assert!(
        out.status.success(),
        "include/rtr.h does not compile with {compiler} -std={std}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn header_compiles_as_c11() {
    compile("CC", "gcc", "c11", "c");
}

#[test]
fn header_compiles_as_cxx17() {
    compile("CXX", "g++", "c++17", "cpp");
}

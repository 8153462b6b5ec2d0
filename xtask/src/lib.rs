//! Project tasks. [`generate`] builds `include/rtr.h`: cbindgen reads the
//! C types and functions from `ffi/src` (it parses the source, it does not
//! link rtr-ffi), and the constants come from rtr-core's tables (statuses,
//! message types, flags, events, limits), so C, Rust and Python agree.
//!
//! The output is deterministic: the same sources give the same bytes.

pub mod dist;

use std::fmt::Write as _;
use std::path::PathBuf;

use cbindgen::{Builder, Config, DocumentationStyle, Language, Style};
use rtr_core::events::ALL_EVENTS;
use rtr_core::flags::ALL_FLAGS;
use rtr_core::info_class::CLASSES;
use rtr_core::qualifier::{QualifierList, ValueKind, OBJECTS, QUALIFIERS, VERBS};
use rtr_core::{MsgType, Status};

/// The workspace root (this crate lives in `<root>/xtask`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Where the committed header lives.
pub fn header_path() -> PathBuf {
    workspace_root().join("include").join("rtr.h")
}

/// The key segment types (`rtr_keyseg_type_t`). rtr-core has no C codes for
/// them; the values must match `ffi/src/types.rs` (a test there checks).
const KEYSEG_TYPES: &[(&str, u32, &str)] = &[
    ("rtr_keyseg_unsigned", 0, "unsigned integer, native byte order, 1, 2, 4 or 8 bytes"),
    ("rtr_keyseg_signed", 1, "signed integer, native byte order, 1, 2, 4 or 8 bytes"),
    ("rtr_keyseg_string", 2, "byte string compared bytewise"),
    ("rtr_keyseg_partition", 3, "partition name (not supported yet: RTR_STS_UNSUPPORTED)"),
    ("rtr_keyseg_rmname", 4, "XA resource manager name (not supported: RTR_STS_UNSUPPORTED)"),
];

/// Statuses that HP RTR does not have (added by this implementation).
/// Checked against `Status::ALL` by a test, so the list cannot name a
/// status that does not exist.
const EXTENSION_STATUSES: &[&str] = &[
    "RTR_STS_TOOMANYCHN",
    "RTR_STS_NOTACTTX",
    "RTR_STS_TXALRACC",
    "RTR_STS_TXACTIVE",
    "RTR_STS_BUFTOOSMALL",
    "RTR_STS_CHANCLOSED",
    "RTR_STS_KEYOVERLAP",
    "RTR_STS_KEYLAYOUT",
    "RTR_STS_KEYMSGSHORT",
    "RTR_STS_NOCONCURRENT",
    "RTR_STS_REJECTED",
    "RTR_STS_UNSUPPORTED",
    "RTR_STS_SRVDIED",
    "RTR_STS_NODEUNAVAIL",
    "RTR_STS_INTERNAL",
    "RTR_STS_INVPTR",
    "RTR_STS_NOTFRONTEND",
    "RTR_STS_NOTBACKEND",
    "RTR_STS_RETRYLIMIT",
    "RTR_STS_NOSTANDBY",
    "RTR_STS_NOTROUTER",
    "RTR_STS_INVQUALIFIER",
];

/// The call each flag prefix belongs to.
const FLAG_GROUPS: &[(&str, &str, &str)] = &[
    ("RTR_F_OPE_", "rtr_open_channel", "rtr_ope_flag_t"),
    ("RTR_F_SEN_", "rtr_send_to_server", "rtr_sen_flag_t"),
    ("RTR_F_REP_", "rtr_reply_to_client", "rtr_rep_flag_t"),
    ("RTR_F_ACC_", "rtr_accept_tx", "rtr_acc_flag_t"),
    ("RTR_F_REJ_", "rtr_reject_tx", "rtr_rej_flag_t"),
    ("RTR_F_CLO_", "rtr_close_channel", "rtr_clo_flag_t"),
    ("RTR_F_TID_", "rtr_get_tid", "rtr_tid_flag_t"),
];

/// Maximum field lengths. Those rtr-core defines come from it; the others
/// are limits of calls not implemented yet (values from rtr-c-api.md §3.8).
fn limits() -> Vec<(&'static str, usize, &'static str)> {
    vec![
        ("RTR_MAX_MSGLEN", rtr_core::MAX_MSGLEN, "bytes in one message"),
        ("RTR_MAX_NUMSEG", rtr_core::keyseg::MAX_NUMSEG, "key segments of one channel"),
        ("RTR_MAX_FACNAM_LEN", rtr_core::MAX_FACNAM_LEN, "characters in a facility name"),
        ("RTR_MAX_RCPNAM_LEN", rtr_core::MAX_RCPNAM_LEN, "characters in a recipient name"),
        ("RTR_MAX_RCPSPC_LEN", 255, "characters in a recipient specification"),
        ("RTR_MAX_ACCESS_LEN", rtr_core::MAX_ACCESS_LEN, "characters in an access string"),
        ("RTR_MAX_MSGFMT_LEN", 8192, "characters in a message format string"),
        ("RTR_MAX_PARNAM_LEN", 63, "characters in a partition name"),
        ("RTR_MAX_BLOB_LEN", 1024, "bytes of data in rtr_prepare_tx"),
        ("RTR_MAX_SELVAL_LEN", rtr_core::info_class::MAX_SELVAL_LEN, "characters in a rtr_request_info selector value"),
        ("RTR_MAX_FE_NAM_LEN", 255, "characters in a frontend name"),
    ]
}

const TOP_COMMENT: &str = "\
/*
 * rtr.h: the C API of RTR, a re-implementation of HP's Reliable Transaction
 * Router. Programs written for the RTR V3.2-V4.2 C API compile against this
 * header unchanged and link with librtr (-lrtr).
 *
 * Conventions
 * - Every call returns an rtr_status_t. Compare it with RTR_STS_OK (success
 *   statuses are odd, failures even); rtr_error_text(status) gives the text.
 * - Most work completes asynchronously: results, data and outcomes arrive as
 *   messages through rtr_receive_message.
 * - Outputs (pointer arguments marked \"out\") are written only when the call
 *   returns RTR_STS_OK; the one exception, RTR_STS_BUFTOOSMALL from
 *   rtr_receive_message, is documented there.
 * - Thread safety: every call may be made from any thread; use each channel
 *   from one thread at a time.
 * - Ownership: the library copies what it needs during a call and never
 *   keeps a caller's pointer after the call returns. Strings it returns
 *   (rtr_error_text) are static: never free them.
 * - Names documented as \"Extension\" are not in HP RTR; portable programs
 *   should not depend on them.
 *
 * Generated by `cargo run -p xtask -- header` from ffi/src (cbindgen) and the
 * tables of rtr-core. Do not edit: edit the sources and regenerate.
 */";

/// C comment text: never let a table text close the comment early.
fn comment(text: &str) -> String {
    text.replace("*/", "* /")
}

fn msg_type_enum(out: &mut String) {
    out.push_str("\n/* The kind of a received message (rtr_msgsb_t.msgtype). */\ntypedef enum {\n");
    // No comma after the last enumerator: C89 compilers still build legacy code.
    let items: Vec<String> = MsgType::ALL.iter().map(|m| format!("    {} = {}", m.name(), m.code())).collect();
    out.push_str(&items.join(",\n"));
    out.push('\n');
    out.push_str("} rtr_msg_type_t;\n");
}

fn keyseg_type_enum(out: &mut String) {
    out.push_str("\n/* The type of a key segment (rtr_keyseg_t.ks_type). */\ntypedef enum {\n");
    for (i, (name, value, what)) in KEYSEG_TYPES.iter().enumerate() {
        let comma = if i + 1 < KEYSEG_TYPES.len() { "," } else { "" };
        let _ = writeln!(out, "    {name} = {value}{comma} /* {} */", comment(what));
    }
    out.push_str("} rtr_keyseg_type_t;\n");
}

/// `text` cut into lines of at most `width` characters (at spaces).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// One `typedef enum` of `rtr_set_info`'s vocabulary: (name, value,
/// comment). A comment that does not fit after its enumerator goes above it.
fn set_info_enum(out: &mut String, intro: &str, ty: &str, items: &[(String, u32, String)]) {
    let _ = write!(out, "\n{intro}typedef enum {{\n");
    for (i, (name, value, what)) in items.iter().enumerate() {
        let comma = if i + 1 < items.len() { "," } else { "" };
        let line = format!("    {name} = {value}{comma}");
        let what = comment(what);
        if line.len() + what.len() + 6 <= 100 {
            let _ = writeln!(out, "{line} /* {what} */");
        } else {
            out.push_str("    /*\n");
            for l in wrap(&what, 90) {
                let _ = writeln!(out, "     * {l}");
            }
            let _ = writeln!(out, "     */\n{line}");
        }
    }
    let _ = writeln!(out, "}} {ty};");
}

fn set_info_enums(out: &mut String) {
    let plain = |t: &[(&str, u32, &str)]| -> Vec<(String, u32, String)> {
        t.iter().map(|(n, v, w)| (n.to_string(), *v, w.to_string())).collect()
    };
    set_info_enum(out, "/* The verb of rtr_set_info. */\n", "rtr_verb_t", &plain(VERBS));
    set_info_enum(out, "/* The object rtr_set_info changes. */\n", "rtr_managed_object_t", &plain(OBJECTS));
    let qualifiers: Vec<(String, u32, String)> = QUALIFIERS
        .iter()
        .map(|d| {
            let ext = if d.in_rtr { "" } else { "Extension: " };
            let value = match d.kind {
                ValueKind::Ignored => "pvalue NULL",
                ValueKind::Text => "pvalue: string",
                ValueKind::Number => "pvalue: rtr_uns_32_t *",
                ValueKind::OptNumber => "pvalue: NULL or rtr_uns_32_t *",
            };
            let text = match d.list {
                QualifierList::End => format!("{ext}{}", d.meaning),
                QualifierList::Select => format!("{ext}select, {value}; {}", d.meaning),
                QualifierList::Set => format!("{ext}set, {value}; {}", d.meaning),
            };
            (d.name.to_string(), d.code, text)
        })
        .collect();
    set_info_enum(
        out,
        "/*\n * The qualifiers of rtr_set_info (rtr_qualifier_value_t.qualifier). A\n \
         * select list names the partition; a set list says what to change; each\n \
         * list ends with rtr_qualifier_end.\n */\n",
        "rtr_qualifier_t",
        &qualifiers,
    );
}

/// The `RTR_INFCLA_*` class codes of `rtr_request_info`, each with the
/// items of its objects: the C manual of the classes.
fn info_class_defines(out: &mut String) {
    out.push_str(
        "\n/*\n * Information classes of rtr_request_info (rtr_infoclass_t; compared without\n \
         * regard to case) and the items of their objects (rtr_itemcode_t). Each\n \
         * rtr_mt_request_info record is \"item=value\" lines joined by '\\n', ended\n \
         * by a NUL. Counts are decimal; yes/no items are \"yes\" or \"no\"; tids are\n \
         * seven hex words, comma-separated. \"fdb_f_name\" is accepted for fac_name.\n */\n",
    );
    for c in CLASSES {
        let ext = if c.in_rtr { "" } else { " (Extension)" };
        let _ = writeln!(out, "/*\n * {} \"{}\"{ext}: {}. Items:", c.macro_name, c.code, comment(c.objects));
        let width = c.items.iter().map(|i| i.name.len()).max().unwrap_or(0);
        for i in c.items {
            let _ = writeln!(out, " *   {:<width$}  {}", i.name, comment(i.meaning));
        }
        let _ = writeln!(out, " */\n#define {} \"{}\"", c.macro_name, c.code);
    }
}

fn status_defines(out: &mut String) {
    out.push_str(
        "\n/*\n * Status values (rtr_status_t). The comment of each is its rtr_error_text.\n \
         * Statuses marked Extension are not in HP RTR.\n */\n",
    );
    for s in Status::ALL {
        let ext = if EXTENSION_STATUSES.contains(&s.name()) { "Extension: " } else { "" };
        let _ = writeln!(out, "#define {} ((rtr_status_t){}) /* {ext}{} */", s.name(), s.code(), comment(s.text()));
    }
}

fn flag_defines(out: &mut String) {
    let mut current: Option<&str> = None;
    for (name, value) in ALL_FLAGS {
        let group = FLAG_GROUPS.iter().find(|(prefix, _, _)| name.starts_with(prefix));
        let prefix = group.map_or("", |g| g.0);
        if current != Some(prefix) {
            current = Some(prefix);
            match group {
                Some((_, call, ty)) => {
                    let _ = writeln!(out, "\n/* Flags of {call} ({ty}); combine with |. */");
                }
                None => out.push_str("\n/* Flags. */\n"),
            }
        }
        let _ = writeln!(out, "#define {name} 0x{value:X}u");
    }
}

fn event_defines(out: &mut String) {
    out.push_str(
        "\n/*\n * Event numbers (rtr_evtnum_t): user events RTR_EVTNUM_USERBASE..RTR_EVTNUM_USERMAX,\n \
         * RTR events RTR_EVTNUM_RTRBASE..RTR_EVTNUM_RTRMAX, and the markers of a\n \
         * subscription list (rtr_open_channel's pevtnum), for example\n \
         *   rtr_evtnum_t evt[] = { RTR_EVTNUM_USERDEF, RTR_EVTNUM_USERBASE, RTR_EVTNUM_UP_TO,\n \
         *                          RTR_EVTNUM_USERMAX, RTR_EVTNUM_ENDLIST };\n */\n",
    );
    for (name, value) in ALL_EVENTS {
        let _ = writeln!(out, "#define {name} ((rtr_evtnum_t)({value}))");
    }
}

fn null_defines(out: &mut String) {
    out.push_str(
        "
/* Values for arguments the caller does not use. */
#define RTR_NO_FLAGS 0
#define RTR_NO_REASON 0
/*
 * RTR_NO_TIMOUTMS: rtr_receive_message waits forever (there, 0 polls);
 * rtr_start_tx: no transaction timeout (0 means the same there).
 */
#define RTR_NO_TIMOUTMS ((rtr_timout_t)0xFFFFFFFFu)
#define RTR_NO_PEVTNUM NULL
#define RTR_NO_NUMSEG 0
#define RTR_NO_PKEYSEG NULL
#define RTR_ANYCHAN NULL
#define RTR_NO_MSGFMT NULL
#define RTR_NO_RCPNAM NULL
#define RTR_NO_ACCESS NULL
#define RTR_NO_FACNAM NULL
#define RTR_NO_MSG NULL
#define RTR_NO_JOINCHAN 0
/* Ends the channel list of rtr_receive_message (no channel is 0). */
#define RTR_CHAN_ENDLIST 0
",
    );
}

fn limit_defines(out: &mut String) {
    out.push_str("\n/* Limits. */\n");
    for (name, value, what) in limits() {
        let _ = writeln!(out, "#define {name} {value} /* {what} */");
    }
    let _ = writeln!(
        out,
        "#define RTR_MAX_CHANNELS {} /* Extension: channels open in one process */",
        rtr_core::MAX_CHANNELS
    );
}

/// The text placed after the `#include`s, before cbindgen's types: the
/// enums (needed by the structs) and every constant.
pub fn constants() -> String {
    let mut out = String::new();
    msg_type_enum(&mut out);
    keyseg_type_enum(&mut out);
    set_info_enums(&mut out);
    status_defines(&mut out);
    flag_defines(&mut out);
    event_defines(&mut out);
    null_defines(&mut out);
    limit_defines(&mut out);
    info_class_defines(&mut out);
    out
}

/// The cbindgen configuration (kept in code so the pinned library and its
/// settings live in one place).
pub fn config() -> Config {
    let mut config = Config {
        language: Language::C,
        cpp_compat: true,
        style: Style::Type,
        usize_is_size_t: false,
        documentation: true,
        documentation_style: DocumentationStyle::C,
        include_guard: Some("RTR_H".into()),
        header: Some(TOP_COMMENT.into()),
        no_includes: true,
        sys_includes: vec!["stdint.h".into(), "stddef.h".into()],
        after_includes: Some(constants()),
        include_version: true,
        line_length: 100,
        ..Config::default()
    };
    // Written by `constants` as C enums; Rust sees them as u32.
    config.export.exclude =
        ["rtr_msg_type_t", "rtr_keyseg_type_t", "rtr_verb_t", "rtr_managed_object_t", "rtr_qualifier_t"]
            .map(String::from)
            .to_vec();
    // Types no exported function uses yet; legacy sources name them.
    config.export.include = ["rtr_status_data_t", "rtr_rcpspc_t", "rtr_bro_flag_t", "rtr_pre_flag_t", "rtr_req_flag_t"]
        .map(String::from)
        .to_vec();
    config
}

/// Generate the header text, or cbindgen's error.
pub fn try_generate() -> Result<String, cbindgen::Error> {
    let lib = workspace_root().join("ffi").join("src").join("lib.rs");
    let bindings = Builder::new().with_config(config()).with_src(lib).generate()?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Generate the header text.
///
/// # Panics
/// If cbindgen cannot parse `ffi/src` (a syntax error there).
pub fn generate() -> String {
    match try_generate() {
        Ok(s) => s,
        Err(e) => panic!("cbindgen failed on ffi/src: {e}"),
    }
}

/// Where `actual` first differs from `expected`, for a short message:
/// `None` when they are equal.
pub fn first_difference(actual: &str, expected: &str) -> Option<String> {
    if actual == expected {
        return None;
    }
    let mut a = actual.lines();
    let mut e = expected.lines();
    let mut line = 1;
    loop {
        match (a.next(), e.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (Some(x), Some(y)) => return Some(format!("line {line}: has {x:?}, expected {y:?}")),
            (Some(_), None) => return Some(format!("line {line}: extra lines at the end")),
            (None, Some(y)) => return Some(format!("line {line}: missing {y:?}")),
            (None, None) => return Some("line endings or the final newline differ".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_statuses_exist() {
        for name in EXTENSION_STATUSES {
            assert!(Status::ALL.iter().any(|s| s.name() == *name), "{name} is no status");
        }
    }

    #[test]
    fn every_flag_has_a_group() {
        for (name, _) in ALL_FLAGS {
            assert!(FLAG_GROUPS.iter().any(|(p, _, _)| name.starts_with(p)), "{name}");
        }
    }

    #[test]
    fn generation_is_deterministic_and_complete() {
        let a = generate();
        assert_eq!(a, generate());
        for s in Status::ALL {
            assert!(a.contains(&format!("#define {} ((rtr_status_t){})", s.name(), s.code())));
        }
        for m in MsgType::ALL {
            assert!(a.contains(&format!("    {} = {}", m.name(), m.code())));
        }
        for f in [
            "rtr_open_channel",
            "rtr_close_channel",
            "rtr_start_tx",
            "rtr_send_to_server",
            "rtr_reply_to_client",
            "rtr_accept_tx",
            "rtr_reject_tx",
            "rtr_receive_message",
            "rtr_get_tid",
            "rtr_error_text",
            "rtr_set_user_handle",
            "rtr_get_user_handle",
            "rtr_request_info",
            "rtr_set_info",
        ] {
            assert!(a.contains(&format!("{f}(")), "{f} missing");
        }
    }
}

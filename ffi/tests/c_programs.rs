//! The C and C++ programs of `examples/` and `tests/c/`, compiled against
//! `include/rtr.h`, linked with the `librtr.so` of this build, run, and their
//! output checked. One test per program.
//!
//! Each program is self-contained (its servers and clients are threads of
//! one process on the embedded node), prints a deterministic summary on
//! stdout, writes diagnostics to stderr, and exits non-zero when anything
//! unexpected happens. A test passes only if the program compiles with
//! `-Wall -Wextra -Wpedantic -Werror`, exits 0 within [`RUN_LIMIT`], and
//! prints exactly the expected lines.
//!
//! Which `librtr.so`: the one in `target/<profile>/deps/`, next to this test
//! binary. rustc writes it in the same invocation as `deps/librtr.rlib`, the
//! library this test binary links, so it is always as new as the Rust code
//! under test. The copy in `target/<profile>/` is NOT used: `cargo test`
//! does not refresh it (only `cargo build` does), so after an edit it is
//! stale. As a guard, [`library_dir`] checks that the `.so` is not older
//! than the rlib of the same build, and if it is (or is missing) runs
//! `cargo build -p rtr-ffi --lib` once and checks again.
//!
//! Tools: `gcc` and `g++` (or `$CC` and `$CXX`). A missing compiler fails the
//! tests; it does not skip them.
//!
//! Run times: `cargo test -p rtr-ffi --test c_programs -- --nocapture`
//! prints the compile and run time of each program.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// A program still running after this long is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// rustc writes the outputs of one invocation (.so, .a, .rlib) one after the
/// other; the .so may come a little before the rlib. Anything older than
/// this relative to the rlib comes from an earlier build.
const SAME_BUILD_SLACK: Duration = Duration::from_secs(60);

const C_FLAGS: &[&str] = &["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread"];
const CXX_FLAGS: &[&str] = &["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("ffi/ has a parent directory").to_path_buf()
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Ok(()) if `so` exists and belongs to the same build as `rlib`.
fn check_fresh(so: &Path, rlib: &Path) -> Result<(), String> {
    let so_time = modified(so).ok_or_else(|| format!("{} does not exist", so.display()))?;
    let Some(rlib_time) = modified(rlib) else {
        // Without the rlib there is nothing to compare with; the .so next to
        // the test binary is the best there is.
        return Ok(());
    };
    match rlib_time.duration_since(so_time) {
        Ok(older) if older > SAME_BUILD_SLACK => Err(format!(
            "{} is {:.0} s older than {}: it is left from an earlier build",
            so.display(),
            older.as_secs_f64(),
            rlib.display()
        )),
        _ => Ok(()),
    }
}

/// The directory holding the `librtr.so` of this build (see the module doc).
fn library_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("path of the test binary");
        let deps = exe.parent().expect("the test binary is in target/<profile>/deps").to_path_buf();
        let so = deps.join("librtr.so");
        let rlib = deps.join("librtr.rlib");
        if let Err(why) = check_fresh(&so, &rlib) {
            eprintln!("{why}; building it with cargo build -p rtr-ffi --lib");
            rebuild(&deps);
            if let Err(why) = check_fresh(&so, &rlib) {
                panic!("no fresh librtr.so for this build: {why}. Run `cargo build -p rtr-ffi` and retry.");
            }
        }
        deps
    })
}

/// Fallback: build the cdylib of the profile whose `deps/` directory is `deps`.
fn rebuild(deps: &Path) {
    let profile_dir = deps.parent().expect("target/<profile>");
    let target_dir = profile_dir.parent().expect("target/");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(other) => other.to_string(),
        None => panic!("cannot tell the cargo profile from {}", deps.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo_root())
        .args(["build", "-p", "rtr-ffi", "--lib", "--profile", &profile, "--target-dir"])
        .arg(target_dir)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p rtr-ffi failed: {status}");
}

/// Compile `source` (relative to the repository root) into `out`, with
/// `extra` flags after the standard ones.
fn compile(source: &str, out: &Path, extra: &[&str]) {
    let root = repo_root();
    let cpp = source.ends_with(".cpp");
    let (compiler, flags) = if cpp {
        (std::env::var("CXX").unwrap_or_else(|_| "g++".into()), CXX_FLAGS)
    } else {
        (std::env::var("CC").unwrap_or_else(|_| "gcc".into()), C_FLAGS)
    };
    let lib = library_dir();
    let output = Command::new(&compiler)
        .args(flags)
        .args(extra)
        .arg(format!("-I{}", root.join("include").display()))
        .arg(root.join(source))
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        .arg("-lrtr")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run the compiler {compiler:?} (install gcc/g++ or set CC/CXX): {e}"));
    assert!(
        output.status.success(),
        "{compiler} {source} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Run {
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Run `exe` with its output in files (a pipe could fill up and block it),
/// killing it after [`RUN_LIMIT`].
fn run(exe: &Path, dir: &Path, env: &[(&str, &str)]) -> Run {
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let start = Instant::now();
    let mut child = Command::new(exe)
        // The program must load the librtr.so it was linked against (rpath):
        // cargo's test environment puts target/<profile> on the library
        // path, where an older uplifted copy may lie.
        .env_remove("LD_LIBRARY_PATH")
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("create stdout file"))
        .stderr(fs::File::create(&err_path).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the program") {
            break status;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} still running after {:?}; killed.\nstdout:\n{}\nstderr:\n{}",
                exe.display(),
                RUN_LIMIT,
                fs::read_to_string(&out_path).unwrap_or_default(),
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    let took = start.elapsed();
    let stdout = fs::read_to_string(&out_path).expect("read stdout");
    let stderr = fs::read_to_string(&err_path).expect("read stderr");
    assert!(
        status.success(),
        "{} failed ({status}) after {took:?}.\nstdout:\n{stdout}\nstderr:\n{stderr}",
        exe.display()
    );
    Run { stdout, stderr, took }
}

/// Compile and run one program; its stdout must be exactly `expected`.
fn check_program(source: &str, expected: &[&str]) {
    check_program_with(source, &[], &[], expected);
}

fn check_program_with(source: &str, cflags: &[&str], env: &[(&str, &str)], expected: &[&str]) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let exe = tmp.path().join("program");
    let t0 = Instant::now();
    compile(source, &exe, cflags);
    let compiled = t0.elapsed();
    let r = run(&exe, tmp.path(), env);
    eprintln!(
        "{source} {}: compiled in {:.2} s, ran in {:.3} s",
        cflags.join(" "),
        compiled.as_secs_f64(),
        r.took.as_secs_f64()
    );
    let got: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(got, expected, "{source}: unexpected output.\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

#[test]
fn legacy_client_with_server_thread() {
    check_program(
        "examples/c/client.c",
        &["client: committed=200 rejected=0", "server: committed=200 rejected=0 replies=200"],
    );
}

#[test]
fn pool_of_concurrent_servers() {
    check_program(
        "examples/c/server_pool.c",
        &[
            "clients: committed=400 rejected=0",
            "servers: committed=400 rejected=0",
            "exactly_once=400 duplicates=0 missing=0",
            "several_servers=yes",
        ],
    );
}

#[test]
fn one_thread_polls_several_server_channels() {
    check_program(
        "examples/c/polled_server.c",
        &["clients: committed=180 rejected=0", "server: range0=60 range1=60 range2=60 rejected=0 prepares=60"],
    );
}

#[test]
fn two_partitions_commit_and_reject_together() {
    check_program(
        "examples/c/two_partition.c",
        &[
            "tx1: client=accepted server0=accepted server1=accepted same_tid=yes",
            "tx2: client=rejected/REJECTED/42 server0=rejected/REJECTED/42 server1=rejected/REJECTED/42 same_tid=yes",
        ],
    );
}

#[test]
fn cpp_program() {
    check_program(
        "examples/cpp/program.cpp",
        &["cpp client: committed=10 rejected=1 reason=7", "cpp server: committed=10 rejected=1 reason=7 replies=11"],
    );
}

const BAD_INPUT_OUTPUT: &[&str] = &["bad_input: checks=187 failures=0"];

#[test]
fn bad_input_statuses() {
    check_program("tests/c/bad_input.c", BAD_INPUT_OUTPUT);
}

/// The same under AddressSanitizer and UBSan: the library's copies into and
/// out of caller buffers go through the intercepted memcpy, so a read or
/// write past a length the program gave is reported. (Leak checking is off:
/// it needs ptrace, which containers often forbid.)
#[test]
fn bad_input_statuses_under_sanitizers() {
    check_program_with(
        "tests/c/bad_input.c",
        &["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
        &[("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")],
        BAD_INPUT_OUTPUT,
    );
}

#[test]
fn transaction_timeout() {
    check_program(
        "tests/c/timeout.c",
        &[
            "receive: TIMOUT",
            "tx1 (accepted, server silent): client=rejected/TIMOUT server=rejected/TIMOUT",
            "tx2 (not accepted, server silent): client=rejected/TIMOUT server=rejected/TIMOUT",
            "tx3 (server votes): client=accepted server=accepted",
        ],
    );
}

/// The library's diagnostics reach the program's log callback (with its
/// level and context) and not its standard error.
#[test]
fn the_log_callback_takes_the_library_diagnostics() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let exe = tmp.path().join("program");
    compile("tests/c/log_callback.c", &exe, &[]);
    let r = run(&exe, tmp.path(), &[]);
    let got: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        got,
        ["open: NODEUNAVAIL", "callback: calls=1 level=ERROR ctx=ours mentions_journal=yes"],
        "stdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(r.stderr, "", "the library wrote to the program's standard error");
}

/// A node daemon inside this test process: the node with a journal, serving
/// a Unix socket on a thread (what `rtr start` runs).
fn in_process_daemon(dir: &Path) -> PathBuf {
    let node = rtr_core::runtime::EmbeddedNode::start_with(rtr_core::EmbeddedConfig::journaled(dir.join("journal")))
        .expect("node");
    let socket = dir.join("rtr.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    std::thread::spawn(move || rtr_core::transport::unix::serve(listener, node));
    socket
}

/// The same binaries, unchanged, against a node daemon instead of their
/// embedded node: only RTR_NODE_SOCKET differs.
#[test]
fn the_same_programs_run_against_a_node_daemon() {
    let daemon = tempfile::tempdir().expect("temporary directory");
    let socket = in_process_daemon(daemon.path());
    let env = [("RTR_NODE_SOCKET", socket.to_str().expect("utf-8 path"))];
    check_program_with(
        "examples/c/client.c",
        &[],
        &env,
        &["client: committed=200 rejected=0", "server: committed=200 rejected=0 replies=200"],
    );
    check_program_with(
        "examples/c/two_partition.c",
        &[],
        &env,
        &[
            "tx1: client=accepted server0=accepted server1=accepted same_tid=yes",
            "tx2: client=rejected/REJECTED/42 server0=rejected/REJECTED/42 server1=rejected/REJECTED/42 same_tid=yes",
        ],
    );
    // The journal in the daemon's directory, not the program's.
    assert!(daemon.path().join("journal").join("epoch").exists());
}

#[test]
fn an_event_loop_program_waits_on_the_wakeup_routine_and_descriptor() {
    check_program("tests/c/wakeup.c", &["wakeup: committed=20 routine_calls>=1 fd_ok=yes"]);
}

/// The README's quick start, as printed there.
#[test]
fn readme_quick_start() {
    check_program("examples/c/quickstart.c", &["committed"]);
    let readme = fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let source = fs::read_to_string(repo_root().join("examples/c/quickstart.c")).expect("quickstart.c");
    let body = &source[source.find("#include <rtr.h>").expect("an include")..];
    assert!(readme.contains(body), "README.md's C quick start differs from examples/c/quickstart.c");
}

/// Segment files of a journal directory and their total size.
fn journal_files(dir: &Path) -> (usize, u64) {
    let segs: Vec<u64> = fs::read_dir(dir)
        .expect("journal directory")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name().to_string_lossy().starts_with("seg-"))
        .map(|e| e.metadata().expect("metadata").len())
        .collect();
    (segs.len(), segs.iter().sum())
}

/// Transactions of the journal in `dir` that have records but no Done
/// record: what the next program on this journal gets presented again.
fn unfinished(dir: &Path) -> Vec<String> {
    use rtr_core::journal::RecordKind;
    let scan = rtr_core::journal::scan(dir).expect("scan the journal");
    let mut seen = std::collections::BTreeSet::new();
    let mut done = std::collections::BTreeSet::new();
    for e in scan.entries.iter().filter(|e| !e.stale) {
        match e.record.kind {
            RecordKind::Fence => {}
            RecordKind::Done => {
                done.insert(e.record.tid.to_string());
            }
            _ => {
                seen.insert(e.record.tid.to_string());
            }
        }
    }
    seen.difference(&done).cloned().collect()
}

/// The quick start run again and again in one directory (its journal in
/// ./rtr-journal, as a user runs it): every run commits its own transaction
/// and says so, nothing is left for the next run, and the journal does not
/// grow (it added a 16 MiB segment per run before).
#[test]
fn readme_quick_start_runs_again_and_again_in_one_directory() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let exe = tmp.path().join("quickstart");
    compile("examples/c/quickstart.c", &exe, &[]);
    let journal = tmp.path().join("rtr-journal");
    let mut sizes = Vec::new();
    for round in 1..=5 {
        let r = run(&exe, tmp.path(), &[]);
        assert_eq!(r.stdout, "committed\n", "run {round}: stderr:\n{}", r.stderr);
        sizes.push(journal_files(&journal));
        // Its server finished the transaction, and the process's exit waited
        // for the node to record that: nothing is left for the next run.
        assert_eq!(unfinished(&journal), Vec::<String>::new(), "after run {round}");
    }
    let (segments, bytes) = sizes[4];
    assert!(segments <= 2, "{segments} segments after 5 runs: {sizes:?}");
    assert!(bytes <= 2 * (16 << 20) + 4096, "{bytes} bytes after 5 runs: {sizes:?}");
    assert!(sizes[1..].iter().all(|s| *s == sizes[1]), "the journal grew between runs: {sizes:?}");
}

/// After a program that committed a transaction and exited without
/// finishing it at its server (as one killed there would), the quick start
/// in the same directory first gets that transaction presented again
/// (`rtr_mt_msg1_uncertain`), takes it (which finishes it), and still
/// commits its own; nothing is left unfinished after it.
#[test]
fn readme_quick_start_takes_a_replay_left_by_an_earlier_run() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let leave = tmp.path().join("leave_unfinished");
    compile("tests/c/leave_unfinished.c", &leave, &[]);
    let quick = tmp.path().join("quickstart");
    compile("examples/c/quickstart.c", &quick, &[]);
    assert_eq!(run(&leave, tmp.path(), &[]).stdout, "left unfinished\n");
    let journal = tmp.path().join("rtr-journal");
    assert_eq!(unfinished(&journal).len(), 1, "the transaction left unfinished");
    for round in 1..=2 {
        let r = run(&quick, tmp.path(), &[]);
        assert_eq!(r.stdout, "committed\n", "run {round}: stderr:\n{}", r.stderr);
        assert_eq!(unfinished(&journal), Vec::<String>::new(), "after run {round}");
    }
}

/// A quick start whose calls fail says why and exits 1; it never prints
/// "committed" (it did, unchecked, before): here the node daemon it is sent
/// to does not exist, and then its journal is held by another process.
#[test]
fn readme_quick_start_reports_failures() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let exe = tmp.path().join("quickstart");
    compile("examples/c/quickstart.c", &exe, &[]);
    let run_failing = |env: &[(&str, &std::ffi::OsStr)]| {
        let out = Command::new(&exe)
            .env_remove("LD_LIBRARY_PATH")
            .envs(env.iter().copied())
            .current_dir(tmp.path())
            .stdin(Stdio::null())
            .output()
            .expect("run the quick start");
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(!stdout.contains("committed"), "stdout:\n{stdout}");
        stderr
    };
    let nowhere = tmp.path().join("no-such.sock");
    let stderr = run_failing(&[("RTR_NODE_SOCKET", nowhere.as_os_str())]);
    assert!(stderr.contains("open server: "), "{stderr}");

    // The journal held by a node in this test process: the program's own
    // embedded node cannot start, and the reason names the holder.
    let jdir = tmp.path().join("held");
    let node = rtr_core::runtime::EmbeddedNode::start_with(rtr_core::EmbeddedConfig::journaled(&jdir)).expect("node");
    let stderr = run_failing(&[("RTR_JOURNAL_DIR", jdir.as_os_str())]);
    assert!(stderr.contains(&format!("is in use by process {}", std::process::id())), "{stderr}");
    assert!(!stderr.contains("force"), "{stderr}");
    drop(node);
}

#[test]
fn broadcast_events_reach_subscribers_whose_names_match() {
    check_program("tests/c/events.c", &["events: srv*=A *=AB 11=B to_clients=X data=ok bad=ok"]);
}

const INFO_OUTPUT: &[&str] = &[
    "request_info: records=1 state=active format=ok closed=OK",
    "set_info: suspend=OK state=suspended held=yes resume=OK released=yes nosuch=INVOBJCT",
    "bad_input: checks=30 failures=0",
];

#[test]
fn management_requests_and_partition_changes() {
    check_program("tests/c/info.c", INFO_OUTPUT);
}

/// The same program against a node daemon: the library asks the daemon
/// over an admin connection of its own.
#[test]
fn management_requests_against_a_node_daemon() {
    let daemon = tempfile::tempdir().expect("temporary directory");
    let socket = in_process_daemon(daemon.path());
    let env = [("RTR_NODE_SOCKET", socket.to_str().expect("utf-8 path"))];
    check_program_with("tests/c/info.c", &[], &env, INFO_OUTPUT);
}

#[test]
fn a_forgetting_server_is_released_at_its_vote() {
    check_program("tests/c/forget.c", &["forget: released=yes c1=accepted c2=accepted server_quiet=yes invflags=yes"]);
}

#[test]
fn named_partitions_share_a_name_and_refuse_another_range() {
    check_program("tests/c/named.c", &["named: shared=yes other_range=keyoverlap bad_name=invpkeyseg tx=accepted"]);
}

#[test]
fn call_out_servers_see_every_message_and_vote() {
    check_program("tests/c/callout.c", &["callout: tr_saw=yes be_saw=yes first=accepted second=rejected reason=31"]);
}

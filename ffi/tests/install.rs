//! `cargo xtask dist PREFIX` into a temporary prefix, then what a user of
//! the installed library does: build an outside C program with
//! `pkg-config --cflags --libs rtr` and with CMake (`find_package(rtr)`,
//! shared and static), run it, and check what the install promises (the
//! SONAME recorded by programs, stripped files with their debug info beside
//! them, the symlinks, `bin/rtr` and nothing else in `bin`). Then a staged
//! install (`DESTDIR`): the files under DESTDIR/PREFIX, naming PREFIX, and
//! the staged tree, moved, still builds a program (`pkg-config
//! --define-prefix`, and CMake from the files' own place).
//!
//! Tools: `cc` (or `$CC`), `pkg-config`, `cmake` (with `make`), binutils
//! (`objcopy`, `readelf`). A missing tool fails the test (`.ci/run`
//! installs them); it is never skipped.
//!
//! The install builds the release profile (`cargo build --release -p rtr-ffi
//! -p rtr-cli`), as a user's install does: the first run after a change
//! takes a release build's time.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("ffi/ has a parent directory").to_path_buf()
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn output(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output().unwrap_or_else(|e| panic!("cannot run {shown}: {e} (is it installed? .ci/run installs it)"))
}

fn ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs into `dir/opt/rtr` with `cargo xtask dist`; returns the prefix.
fn install(dir: &Path) -> PathBuf {
    let prefix = dir.join("opt").join("rtr");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = ok(Command::new(cargo)
        .current_dir(repo_root())
        .args(["run", "--quiet", "-p", "xtask", "--", "dist"])
        .arg(&prefix));
    eprintln!("{out}");
    prefix
}

/// One install (a release build is slow), then each check on it. One test,
/// so that the temporary prefix (some 80 MB with its debug files) is
/// removed at its end.
#[test]
fn install_into_a_prefix_then_build_outside_programs() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let p = install(dir.path());
    layout_soname_and_split_debug_info(&p);
    outside_program_with_pkg_config(&p);
    outside_program_with_cmake(&p);
    staged_install_names_its_prefix_and_moves(dir.path());
}

/// `DESTDIR=dir/stage cargo xtask dist /opt/rtr-staged --no-build` (what
/// the first install built is installed again).
fn staged_install_names_its_prefix_and_moves(dir: &Path) {
    let stage = dir.join("stage");
    let prefix = Path::new("/opt/rtr-staged");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = ok(Command::new(cargo)
        .current_dir(repo_root())
        .env("DESTDIR", &stage)
        .args(["run", "--quiet", "-p", "xtask", "--", "dist", "--no-build"])
        .arg(prefix));
    assert!(out.contains("for /opt/rtr-staged staged in"), "{out}");
    assert!(!prefix.exists(), "nothing is installed outside DESTDIR");
    let staged = stage.join("opt/rtr-staged");
    for f in ["bin/rtr", "lib/librtr.so.0", "lib/librtr.a", "include/rtr.h", "lib/pkgconfig/rtr.pc"] {
        assert!(staged.join(f).exists(), "{f} is not staged");
    }
    let pc = fs::read_to_string(staged.join("lib/pkgconfig/rtr.pc")).unwrap();
    assert!(pc.starts_with("prefix=/opt/rtr-staged\n"), "{pc}");
    let stage_text = stage.to_str().unwrap();
    for f in ["lib/pkgconfig/rtr.pc", "lib/cmake/rtr/rtrConfig.cmake", "lib/cmake/rtr/rtrConfigVersion.cmake"] {
        assert!(!fs::read_to_string(staged.join(f)).unwrap().contains(stage_text), "{f} names the staging root");
    }
    // Moved where a package would put it (here: elsewhere in the temporary
    // directory), it builds a program: CMake through its own place,
    // pkg-config through --define-prefix.
    let moved = dir.join("moved");
    fs::rename(&staged, &moved).unwrap();
    outside_program_with_cmake(&moved);
    let flags = ok(Command::new("pkg-config").env("PKG_CONFIG_PATH", moved.join("lib/pkgconfig")).args([
        "--define-prefix",
        "--cflags",
        "--libs",
        "rtr",
    ]));
    assert!(flags.contains(&format!("-I{}", moved.join("include").display())), "{flags}");
    assert!(flags.contains(&format!("-L{}", moved.join("lib").display())), "{flags}");
}

fn readelf(args: &[&str], file: &Path) -> String {
    ok(Command::new(std::env::var("READELF").unwrap_or_else(|_| "readelf".into())).args(args).arg(file))
}

fn sections(file: &Path) -> String {
    readelf(&["-S", "-W"], file)
}

fn needed(file: &Path) -> Vec<String> {
    readelf(&["-d"], file)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1).map(|s| s.trim_end_matches(']').to_string()))
        .collect()
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

/// The README quick start, run in `dir`: its journal stays there.
fn run_quickstart(exe: &Path, dir: &Path) {
    for round in 1..=2 {
        let out = output(
            Command::new(exe)
                .current_dir(dir)
                .env_remove("LD_LIBRARY_PATH")
                .env_remove("RTR_NODE_SOCKET")
                .env("RTR_JOURNAL_DIR", dir.join("journal")),
        );
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout) == "committed\n",
            "{} (run {round}) failed ({}):\n{}{}",
            exe.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn layout_soname_and_split_debug_info(p: &Path) {
    let lib = p.join("lib");
    let real = format!("librtr.so.{}", version());
    assert_eq!(fs::read_link(lib.join("librtr.so")).unwrap(), PathBuf::from("librtr.so.0"));
    assert_eq!(fs::read_link(lib.join("librtr.so.0")).unwrap(), PathBuf::from(&real));
    for f in [
        "lib/librtr.a",
        "include/rtr.h",
        "lib/pkgconfig/rtr.pc",
        "lib/cmake/rtr/rtrConfig.cmake",
        "lib/cmake/rtr/rtrConfigVersion.cmake",
        "bin/rtr",
        "share/doc/rtr/LICENSE",
    ] {
        assert!(p.join(f).is_file(), "{f} is not installed");
    }
    // Only the command: the tests' workloads (rtr-testkit) are not shipped.
    let bins: Vec<String> =
        fs::read_dir(p.join("bin")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(bins, ["rtr"]);
    let help = ok(Command::new(p.join("bin/rtr")).arg("--help"));
    assert!(!help.contains("crash"), "{help}");
    let refused = output(Command::new(p.join("bin/rtr")).args(["crash-worker", "--help"]));
    assert!(!refused.status.success(), "the shipped rtr runs crash-worker");
    assert_eq!(fs::read(p.join("include/rtr.h")).unwrap(), fs::read(repo_root().join("include/rtr.h")).unwrap());
    assert!(fs::read_to_string(p.join("share/doc/rtr/LICENSE")).unwrap().contains("Apache License"));

    let so = lib.join(&real);
    assert!(readelf(&["-d"], &so).contains("Library soname: [librtr.so.0]"), "no SONAME librtr.so.0");
    for (file, debug) in [(so.clone(), format!("{real}.debug")), (p.join("bin/rtr"), "rtr.debug".to_string())] {
        let s = sections(&file);
        assert!(!s.contains(".debug_info") && !s.contains(".debug_line"), "{} keeps debug info", file.display());
        assert!(s.contains(".gnu_debuglink"), "{} has no debug link", file.display());
        let debug_file = lib.join("debug").join(&debug);
        assert!(sections(&debug_file).contains(".debug_line"), "{debug} holds no debug info");
        // The debugger finds the debug file by build id under lib/debug.
        let notes = readelf(&["-n"], &file);
        let id = notes.lines().find_map(|l| l.trim().strip_prefix("Build ID: ")).expect("a build id").trim();
        let by_id = lib.join("debug/.build-id").join(&id[..2]).join(format!("{}.debug", &id[2..]));
        assert_eq!(fs::canonicalize(&by_id).unwrap(), fs::canonicalize(&debug_file).unwrap());
    }
    assert!(!sections(&lib.join("librtr.a")).contains(".debug_info"), "librtr.a keeps debug info");

    let v = ok(Command::new(p.join("bin/rtr")).arg("--version"));
    assert_eq!(v.trim(), format!("rtr {}", version()));
}

fn outside_program_with_pkg_config(p: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let pc_path = p.join("lib/pkgconfig");
    let pkg = |args: &[&str]| {
        ok(Command::new("pkg-config").env("PKG_CONFIG_PATH", &pc_path).args(args).arg("rtr"))
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(pkg(&["--modversion"]), vec![version().to_string()]);
    // Exactly as a user types it, through the shell.
    let exe = tmp.path().join("quickstart");
    let line = format!(
        "{} -std=c11 -Wall -Wextra -Wpedantic -Werror '{}' -o '{}' $(pkg-config --cflags --libs rtr) -Wl,-rpath,'{}'",
        cc(),
        repo_root().join("examples/c/quickstart.c").display(),
        exe.display(),
        p.join("lib").display()
    );
    ok(Command::new("sh").arg("-c").arg(&line).env("PKG_CONFIG_PATH", &pc_path));
    assert!(needed(&exe).contains(&"librtr.so.0".to_string()), "the program does not record librtr.so.0");
    run_quickstart(&exe, tmp.path());
    // Not found without the package path: the test would not prove much if
    // a system-wide rtr.pc answered instead.
    let none = output(Command::new("pkg-config").env("PKG_CONFIG_PATH", tmp.path()).args(["--exists", "rtr"]));
    assert!(!none.status.success(), "an rtr.pc outside the test prefix answers: the test proves nothing");
}

fn outside_program_with_cmake(p: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::copy(repo_root().join("examples/c/quickstart.c"), src.join("quickstart.c")).unwrap();
    let project = |wanted: &str| {
        format!(
            "cmake_minimum_required(VERSION 3.13)\n\
             project(outside C)\n\
             find_package(rtr {wanted} REQUIRED)\n\
             add_executable(quick_shared quickstart.c)\n\
             target_link_libraries(quick_shared PRIVATE rtr::rtr)\n\
             add_executable(quick_static quickstart.c)\n\
             target_link_libraries(quick_static PRIVATE rtr::rtr_static)\n"
        )
    };
    let configure = |build: &Path| {
        output(
            Command::new("cmake")
                .arg("-S")
                .arg(&src)
                .arg("-B")
                .arg(build)
                .arg(format!("-DCMAKE_PREFIX_PATH={}", p.display())),
        )
    };

    // A version from another major (or, before 1.0, another minor) is refused.
    fs::write(src.join("CMakeLists.txt"), project("9.0")).unwrap();
    let refused = configure(&tmp.path().join("build9"));
    assert!(!refused.status.success(), "find_package(rtr 9.0) accepted version {}", version());

    let minor: Vec<&str> = version().split('.').take(2).collect();
    fs::write(src.join("CMakeLists.txt"), project(&minor.join("."))).unwrap();
    let build = tmp.path().join("build");
    let c = configure(&build);
    assert!(
        c.status.success(),
        "cmake configure failed:\n{}{}",
        String::from_utf8_lossy(&c.stdout),
        String::from_utf8_lossy(&c.stderr)
    );
    ok(Command::new("cmake").arg("--build").arg(&build));

    let shared = build.join("quick_shared");
    let static_ = build.join("quick_static");
    assert!(needed(&shared).contains(&"librtr.so.0".to_string()), "quick_shared does not record librtr.so.0");
    assert!(
        !needed(&static_).iter().any(|n| n.starts_with("librtr")),
        "quick_static needs a shared librtr: {:?}",
        needed(&static_)
    );
    let run_dir = tmp.path().join("shared");
    fs::create_dir(&run_dir).unwrap();
    run_quickstart(&shared, &run_dir);
    let run_dir = tmp.path().join("static");
    fs::create_dir(&run_dir).unwrap();
    run_quickstart(&static_, &run_dir);
}

//! `cargo run -p xtask -- <task>`:
//! - `header`: regenerate `include/rtr.h`;
//! - `check-header`: fail when `include/rtr.h` differs from what `header` would write;
//! - `dist PREFIX [--no-build]`: build the release and install it under PREFIX
//!   (library with SONAME, static library, header, pkg-config and CMake
//!   files, the `rtr` command; stripped, debug info in `PREFIX/lib/debug`);
//!   under `$DESTDIR$PREFIX` when `DESTDIR` is set (a staged install).

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask <header | check-header | dist PREFIX [--no-build]>");
    ExitCode::from(2)
}

fn header() -> ExitCode {
    let path = xtask::header_path();
    let text = match xtask::try_generate() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cbindgen failed on ffi/src: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        println!("{} is up to date", path.display());
        return ExitCode::SUCCESS;
    }
    match std::fs::write(&path, text) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn check_header() -> ExitCode {
    let path = xtask::header_path();
    let expected = match xtask::try_generate() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cbindgen failed on ffi/src: {e}");
            return ExitCode::FAILURE;
        }
    };
    let actual = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}\nrun `cargo run -p xtask -- header`", path.display());
            return ExitCode::FAILURE;
        }
    };
    match xtask::first_difference(&actual, &expected) {
        None => {
            println!("{} is up to date", path.display());
            ExitCode::SUCCESS
        }
        Some(diff) => {
            eprintln!(
                "error: {} is out of date ({diff})\nrun `cargo run -p xtask -- header` and commit the result",
                path.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn dist(args: &[String]) -> ExitCode {
    let opts = match xtask::dist::parse_args(args).and_then(|o| o.with_destdir(std::env::var_os("DESTDIR"))) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return usage();
        }
    };
    match xtask::dist::dist(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["header"] => header(),
        ["check-header"] => check_header(),
        ["dist", rest @ ..] => dist(&rest.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        _ => usage(),
    }
}

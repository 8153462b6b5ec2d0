//! `rtr-testkit`: the workloads the tests (and `rtr failover-bench`) run as
//! processes of their own. Built with the `rtr` command, never installed
//! (`cargo xtask dist` ships only `bin/rtr`):
//! - `crash-worker`: a journaled bank workload to kill with SIGKILL and restart;
//! - `crash-check`: the invariants after crash-worker (or crash-remote) runs;
//! - `crash-remote`: the same workload's clients or servers on a node daemon.
//!
//! The modules are the `rtr` command's own, compiled into this binary too,
//! so the workloads open channels and print exactly as the command does.

#[macro_use]
#[path = "out.rs"]
#[allow(dead_code)]
mod out;

#[path = "channels.rs"]
#[allow(dead_code)]
mod channels;
#[path = "crash.rs"]
mod crash;
#[path = "scratch.rs"]
#[allow(dead_code)]
mod scratch;
#[path = "status_text.rs"]
#[allow(dead_code)]
mod status_text;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rtr-testkit", version, about = "Test workloads for rtr (not installed)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

// The variants name the subcommands (`crash-worker`, ...) the tests run.
#[allow(clippy::enum_variant_names)]
#[derive(Subcommand)]
enum Cmd {
    /// A journaled workload to kill with SIGKILL and restart.
    CrashWorker(crash::WorkerArgs),
    /// Check the invariants after crash-worker runs.
    CrashCheck(crash::CheckArgs),
    /// The crash workload's clients or servers as a process of their own, on a node daemon.
    CrashRemote(crash::RemoteArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::CrashWorker(a) => crash::worker(a),
        Cmd::CrashCheck(a) => crash::check(a),
        Cmd::CrashRemote(a) => crash::remote(a),
    };
    if let Err(e) = result {
        errln!("rtr-testkit: {e}");
        std::process::exit(1);
    }
}

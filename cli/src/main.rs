//! `rtr`: the Reliable Transaction Router command.
//!
//! Today: `rtr demo` (a bank on the embedded node, with a server failing
//! mid-run) and `rtr bench` (embedded transaction latency and throughput).
//! The node daemon and management commands arrive with their issues.

#[macro_use]
mod out;

mod accounts;
mod bank;
mod bench;
mod cert;
mod channels;
mod daemon;
mod failover;
mod journal_cmd;
mod link_state;
mod logging;
mod manage;
mod metrics_http;
mod metrics_view;
mod monitor;
mod node_config;
mod node_files;
mod node_memory;
mod node_process;
mod probe;
mod qualify;
mod scratch;
mod sd_notify;
mod signals;
mod simulate;
mod stats;
mod status_text;
mod thread_costs;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rtr",
    version,
    about = "Reliable Transaction Router",
    after_help = "Environment:\n  \
        RTR_NODE_SOCKET  the node daemon's socket (rtr start prints it): applications and rtr probe\n                   \
        use that daemon; without it an application runs an embedded node of its own\n  \
        RTR_JOURNAL_DIR  an application's embedded node keeps its journal there (default ./rtr-journal;\n                   \
        none: no journal); rtr demo and rtr bench use scratch journals of their own\n  \
        RTR_LOG          the node daemon's log filter (error, warn, info, debug, or env-filter syntax);\n                   \
        rtr start --log-level comes before it, DIR/rtr.toml's log_level after it"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a bank facility on the embedded node: clients transfer money between
    /// accounts in two partitions, concurrent servers apply the transfers, one
    /// server dies mid-run, and a summary checks that nothing was lost or doubled.
    Demo(bank::DemoArgs),
    /// Measure transaction latency and throughput beside one fdatasync: embedded, and with --daemon / --linked through a daemon's socket or a TCP link.
    Bench(bench::BenchArgs),
    /// Measure backend failover on this host: kill -9 the active backend node
    /// under load and time detection, journal takeover and the first new commit.
    FailoverBench(failover::FailoverArgs),
    /// Run the deterministic cluster simulator over many seeds (random faults,
    /// lost unsynced writes, partitions) and report every broken invariant with
    /// its seed; --seed N replays one run event by event.
    Simulate(simulate::SimulateArgs),
    /// Inspect, check, take over and salvage a journal directory.
    Journal(journal_cmd::JournalArgs),
    /// Check that a directory (local disk or network file system) keeps the
    /// journal's storage rules and fencing; one PASS/FAIL line per check.
    QualifyStorage(qualify::QualifyArgs),
    /// Start the node daemon (RTR's ACP) for this machine.
    Start(Box<daemon::StartArgs>),
    /// Stop the node daemon.
    Stop(daemon::StopArgs),
    /// Define on a running node (RTR's CREATE FACILITY).
    #[command(subcommand)]
    Create(manage::CreateCmd),
    /// Remove a definition from a running node.
    #[command(subcommand)]
    Delete(manage::DeleteCmd),
    /// Show a running node's facilities, partitions, servers, transactions, links.
    #[command(subcommand)]
    Show(manage::ShowCmd),
    /// Watch a running node live (RTR's MONITOR): transactions per second,
    /// commit latency, journal, partitions' in-flight and queued work,
    /// links; refreshed every second until q or Ctrl-C.
    Monitor(monitor::MonitorArgs),
    /// Change a running node's partitions, or resolve a set-aside transaction.
    #[command(subcommand)]
    Set(manage::SetCmd),
    /// Small client and server processes for trying a node.
    #[command(subcommand)]
    Probe(probe::ProbeCmd),
    /// Make the certificates of a cluster's node links: a CA, then one per
    /// node (README: Security).
    #[command(subcommand)]
    Cert(cert::CertCmd),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Demo(a) => bank::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Journal(a) => journal_cmd::run(a),
        Cmd::QualifyStorage(a) => qualify::run(a),
        Cmd::Start(a) => daemon::start(*a),
        Cmd::Stop(a) => daemon::stop(a),
        Cmd::Create(c) => manage::create(c),
        Cmd::Delete(c) => manage::delete(c),
        Cmd::Show(c) => manage::show(c),
        Cmd::Monitor(a) => monitor::run(a),
        Cmd::Set(c) => manage::set(c),
        Cmd::Probe(c) => probe::run(c),
        Cmd::Cert(c) => cert::run(c),
        Cmd::FailoverBench(a) => failover::run(a),
        Cmd::Simulate(a) => simulate::run(a),
    };
    if let Err(e) = result {
        errln!("rtr: {e}");
        std::process::exit(1);
    }
}

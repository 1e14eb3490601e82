//! How fast generated sequences and concurrent histories run: sequences (and histories) and operations per
//! second, per interface version and backend of the reference host, one search at a time (a search runs several
//! sequences at once beside the thread generating them, as `kvconf fuzz` does). Run with
//! `cargo bench -p kvconf --bench sequences` (optionally followed by `-- N` for N sequences per measurement);
//! the figures recorded in BENCHMARKS.md come from it.
//!
//! Each sequence is generated, written as a case, run in a fresh instance through the driver against fresh
//! stores, and judged against the model: the whole cost of one `kvconf fuzz` sequence. Each
//! history is generated, run as three concurrent instances, and checked for linearisability.

use kvconf::fuzz::{FuzzConfig, fuzz};
use kvconf::history::{HistoryConfig, run_history};
use kvconf::interface::Interface;
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::runner::Runner;
use std::time::{Duration, Instant};

/// The allocator the `kvconf` binary uses (src/main.rs), so that the figures are those of `kvconf fuzz`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // `cargo bench` passes `--bench`; a number argument sets the sequences per measurement.
    let sequences: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    println!(
        "{:<24} {:>10} {:>12} {:>14} {:>12}",
        "interface/backend", "sequences", "operations", "sequences/s", "operations/s"
    );
    for backend in [Backend::Memory, Backend::Sqlite] {
        for interface in Interface::ALL {
            let (runner, _work) = runner(backend);
            // Compile and link the driver before timing.
            runner.driver(interface).expect("the driver links");
            let config = FuzzConfig {
                sequences,
                seed: 1,
                ..FuzzConfig::default()
            };
            let start = Instant::now();
            let outcome = fuzz(&runner, interface, &config, &|_| {});
            let secs = start.elapsed().as_secs_f64();
            assert!(
                outcome.finding.is_none() && outcome.error.is_none(),
                "the reference host must show no difference"
            );
            println!(
                "{:<24} {:>10} {:>12} {:>14.1} {:>12.0}",
                format!("{interface}/{}", backend.name()),
                outcome.sequences,
                outcome.operations,
                outcome.sequences as f64 / secs,
                outcome.operations as f64 / secs,
            );
        }
    }
    let histories = u64::from(sequences) / 2;
    println!(
        "\n{:<24} {:>10} {:>12} {:>14} {:>12}",
        "interface/backend", "histories", "operations", "histories/s", "operations/s"
    );
    for backend in [Backend::Memory, Backend::Sqlite] {
        for interface in Interface::ALL {
            let (runner, _work) = runner(backend);
            // Compile and link the driver before timing.
            runner.driver(interface).expect("the driver links");
            let config = HistoryConfig::default();
            let start = Instant::now();
            let mut operations = 0;
            for index in 0..histories {
                let run = run_history(&runner, interface, 1, index, &config);
                assert!(run.violation.is_none(), "the reference host must pass");
                operations += run.operations;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{:<24} {:>10} {:>12} {:>14.1} {:>12.0}",
                format!("{interface}/{}", backend.name()),
                histories,
                operations,
                histories as f64 / secs,
                operations as f64 / secs,
            );
        }
    }
}

/// The reference host on `backend` under sip010, with stores in a temporary directory (kept with it).
fn runner(backend: Backend) -> (Runner<ReferenceHost>, tempfile::TempDir) {
    let work = tempfile::tempdir().expect("a temporary directory");
    let runner = Runner::new(
        ReferenceHost::new(backend, ReferenceHost::sip010_profile()),
        work.path().to_path_buf(),
        Duration::from_secs(60),
    );
    (runner, work)
}

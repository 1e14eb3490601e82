//! The conformance suite as a libtest-mimic test binary: every case on every runnable interface version,
//! against the reference host on memory and SQLite, with each case's transcript checked against its insta
//! snapshot under `harness/snapshots/<interface>/` (one snapshot per case, shared by every backend: a backend whose
//! transcript differs fails).
//!
//! Trials are named `<interface>/<backend>/<case-id>`; `cargo test -p kvconf --test conformance -- v2/sqlite`
//! filters as usual. Each version and backend also has the trial `generated/concurrent-histories`: seeded
//! concurrent histories checked for CONCURRENT-VISIBLE and CONCURRENT-ATOMIC (`kvconf::history`). The trials are
//! `kvconf::libtest::Suite`'s, as a runtime implementer's test binary has them. A case for a claim the host's
//! profile does not make is reported as ignored, with the reason, and never counted as passed.

use kvconf::interface::Interface;
use kvconf::libtest::Suite;
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::runner::CaseResult;
use libtest_mimic::Arguments;
use std::path::Path;

fn main() {
    let args = Arguments::from_args();
    let hosts = [
        ReferenceHost::new(Backend::Memory, ReferenceHost::sip010_profile()),
        ReferenceHost::new(Backend::Sqlite, ReferenceHost::sip010_profile()),
        ReferenceHost::new(Backend::Memory, ReferenceHost::unbounded_profile())
            .named("memory-unbounded"),
    ];
    let mut trials = Vec::new();
    for host in hosts {
        // The cases (each transcript against its snapshot) and 8 concurrent histories per version; the generated
        // sequences are tests/generated.rs's and kvconf fuzz's.
        let suite = Suite::new(host)
            .sequences(0)
            .histories(8)
            .check_passed(check_snapshot);
        match suite.trials() {
            Ok(more) => trials.extend(more),
            Err(message) => {
                eprintln!("{message}");
                std::process::exit(101);
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn check_snapshot(result: &CaseResult) -> Result<(), String> {
    let (interface, id, title, transcript): (Interface, &str, &str, &str) = (
        result.interface,
        &result.id,
        &result.title,
        &result.transcript,
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(interface.name());
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(title);
    let name = id.replace('/', "__");
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name.as_str(), transcript));
    }))
    .map_err(|_| {
        format!("the transcript differs from harness/snapshots/{interface}/{name}.snap (see above)")
    })
}

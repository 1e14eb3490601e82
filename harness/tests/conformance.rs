//! The conformance suite as a libtest-mimic test binary: every case on every runnable interface version,
//! against the reference host on memory and SQLite, with each case's transcript checked against its insta
//! snapshot under `harness/snapshots/<interface>/` (one snapshot per case, shared by every backend: a backend whose
//! transcript differs fails).
//!
//! Trials are named `<interface>/<backend>/<case-id>`; `cargo test -p kvconf --test conformance -- v2/sqlite`
//! filters as usual. Each version and backend also has the trial `generated/concurrent-histories`: seeded
//! concurrent histories checked for CONCURRENT-VISIBLE and CONCURRENT-ATOMIC (`kvconf::history`). A case for a claim the host's profile does not make is reported as ignored, with the
//! reason, and never counted as passed.

use kvconf::case;
use kvconf::catalogue::Catalogue;
use kvconf::history::{self, HistoryConfig};
use kvconf::host::HostUnderTest;
use kvconf::interface::Interface;
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::runner::{Runner, Verdict};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let args = Arguments::from_args();
    let cases = match case::load_dir(&case::default_dir(), Catalogue::builtin()) {
        Ok(cases) => Arc::new(cases),
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            std::process::exit(101);
        }
    };
    let work = tempfile::Builder::new()
        .prefix("kvconf-test-")
        .tempdir()
        .expect("temporary directory");
    let hosts = [
        ReferenceHost::new(Backend::Memory, ReferenceHost::sip010_profile()),
        ReferenceHost::new(Backend::Sqlite, ReferenceHost::sip010_profile()),
        ReferenceHost::new(Backend::Memory, ReferenceHost::unbounded_profile())
            .named("memory-unbounded"),
    ];
    let mut trials = Vec::new();
    for host in hosts {
        let runner = Arc::new(Runner::new(
            host,
            work.path().to_path_buf(),
            Duration::from_secs(60),
        ));
        for (case, interface) in runner.trials(&cases, &Interface::RUNNABLE) {
            let name = format!("{interface}/{}/{}", runner.host().backend(), case.id());
            let runner = runner.clone();
            let case = case.clone();
            trials.push(Trial::ignorable_test(name, move || {
                let result = runner.run_case(&case, interface);
                match result.verdict {
                    Verdict::Pass => {
                        check_snapshot(interface, case.id(), &case.file.title, &result.transcript)
                            .map(|()| Completion::Completed)
                    }
                    Verdict::Fail(detail) => Err(Failed::from(detail)),
                    // Reported as ignored, with the reason: never as a pass.
                    Verdict::Skip(reason) => Ok(Completion::ignored_with(reason)),
                }
            }));
        }
        for interface in Interface::RUNNABLE {
            let name = format!(
                "{interface}/{}/{}",
                runner.host().backend(),
                history::TRIAL_ID
            );
            let runner = runner.clone();
            trials.push(Trial::ignorable_test(name, move || {
                let result =
                    history::check_histories(&runner, interface, 1, 8, &HistoryConfig::default());
                match result.verdict {
                    Verdict::Pass => Ok(Completion::Completed),
                    Verdict::Fail(detail) => Err(Failed::from(detail)),
                    Verdict::Skip(reason) => Ok(Completion::ignored_with(reason)),
                }
            }));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    drop(work);
    conclusion.exit();
}

fn check_snapshot(
    interface: Interface,
    id: &str,
    title: &str,
    transcript: &str,
) -> Result<(), Failed> {
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
        Failed::from(format!(
            "the transcript differs from harness/snapshots/{interface}/{name}.snap (see above)"
        ))
    })
}

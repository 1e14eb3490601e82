//! `kvconf fuzz`: generated sequences (and concurrent histories) against the reference host in-process, or with
//! `--adapter` against a runtime started from an adapter file, through the same session (`kvconf::adapter::Session`)
//! as `kvconf run --adapter`.

use crate::{FuzzArgs, work_dir};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kvconf::fuzz::{FuzzConfig, FuzzOutcome, fuzz};
use kvconf::history::{Histories, HistoryConfig, run_histories};
use kvconf::interface::Interface;
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::runner::Runner;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the sequences and histories found, per interface version and host.
struct Found {
    outcomes: Vec<FuzzOutcome>,
    histories: Vec<(Interface, String, Histories)>,
}

pub fn run(args: FuzzArgs) -> anyhow::Result<ExitCode> {
    if args.sequences == 0 {
        anyhow::bail!("--sequences 0 would check nothing: give at least 1");
    }
    match &args.adapter {
        Some(path) => run_adapter(&args, path),
        None => run_in_process(&args),
    }
}

fn config(args: &FuzzArgs) -> FuzzConfig {
    FuzzConfig {
        sequences: args.sequences,
        seed: args.seed,
        max_moves: args.max_moves,
        ..FuzzConfig::default()
    }
}

fn create_save_dir(args: &FuzzArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the --save directory {}", dir.display()))?;
    }
    Ok(())
}

/// The progress bar of `runs` sequences and histories (hidden with --no-progress).
fn progress_bar(args: &FuzzArgs, runs: u64) -> ProgressBar {
    let bar = ProgressBar::new(runs);
    if args.no_progress {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} sequences and histories, {msg} operations",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Generated sequences and histories against a runtime started from the adapter file at `path`: one session, the
/// versions one after another (the sequences of all versions share one application configuration, and so one
/// runtime; the histories another).
fn run_adapter(args: &FuzzArgs, path: &Path) -> anyhow::Result<ExitCode> {
    let adapter = crate::load_adapter(path, &args.host, args.timeout)?;
    let interfaces = crate::provided(
        crate::interfaces(&args.host.interfaces)?,
        &args.host.interfaces,
        &adapter.profile,
    )?;
    create_save_dir(args)?;
    let (work_dir, _temp) = work_dir(&args.work_dir)?;
    let config = config(args);
    println!(
        "kvconf fuzz: seed {}, {} sequences of up to {} moves per interface version, against {} out-of-process ({}), \
         profile {}",
        args.seed,
        args.sequences,
        args.max_moves,
        adapter.name,
        adapter.path.display(),
        adapter.profile.name
    );
    let per_version = u64::from(args.sequences) + args.histories;
    let bar = progress_bar(args, per_version * interfaces.len() as u64);
    let operations = AtomicU64::new(0);
    let progress = |ops: u64| {
        let total = operations.fetch_add(ops, Ordering::Relaxed) + ops;
        bar.set_message(total.to_string());
        bar.inc(1);
    };
    let start = Instant::now();
    let session = adapter.session(&work_dir);
    let history_config = HistoryConfig::default();
    let mut found = Found {
        outcomes: Vec::new(),
        histories: Vec::new(),
    };
    for interface in &interfaces {
        let outcome = fuzz(&session, *interface, &config, &progress);
        // A sequence count short of the target: the rest will not run; keep the bar honest.
        bar.inc(u64::from(args.sequences).saturating_sub(outcome.sequences));
        found.outcomes.push(outcome);
        let checked = run_histories(
            &session,
            *interface,
            args.seed,
            args.histories,
            &history_config,
            &progress,
        );
        bar.inc(args.histories - checked.histories);
        found
            .histories
            .push((*interface, adapter.name.clone(), checked));
    }
    let starts = session.starts();
    drop(session);
    bar.finish_and_clear();
    let reproduce = format!("--adapter {}", adapter.path.display());
    report(
        args,
        found,
        start,
        &|_| reproduce.clone(),
        &format!(", the runtime started {starts} time(s)"),
    )
}

/// Generated sequences and histories against the reference host in-process, every version and backend on its own
/// thread.
fn run_in_process(args: &FuzzArgs) -> anyhow::Result<ExitCode> {
    let (profile, backends, interfaces) = args.host.resolve(&Backend::ALL)?;
    create_save_dir(args)?;
    let (work_dir, _temp) = work_dir(&args.work_dir)?;
    let timeout = Duration::from_secs(args.timeout.unwrap_or(30));
    let config = config(args);
    let combos: Vec<(Backend, Interface)> = backends
        .iter()
        .flat_map(|b| interfaces.iter().map(move |i| (*b, *i)))
        .collect();
    println!(
        "kvconf fuzz: seed {}, {} sequences of up to {} moves per interface version and backend, profile {}",
        args.seed, args.sequences, args.max_moves, profile.name
    );
    let per_combo = u64::from(args.sequences) + args.histories;
    let bar = progress_bar(args, per_combo * combos.len() as u64);
    let operations = AtomicU64::new(0);
    let start = Instant::now();
    let next = Mutex::new(combos.iter());
    let outcomes: Mutex<Vec<FuzzOutcome>> = Mutex::new(Vec::new());
    let histories: Mutex<Vec<(Interface, String, Histories)>> = Mutex::new(Vec::new());
    let history_config = HistoryConfig::default();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(combos.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let Some((backend, interface)) = next
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .next()
                        .copied()
                    else {
                        break;
                    };
                    let runner = Runner::new(
                        ReferenceHost::new(backend, profile.clone()),
                        work_dir.join(format!("{}-{}", backend.name(), interface.name())),
                        timeout,
                    );
                    let progress = |ops: u64| {
                        let total = operations.fetch_add(ops, Ordering::Relaxed) + ops;
                        bar.set_message(total.to_string());
                        bar.inc(1);
                    };
                    let outcome = fuzz(&runner, interface, &config, &progress);
                    // A sequence count short of the target: the rest will not run; keep the bar honest.
                    bar.inc(u64::from(args.sequences).saturating_sub(outcome.sequences));
                    outcomes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(outcome);
                    let checked = run_histories(
                        &runner,
                        interface,
                        args.seed,
                        args.histories,
                        &history_config,
                        &progress,
                    );
                    // Histories not run after a violation: keep the bar honest.
                    bar.inc(args.histories - checked.histories);
                    histories.lock().unwrap_or_else(|e| e.into_inner()).push((
                        interface,
                        backend.name().to_string(),
                        checked,
                    ));
                }
            });
        }
    });
    bar.finish_and_clear();
    let found = Found {
        outcomes: outcomes.into_inner().unwrap_or_else(|e| e.into_inner()),
        histories: histories.into_inner().unwrap_or_else(|e| e.into_inner()),
    };
    let profile_flag = args.host.profile.as_deref().unwrap_or("sip010").to_string();
    report(
        args,
        found,
        start,
        &|backend| format!("--backend {backend} --profile {profile_flag}"),
        "",
    )
}

/// Prints what was found (per version and host, then each difference and violation in full, saving the shrunk
/// cases with --save) and the exit status: 0 when nothing was found, 1 on a difference or violation, 2 on a fault
/// in kvconf itself. `host_flags` gives the flags that reach a host again, by its name; `summary` is added to
/// the last line.
fn report(
    args: &FuzzArgs,
    found: Found,
    start: Instant,
    host_flags: &dyn Fn(&str) -> String,
    summary: &str,
) -> anyhow::Result<ExitCode> {
    let Found {
        mut outcomes,
        mut histories,
    } = found;
    outcomes.sort_by_key(|o| (o.backend.clone(), o.interface));
    histories.sort_by_key(|(interface, backend, _)| (backend.clone(), *interface));
    let (sequences, ops) = sequence_table(&outcomes);
    let (history_count, history_ops) = history_table(args, &histories);
    let mut failed = false;
    for (interface, backend, h) in &histories {
        if let Some(v) = &h.violation {
            failed = true;
            println!(
                "\n{interface}/{backend}: a concurrent history breaks {}:\n{}",
                v.statement, v.detail
            );
        }
    }
    for o in &outcomes {
        if let Some(error) = &o.error {
            failed = true;
            println!(
                "\n{}/{}: kvconf itself failed: {error}",
                o.interface, o.backend
            );
        }
        if let Some(finding) = &o.finding {
            failed = true;
            show_finding(args, o, finding, host_flags)?;
        }
    }
    println!(
        "\nkvconf fuzz: {sequences} sequences ({ops} operations) and {history_count} concurrent histories ({history_ops} operations) in {:.1} s{summary}: {}",
        start.elapsed().as_secs_f64(),
        if failed {
            "differences found"
        } else {
            "no difference, no violation"
        }
    );
    // A fault in kvconf itself is not a finding about the host: exit 2, as for any error of the tool.
    if outcomes.iter().any(|o| o.error.is_some()) {
        return Ok(ExitCode::from(2));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One line per version and backend of generated sequences; the sequences and operations in all.
fn sequence_table(outcomes: &[FuzzOutcome]) -> (u64, u64) {
    let (mut sequences, mut ops) = (0u64, 0u64);
    for o in outcomes {
        sequences += o.sequences;
        ops += o.operations;
        let verdict = match (&o.finding, &o.error) {
            (_, Some(_)) => "ERROR in kvconf",
            (Some(_), _) => "DIFFERENCE",
            (None, None) => "no difference",
        };
        println!(
            "{:<24} {:>6} sequences {:>9} operations  {verdict}",
            format!("{}/{}", o.interface, o.backend),
            o.sequences,
            o.operations
        );
    }
    (sequences, ops)
}

/// One line per version and backend of concurrent histories (if any were asked for); the histories and
/// operations in all.
fn history_table(args: &FuzzArgs, histories: &[(Interface, String, Histories)]) -> (u64, u64) {
    let (mut history_count, mut history_ops) = (0u64, 0u64);
    let history_config = HistoryConfig::default();
    if args.histories > 0 {
        println!(
            "\nconcurrent histories ({} instances × {} operations on {} keys each):",
            history_config.instances, history_config.ops_per_instance, history_config.keys
        );
    }
    for (interface, backend, h) in histories.iter().filter(|_| args.histories > 0) {
        history_count += h.histories;
        history_ops += h.operations;
        println!(
            "{:<24} {:>6} histories {:>9} operations  {}",
            format!("{interface}/{backend}"),
            h.histories,
            h.operations,
            h.violation
                .as_ref()
                .map_or("no violation".to_string(), |v| format!(
                    "VIOLATION of {}",
                    v.statement
                ))
        );
    }
    (history_count, history_ops)
}

/// A difference the sequences found: what differed, the case file, how to reproduce it, and where it was saved.
fn show_finding(
    args: &FuzzArgs,
    o: &FuzzOutcome,
    finding: &kvconf::fuzz::Finding,
    host_flags: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    println!(
        "\n{}/{}: sequence {} differs from the model; shrunk in {} runs to {} operation(s) ({} after repeats):\n{}",
        o.interface,
        o.backend,
        finding.sequence,
        finding.shrink_runs,
        finding.generated.entries,
        finding.generated.operations,
        finding.detail.trim_end()
    );
    println!("\n  as a case file:\n");
    for line in finding.text.lines() {
        println!("    {line}");
    }
    println!(
        "\n  reproduce: kvconf fuzz --interface {} {} --seed {} --max-moves {} --sequences {}",
        o.interface.name(),
        host_flags(&o.backend),
        args.seed,
        args.max_moves,
        finding.sequence
    );
    if let Some(dir) = &args.save {
        let path = dir.join(finding.file_name());
        std::fs::write(&path, &finding.text)
            .with_context(|| format!("saving the case to {}", path.display()))?;
        println!(
            "  saved: {} (run it with `kvconf run --cases {}`)",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

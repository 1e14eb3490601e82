//! The `kvconf` command: runs the conformance suite against the reference host (or a runtime, through an adapter
//! file), fuzzes it, checks WIT, components and Spin applications statically, and lists its cases.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use kvconf::case::{self, Case};
use kvconf::catalogue::Catalogue;
use kvconf::interface::Interface;
use kvconf::reference::{Backend, ReferenceHost};
use kvconf::report::Report;
use kvconf::runner::{CaseResult, Executor as _, Runner};
use kvconf::suite::{self, Selection};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc rather than the system's allocator: generated sequences allocate and free the same large buffers
/// (mebibyte values, thousands of keys) over and over, which glibc's allocator hands back to the kernel and
/// page-faults in again each time (BENCHMARKS.md, "pooled instances and mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod check_command;
mod fuzz_command;

#[derive(Parser)]
#[command(
    name = "kvconf",
    version,
    about = "Conformance suite for the Spin key-value interface"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the suite against the reference host (or, with --adapter, a runtime started from an adapter file) and
    /// print a report.
    Run(RunArgs),
    /// Generate operation sequences, run them against the reference host (or, with --adapter, a runtime started
    /// from an adapter file), and compare every outcome with the model's; on a difference, shrink it and print
    /// (and optionally save) the smallest case that shows it. Then check concurrent histories.
    Fuzz(FuzzArgs),
    /// Check statically, before any run: a runtime's WIT against the interface's, a component's imports and
    /// HTTP handler, or a Spin application's labels and components. Exit 0 when nothing is an error, 1 when
    /// something is, 2 on input that cannot be checked.
    Check(CheckArgs),
    /// List the cases and the statements each checks; with --coverage, every function and error case of every
    /// version's WIT with the statements naming it and the number of cases exercising it.
    List {
        /// The directory of case files.
        #[arg(long, default_value_os_t = case::default_dir())]
        cases: PathBuf,
        /// Print the WIT coverage table instead; exit 1 when an item is neither covered nor a named exception.
        #[arg(long)]
        coverage: bool,
    },
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(subcommand)]
    command: CheckCommand,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human, global = true)]
    format: CheckFormat,
}

#[derive(Subcommand)]
enum CheckCommand {
    /// A runtime's WIT (files or directories with their deps/, as it vendors them): every key-value package in
    /// it compared with kvconf's canonical WIT of that version, each difference a finding.
    Wit {
        /// WIT files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// A component (or a wasm32-wasip1 core module, componentized as Spin does): the key-value versions and
    /// functions it imports, their types against the canonical WIT, the HTTP handler it exports, and, with
    /// --profile or --adapter, whether that host provides the versions it needs.
    Component {
        /// The .wasm file.
        file: PathBuf,
        /// The host it is meant for: a built-in profile (`sip010`, `unbounded`) or a profile file.
        #[arg(long, conflicts_with = "adapter")]
        profile: Option<String>,
        /// The host it is meant for, as an adapter file describes it (its profile is used).
        #[arg(long)]
        adapter: Option<PathBuf>,
    },
    /// A Spin application before it is run: every granted label defined (as `spin up` requires), names Spin
    /// accepts, store types Spin knows, each component's source checked as `check component` does, and grants
    /// that cannot be used.
    App {
        /// The application's spin.toml, or its directory.
        manifest: PathBuf,
        /// The runtime config file the application would run with (as `spin up --runtime-config-file`).
        #[arg(long)]
        runtime_config_file: Option<PathBuf>,
        /// The host it is meant for: a built-in profile (`sip010`, `unbounded`) or a profile file.
        #[arg(long, conflicts_with = "adapter")]
        profile: Option<String>,
        /// The host it is meant for, as an adapter file describes it (its profile is used).
        #[arg(long)]
        adapter: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Human,
    Json,
    Junit,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
    Markdown,
}

/// `--backend`'s values: each backend of the reference host, and `all`.
fn backend_names() -> clap::builder::PossibleValuesParser {
    Backend::ALL
        .map(Backend::name)
        .into_iter()
        .chain(["all"])
        .collect::<Vec<_>>()
        .into()
}

/// `--interface`'s values: each interface version ([`kvconf::interface::SPECS`]).
fn interface_names() -> clap::builder::PossibleValuesParser {
    Interface::ALL.map(Interface::name).into()
}

/// Which reference host to check, and on what: shared by `run` and `fuzz`.
#[derive(clap::Args)]
struct HostArgs {
    /// Backends of the reference host to run on (repeat, or `all`); default sqlite for `run`, both for `fuzz`.
    #[arg(long = "backend", value_parser = backend_names())]
    backends: Vec<String>,
    /// Interface versions to run (repeat); default every one the profile provides.
    #[arg(long = "interface", value_parser = interface_names())]
    interfaces: Vec<String>,
    /// The reference host's profile: `sip010` (SIP 010's figures as hard limits), `unbounded`, or the path of a
    /// profile file (TOML: name, interfaces, limits, open-stores, unconfigured-label, v1-invalid-handle,
    /// empty-key, v1-fresh-handles, durable, wasi-paging, wasi-page-keys), which also configures the reference host.
    /// Default sip010.
    #[arg(long)]
    profile: Option<String>,
}

impl HostArgs {
    /// The profile, the backends (`default` when none is named) and the versions to run.
    fn resolve(
        &self,
        default: &[Backend],
    ) -> anyhow::Result<(kvconf::profile::Profile, Vec<Backend>, Vec<Interface>)> {
        let profile = profile(self.profile.as_deref().unwrap_or("sip010"))?;
        let backends = backends(&self.backends, default);
        let interfaces = provided(interfaces(&self.interfaces)?, &self.interfaces, &profile)?;
        Ok((profile, backends, interfaces))
    }
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    host: HostArgs,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// The directory of case files.
    #[arg(long, default_value_os_t = case::default_dir())]
    cases: PathBuf,
    /// Run only cases whose ID contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Seconds a case may take before it fails as hung (default 30; with --adapter, the adapter file's
    /// request-timeout applies instead).
    #[arg(long)]
    timeout: Option<u64>,
    /// Where case stores live (default: a temporary directory, removed afterwards).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Generated concurrent histories per interface version and backend, reported as the trial
    /// `generated/concurrent-histories` (CONCURRENT-VISIBLE, CONCURRENT-ATOMIC); 0 leaves them out. With
    /// --adapter, per version, each operation a request of its own timed at the client.
    #[arg(long, default_value_t = 16)]
    histories: u64,
    /// An expectations file: trials known to fail or to be skipped, each with a reason. Expected failures do
    /// not fail the run; a listed trial that now passes (a stale expectation) does.
    #[arg(long)]
    expectations: Option<PathBuf>,
    /// Write the --expectations file from this run: every failure and skip, keeping the reasons already there.
    #[arg(long, requires = "expectations")]
    bless: bool,
    /// Fail the run on any skip the expectations file does not declare.
    #[arg(long)]
    strict: bool,
    /// Validate a runtime out-of-process instead of the reference host in-process: the adapter file says how to
    /// start it for an application kvconf generates, and what it claims (adapters/kvhost.toml, adapters/spin.toml).
    /// The concurrent histories run too, each operation a request of its own timed at the client.
    #[arg(long)]
    adapter: Option<PathBuf>,
}

#[derive(clap::Args)]
struct FuzzArgs {
    #[command(flatten)]
    host: HostArgs,
    /// Sequences to generate per interface version and backend.
    #[arg(long, default_value_t = 256)]
    sequences: u32,
    /// The seed: the same seed generates the same sequences, so a difference found with it reproduces.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The most moves (operations, fills, fresh instances) in one sequence.
    #[arg(long, default_value_t = 24)]
    max_moves: usize,
    /// Concurrent histories per interface version and backend: instances of one application interleaving
    /// operations on shared keys, checked for CONCURRENT-VISIBLE and CONCURRENT-ATOMIC (0: none). With
    /// --adapter, each operation is a request of its own, timed at the client.
    #[arg(long, default_value_t = 32)]
    histories: u64,
    /// Write each shrunk difference as a case file into this directory (created if missing), to keep as a
    /// regression case (`kvconf run --cases <dir>`).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Seconds one sequence may take before it fails as hung (default 30; with --adapter, the adapter file's
    /// request-timeout applies instead).
    #[arg(long)]
    timeout: Option<u64>,
    /// Do not draw a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Where stores live (default: a temporary directory, removed afterwards).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Fuzz a runtime out-of-process instead of the reference host in-process: the adapter file says how to start
    /// it and what it claims (its profile is used; --backend, --profile and --timeout are refused). The runtime
    /// is started once per application configuration and its stores emptied between sequences; the versions run
    /// one after another.
    #[arg(long)]
    adapter: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kvconf: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::List { cases, coverage } => {
            let cases = load(&cases)?;
            let catalogue = Catalogue::builtin();
            if coverage {
                return list_coverage(catalogue, &cases);
            }
            for case in &cases {
                let interfaces: Vec<&str> = case
                    .interfaces(catalogue)
                    .iter()
                    .map(|i| i.name())
                    .collect();
                println!(
                    "{:<48} [{}] {}\n{:<48} {}",
                    case.id(),
                    interfaces.join(","),
                    case.file.statements.join(", "),
                    "",
                    case.file.title
                );
            }
            println!("{} cases", cases.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run_suite(args),
        Command::Fuzz(args) => fuzz_command::run(args),
        Command::Check(args) => check_command::run(args),
    }
}

/// `kvconf list --coverage`: the table, then any problem on stderr (exit 1).
fn list_coverage(catalogue: &Catalogue, cases: &[Case]) -> anyhow::Result<ExitCode> {
    let coverage = kvconf::coverage::Coverage::compute(catalogue, cases).map_err(|errors| {
        anyhow::anyhow!(
            "cannot compute the WIT coverage:\n  {}",
            errors.join("\n  ")
        )
    })?;
    print!("{}", coverage.render_table());
    let problems = coverage.problems();
    for problem in &problems {
        eprintln!("kvconf list --coverage: {problem}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The backends named on the command line, each once; `default` when none is.
fn backends(names: &[String], default: &[Backend]) -> Vec<Backend> {
    let mut backends: Vec<Backend> = Vec::new();
    for b in names {
        match b.as_str() {
            "all" => backends.extend(Backend::ALL),
            name => backends.extend(Backend::from_name(name)),
        }
    }
    if backends.is_empty() {
        backends.extend(default);
    }
    // `--backend all --backend memory` runs memory once.
    let mut seen = Vec::new();
    backends.retain(|b| {
        let first = !seen.contains(b);
        seen.push(*b);
        first
    });
    backends
}

/// The interface versions named on the command line; every runnable one when none is.
fn interfaces(names: &[String]) -> anyhow::Result<Vec<Interface>> {
    let mut interfaces: Vec<Interface> = names
        .iter()
        .filter_map(|n| Interface::from_name(n))
        .collect();
    if interfaces.is_empty() {
        interfaces = Interface::RUNNABLE.to_vec();
    }
    if let Some(missing) = interfaces.iter().find(|i| !Interface::RUNNABLE.contains(i)) {
        bail!(
            "kvconf has no driver for {} yet: this build runs {}",
            missing.wit_name(),
            Interface::RUNNABLE.map(|i| i.name()).join(", ")
        );
    }
    Ok(interfaces)
}

/// The versions to run: those asked for (or all) that the profile provides; asking for one it does not
/// provide is an error.
fn provided(
    mut interfaces: Vec<Interface>,
    asked: &[String],
    profile: &kvconf::profile::Profile,
) -> anyhow::Result<Vec<Interface>> {
    if let Some(missing) = asked
        .iter()
        .filter_map(|n| Interface::from_name(n))
        .find(|i| !profile.interfaces.contains(i))
    {
        bail!(
            "profile {} does not provide {}: run one of the versions it claims",
            profile.name,
            missing.wit_name()
        );
    }
    interfaces.retain(|i| profile.interfaces.contains(i));
    Ok(interfaces)
}

/// The profile the reference host ran under, for the reports: its durability is its backends' (SQLite's stores
/// survive a restart, memory's do not), whatever `profile` claimed. When the backends of one run differ in it,
/// the profile stays as given and the note says which backend is durable. A claim a backend cannot keep is pointed
/// out on stderr.
fn as_run(
    profile: &kvconf::profile::Profile,
    backends: &[Backend],
) -> (kvconf::profile::Profile, Option<String>) {
    for backend in backends
        .iter()
        .filter(|b| profile.durable && !b.is_durable())
    {
        eprintln!(
            "kvconf: profile {} claims durable stores, but the {} backend keeps nothing across a restart: \
             PERSIST-RESTART is checked on it as not durable",
            profile.name,
            backend.name()
        );
    }
    let durable: Vec<&str> = backends
        .iter()
        .filter(|b| b.is_durable())
        .map(|b| b.name())
        .collect();
    if durable.is_empty() || durable.len() == backends.len() {
        let ran = kvconf::profile::Profile {
            durable: !durable.is_empty(),
            ..profile.clone()
        };
        (ran, None)
    } else {
        let note = format!("durable on {} only", durable.join(", "));
        (profile.clone(), Some(note))
    }
}

/// A named profile of the reference host, or a profile file (TOML, the fields of `kvconf::profile::Profile`).
fn profile(name: &str) -> anyhow::Result<kvconf::profile::Profile> {
    ReferenceHost::profile_from(name, std::path::Path::new("."))
}

/// A work directory: the one given, or a temporary one removed when the guard drops.
fn work_dir(given: &Option<PathBuf>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match given {
        Some(dir) => Ok((dir.clone(), None)),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("kvconf-")
                .tempdir()
                .context("creating a temporary directory")?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

fn load(dir: &std::path::Path) -> anyhow::Result<Vec<Case>> {
    case::load_dir(dir, Catalogue::builtin()).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!(
            "cannot load the cases ({} problem(s)):\n{}",
            errors.len(),
            list.join("\n")
        )
    })
}

/// The adapter file at `path`, refusing the flags that choose the reference host (`--backend`, `--profile`,
/// `--timeout`), which mean nothing for a runtime the adapter starts.
fn load_adapter(
    path: &std::path::Path,
    host: &HostArgs,
    timeout: Option<u64>,
) -> anyhow::Result<kvconf::adapter::Adapter> {
    if !host.backends.is_empty() || host.profile.is_some() {
        bail!(
            "--backend and --profile choose the reference host's configuration; with --adapter the runtime \
             is the host, and its adapter file names its profile"
        );
    }
    if timeout.is_some() {
        bail!(
            "--timeout is for the reference host in-process; with --adapter, set request-timeout (and \
             start-timeout) in the adapter file"
        );
    }
    let adapter = kvconf::adapter::Adapter::load(path, ReferenceHost::profile_from)?;
    // A variable its [store] needs and nobody set is refused now, not once per case.
    adapter.store()?;
    Ok(adapter)
}

fn run_suite(args: RunArgs) -> anyhow::Result<ExitCode> {
    let adapter = match &args.adapter {
        Some(path) => Some(load_adapter(path, &args.host, args.timeout)?),
        None => None,
    };
    let (profile, backends, interfaces) = match &adapter {
        Some(adapter) => {
            let interfaces = provided(
                interfaces(&args.host.interfaces)?,
                &args.host.interfaces,
                &adapter.profile,
            )?;
            (adapter.profile.clone(), Vec::new(), interfaces)
        }
        None => args.host.resolve(&[Backend::Sqlite])?,
    };
    let host_names: Vec<&str> = match &adapter {
        Some(adapter) => vec![adapter.name.as_str()],
        None => Backend::ALL.map(Backend::name).to_vec(),
    };
    let mut cases = load(&args.cases)?;
    // Checked before anything runs: an unknown trial in the file is a mistake to fix first. Blessing may start
    // from no file at all.
    let expectations = match &args.expectations {
        Some(path) if !args.bless || path.exists() => Some(
            kvconf::expectations::Expectations::load(path, &cases, &host_names)?,
        ),
        _ => None,
    };
    if let Some(filter) = &args.filter {
        cases.retain(|c| c.id().contains(filter.as_str()));
        if cases.is_empty() {
            bail!("no case ID contains {filter:?}: `kvconf list` shows them");
        }
    }
    let (work_dir, _temp) = work_dir(&args.work_dir)?;
    let selection = Selection {
        interfaces: interfaces.clone(),
        histories: args.histories,
        history_seed: HISTORY_SEED,
        sequences: None,
    };
    let (results, host_name) = match &adapter {
        Some(adapter) => (
            run_out_of_process(adapter, &cases, &selection, &work_dir),
            format!(
                "{} (out-of-process, {})",
                adapter.name,
                adapter.path.display()
            ),
        ),
        None => {
            let timeout = Duration::from_secs(args.timeout.unwrap_or(30));
            (
                run_in_process(&backends, &profile, &cases, &selection, &work_dir, timeout),
                "the kvconf reference host (kvhost)".to_string(),
            )
        }
    };
    let (report_profile, note) = match &adapter {
        Some(_) => (profile.clone(), None),
        None => as_run(&profile, &backends),
    };
    conclude(
        &args,
        &host_name,
        (&report_profile, note),
        &interfaces,
        &cases,
        expectations.as_ref(),
        results,
    )
}

/// The seed of `kvconf run`'s concurrent histories; the JUnit and Markdown reports name it.
const HISTORY_SEED: u64 = 1;

/// Runs the trials against the reference host on each of `backends`.
fn run_in_process(
    backends: &[Backend],
    profile: &kvconf::profile::Profile,
    cases: &[Case],
    selection: &Selection,
    work_dir: &std::path::Path,
    timeout: Duration,
) -> Vec<CaseResult> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    let mut results = Vec::new();
    for backend in backends {
        let runner = Runner::new(
            ReferenceHost::new(*backend, profile.clone()),
            work_dir.to_path_buf(),
            timeout,
        );
        let trials = suite::trials(runner.host_name(), profile, cases, selection);
        results.extend(suite::run_all(&runner, &trials, threads, None, &|_| {}));
    }
    results
}

/// Runs the trials against the runtime `adapter` starts, saying on standard error how many, each failure as it
/// happens, and how long it took.
fn run_out_of_process(
    adapter: &kvconf::adapter::Adapter,
    cases: &[Case],
    selection: &Selection,
    work_dir: &std::path::Path,
) -> Vec<CaseResult> {
    let trials = suite::trials(&adapter.name, &adapter.profile, cases, selection);
    let total = trials.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let progress = |r: &CaseResult| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if matches!(r.verdict, kvconf::runner::Verdict::Fail(_)) {
            eprintln!("kvconf: [{n}/{total}] {} FAILED", r.trial_name());
        }
    };
    eprintln!(
        "kvconf: validating {} out-of-process ({}), {total} trial(s)",
        adapter.name,
        adapter.path.display()
    );
    let started = std::time::Instant::now();
    // The histories go through the same session: each operation one request, timed at the client.
    let session = adapter.session(work_dir);
    let results = session.run_trials(&trials, None, &progress);
    eprintln!(
        "kvconf: {} trial(s) out-of-process in {:.1} s, {} runtime start(s)",
        total,
        started.elapsed().as_secs_f64(),
        session.starts()
    );
    results
}

/// Judges the results against the expectations (if any), prints the report, blesses the expectations file when
/// asked, and gives the exit status.
fn conclude(
    args: &RunArgs,
    host_name: &str,
    (profile, note): (&kvconf::profile::Profile, Option<String>),
    interfaces: &[Interface],
    cases: &[Case],
    expectations: Option<&kvconf::expectations::Expectations>,
    mut results: Vec<CaseResult>,
) -> anyhow::Result<ExitCode> {
    let judged = results.clone();
    // Judged once; in the reports, each trial listed in the expectations file shows what the file makes of it (an
    // expected failure as skipped with its reason, never as a pass), so that the report's counts, a JUnit
    // dashboard and the exit status agree.
    if let (Some(x), false) = (expectations, args.bless) {
        for r in &mut results {
            r.verdict = x.judge(r);
        }
    }
    let mut report = Report::new(host_name, profile, interfaces, results);
    if let Some(note) = note {
        report = report.with_profile_note(note);
    }
    let mut meta = kvconf::report::Meta::new(HISTORY_SEED, expectations.map(|x| x.hash.clone()));
    if matches!(args.format, Format::Markdown) {
        // The cases are those of the run. The catalogue's items resolve (a test checks it), so an error here is
        // kvconf's own: said, and the report goes out without the section.
        match kvconf::coverage::Coverage::compute(Catalogue::builtin(), cases) {
            Ok(coverage) => meta.coverage = Some(coverage),
            Err(errors) => eprintln!(
                "kvconf: the report leaves out its WIT coverage section: {}",
                errors.join("; ")
            ),
        }
    }
    match args.format {
        Format::Human => print!("{}", report.human()),
        Format::Json => println!("{}", report.json()),
        Format::Junit => print!("{}", report.junit(&meta)),
        Format::Markdown => print!("{}", report.markdown(&meta)),
    }
    if let (true, Some(path)) = (args.bless, &args.expectations) {
        let text = kvconf::expectations::bless(expectations, &judged, host_name);
        std::fs::write(path, &text)
            .with_context(|| format!("writing the expectations file {}", path.display()))?;
        eprintln!(
            "kvconf: wrote {} expectation(s) to {}",
            text.matches("[[expect]]").count(),
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if expectations.is_none() && !args.strict {
        return Ok(if report.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let none = kvconf::expectations::Expectations {
        path: PathBuf::from("(no expectations file)"),
        entries: Default::default(),
        hash: String::new(),
    };
    let expectations = expectations.unwrap_or(&none);
    let applied = expectations.apply(&judged);
    let passed = applied.passed(args.strict);
    let summary = applied.summary(&expectations.path, args.strict);
    let verdict = if passed {
        "kvconf: ok under the expectations"
    } else {
        "kvconf: FAILED under the expectations"
    };
    // The summary goes after a human report; machine formats keep standard output to themselves.
    match args.format {
        Format::Human => print!("\n{summary}{verdict}\n"),
        _ => eprintln!("{summary}{verdict}"),
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

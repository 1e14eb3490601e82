//! `kvhost`: the kvconf reference host on the command line.
//!
//! `kvhost run` runs a `wasi:cli/run` command component with the key-value interface provided by kvhost:
//! `fermyon:spin/key-value` (v1), `fermyon:spin/key-value@2.0.0` (v2) and `wasi:keyvalue@0.2.0-draft2`, all
//! serving one state, as Spin does.
//!
//! ```text
//! kvhost run app.wasm --grant default --grant cache --runtime-config-file runtime-config.toml -- arg1 arg2
//! ```
//!
//! `kvhost serve` runs a Spin HTTP application (`spin.toml`, manifest version 2) like `spin up`, with every
//! key-value version (v3 included) linked; see [`kvhost::serve`]:
//!
//! ```text
//! kvhost serve --listen 127.0.0.1:0 --runtime-config-file runtime-config.toml path/to/spin.toml
//! kvhost serve --from path/to/app --listen localhost:3000 --key-value greeting=hello --env MODE=test
//! ```
//!
//! `serve` takes `spin up`'s flags for what it runs: `--from`/`-f` (or the path as an argument), `--listen`
//! (resolved as Spin resolves it), `--runtime-config-file`, `--state-dir` (`""` for none: "default" in memory),
//! `--env`/`-e`, `--key-value` and `--allow-transient-write`. Spin's other flags (`--build`, `--profile`,
//! `--direct-mounts`, `--temp`, `--cache-dir`, `--component-id`, `--log-dir`, `--follow`, `--quiet`, `--tls-cert`,
//! `--sqlite`, `--variable`, ...) are refused as unknown arguments.
//!
//! The component's id (in error messages) is its file name without the extension. "default" is the SQLite file
//! `<state-dir>/sqlite_key_value.db` (`.spin/` unless `--state-dir` says otherwise), or memory with `--memory`.
//!
//! In `kvhost run`, v3 (`spin:key-value/key-value@3.0.0`) is not linked. Its functions are async, and a `wasi:cli/run@0.2`
//! command's `run` is a synchronous export, which the component model does not let call an async function:
//! wasmtime traps with "cannot block a synchronous task before returning" at the first v3 call, even with an
//! async-enabled engine and kvhost answering at once (tried). Leaving v3 out makes such a command fail at
//! instantiation instead, with a message saying so. v3 guests are async components; the library serves them
//! ([`kvhost::v3::add_to_linker`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use kvhost::{Application, DefaultBackend, HostConfig, KeyValueState, Limits, RuntimeConfig};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command as WasiCommand;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

/// The kvconf reference host for the Spin key-value interface.
#[derive(Parser)]
#[command(name = "kvhost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Run a wasi:cli command component with the Spin key-value interface (v1, v2 and wasi:keyvalue).
    Run(RunArgs),
    /// Serve a Spin HTTP application (spin.toml) like `spin up`, with every key-value version.
    ///
    /// Components may be components or core modules (a wasm32-wasip1 build, as Spin's documentation builds Rust
    /// apps), which are componentized on load as Spin does. A component's `files` are copied into a temporary
    /// directory and mounted read-only at `/`. `spin up`'s flags for what it runs are taken as Spin takes them;
    /// its others (--build, --profile, --direct-mounts, --temp, --log-dir, --follow, --sqlite, --variable, TLS,
    /// ...) are refused as unknown arguments.
    Serve(ServeArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The component to run (a wasi:cli/run command component).
    component: PathBuf,
    /// A store label the component may open, like an entry of Spin's `key_value_stores`; repeat for more.
    #[arg(long = "grant", value_name = "LABEL")]
    grants: Vec<String>,
    #[command(flatten)]
    stores: StoreArgs,
    /// Arguments for the component (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// The application: a spin.toml (manifest version 2), or a directory holding one [default: .].
    #[arg(value_name = "PATH", conflicts_with = "from")]
    manifest: Option<PathBuf>,
    /// The application, as `spin up -f`: a spin.toml or a directory holding one (not a registry reference or a
    /// bare .wasm file, which kvhost does not run).
    #[arg(
        short = 'f',
        long = "from",
        value_name = "PATH",
        alias = "from-file",
        alias = "file"
    )]
    from: Option<PathBuf>,
    /// The address to listen on, HOST:PORT: an IP address or a host name, resolved as Spin resolves it
    /// (localhost:3000 is 127.0.0.1:3000); port 0 lets the system choose (the "serving" line on stdout says
    /// which).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:3000", value_parser = parse_listen)]
    listen: std::net::SocketAddr,
    /// Set an environment variable (KEY=VALUE) in every component, over its manifest `environment`; repeat for
    /// more.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Set a key (KEY=VALUE) in the store "default" before serving, overwriting its value; repeat for more.
    #[arg(long = "key-value", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    key_values: Vec<(String, String)>,
    /// Let components write to their `files` (kvhost's temporary copies of them; by default read-only).
    #[arg(long)]
    allow_transient_write: bool,
    /// The longest one request may take, from when its instance starts on it to the end of its response:
    /// seconds (60, 0.5, 60s) or milliseconds (500ms); `none` for no deadline (Spin's default). Past it the
    /// instance is stopped: the request gets 504 if it had no answer yet, or its response is cut off.
    #[arg(long, value_name = "SECONDS|none", default_value = "60", value_parser = request_timeout)]
    request_timeout: Limit<std::time::Duration>,
    /// The most linear memory one instance may have, all its memories together: bytes, or a number followed by
    /// KiB, MiB or GiB; `none` for no limit (Spin's default). A guest asking for more traps, failing its own
    /// request.
    #[arg(long, value_name = "BYTES|none", default_value = "512MiB", value_parser = memory_size)]
    max_instance_memory: Limit<usize>,
    #[command(flatten)]
    stores: StoreArgs,
}

/// A limit given on the command line (`--max-open-stores`, `--request-timeout`, `--max-instance-memory`): a
/// value, or `none`.
#[derive(Clone, Copy, Debug)]
struct Limit<T>(Option<T>);

/// `none`, or what `parse` reads in `text`.
fn limit<T>(
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    expected: &str,
) -> Result<Limit<T>, String> {
    if text == "none" {
        return Ok(Limit(None));
    }
    parse(text)
        .map(|value| Limit(Some(value)))
        .ok_or_else(|| format!("{text:?} is not {expected}, or none"))
}

fn open_bound(text: &str) -> Result<Limit<u32>, String> {
    limit(
        text,
        |n| n.parse().ok(),
        "a number of stores: give one such as 256",
    )
}

fn request_timeout(text: &str) -> Result<Limit<std::time::Duration>, String> {
    limit(
        text,
        |text| {
            // Seconds, as Spin's `--request-timeout` reads a number with no suffix or with `s`; or milliseconds.
            let (number, unit) = match (text.strip_suffix("ms"), text.strip_suffix('s')) {
                (Some(number), _) => (number, 1e-3),
                (None, Some(number)) => (number, 1.0),
                (None, None) => (text, 1.0),
            };
            let seconds = number.trim().parse::<f64>().ok()? * unit;
            (seconds > 0.0)
                .then(|| std::time::Duration::try_from_secs_f64(seconds).ok())
                .flatten()
        },
        "a time above 0: give seconds (60, 0.5, 60s) or milliseconds (500ms)",
    )
}

fn memory_size(text: &str) -> Result<Limit<usize>, String> {
    limit(
        text,
        |text| {
            let (number, unit) = [("GiB", 1usize << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
                .into_iter()
                .find_map(|(suffix, unit)| Some((text.strip_suffix(suffix)?, unit)))
                .unwrap_or((text, 1));
            number
                .trim()
                .parse::<usize>()
                .ok()?
                .checked_mul(unit)
                .filter(|bytes| *bytes > 0)
        },
        "a size above 0: give bytes, or a number followed by KiB, MiB or GiB (512MiB)",
    )
}

fn parse_listen(address: &str) -> Result<std::net::SocketAddr, String> {
    kvhost::serve::resolve_listen_address(address).map_err(|error| format!("{error:#}"))
}

fn parse_pair(text: &str, what: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} has no `=`; write {what} as KEY=VALUE"))
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    parse_pair(text, "an environment variable")
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    parse_pair(text, "a key and its value")
}

/// How the stores are configured: the same for `run` and `serve`.
#[derive(Args)]
struct StoreArgs {
    /// A runtime config in Spin's format defining the labels other than "default" ([key_value_store.<label>]).
    /// Relative database paths in it resolve against the file's directory.
    #[arg(long, value_name = "FILE")]
    runtime_config_file: Option<PathBuf>,
    /// The directory of the default SQLite database, sqlite_key_value.db [default: the runtime config's
    /// `state_dir`, else .spin in the working directory for `run`, beside spin.toml for `serve`, as Spin does].
    /// An empty value ("") means none: "default" is in memory, as in Spin.
    // A string rather than a path, as in Spin: clap refuses an empty path, and "" is a meaningful value here.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<String>,
    /// Serve "default" from memory instead of SQLite (`type = "spin"` stores without a `path` are in memory
    /// anyway, as in Spin).
    #[arg(long)]
    memory: bool,
    /// Refuse keys, values and key counts past SIP 010's minimums (256 bytes, 1,048,576 bytes, 1024 keys).
    #[arg(long)]
    sip010_limits: bool,
    /// The most stores one instance may have open at once; `none` for no bound. Past it `open` answers
    /// store-table-full. The default is Spin's (its store table's capacity, 256), well below wasmtime's own limit
    /// of live handles (100,000 per store), which would otherwise trap a guest that opens without end.
    #[arg(long, value_name = "N|none", default_value = "256", value_parser = open_bound)]
    max_open_stores: Limit<u32>,
    /// What a granted label that no runtime config defines does: refuse to load the application (as Spin
    /// does), or load it and answer `open` with no-such-store.
    #[arg(long, value_name = "ANSWER", default_value = "refuse-load")]
    undefined_labels: UndefinedLabelsArg,
    /// How v1 answers a store handle that is not open: the invalid-store error, or a trap (as Spin does).
    #[arg(long, value_name = "ANSWER", default_value = "error")]
    v1_invalid_handle: V1InvalidHandleArg,
    /// Give each `open` the lowest handle number not open, so a closed v1 number comes back (a host may; Spin
    /// never does, and neither does kvhost without this flag).
    #[arg(long)]
    reuse_handles: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum UndefinedLabelsArg {
    RefuseLoad,
    NoSuchStore,
}

#[derive(Clone, Copy, ValueEnum)]
enum V1InvalidHandleArg {
    Error,
    Trap,
}

impl StoreArgs {
    /// The host configuration these flags describe; the state directory is `--state-dir`, else the runtime
    /// config's `state_dir`, else `default_state_dir` (an empty one is none: "default" in memory, as in Spin), and
    /// relative runtime-config paths resolve against the runtime config file's directory (`default_base_dir`
    /// without one).
    fn host_config(
        &self,
        default_state_dir: PathBuf,
        default_base_dir: PathBuf,
    ) -> Result<HostConfig> {
        let (runtime_config, base_dir) = match &self.runtime_config_file {
            Some(file) => {
                let config = RuntimeConfig::from_file(file)?;
                let dir = match file.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                (Some(config), dir)
            }
            None => (None, default_base_dir),
        };
        let state_dir = self
            .state_dir
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| runtime_config.as_ref()?.state_dir.clone())
            .unwrap_or(default_state_dir);
        Ok(HostConfig {
            default_backend: if self.memory || state_dir.as_os_str().is_empty() {
                DefaultBackend::Memory
            } else {
                DefaultBackend::Sqlite { dir: state_dir }
            },
            runtime_config,
            base_dir,
            limits: if self.sip010_limits {
                Limits::sip010()
            } else {
                Limits::none()
            },
            max_open_stores: self.max_open_stores.0,
            undefined_labels: match self.undefined_labels {
                UndefinedLabelsArg::RefuseLoad => kvhost::UndefinedLabels::RefuseLoad,
                UndefinedLabelsArg::NoSuchStore => kvhost::UndefinedLabels::NoSuchStore,
            },
            wasi_page_size: kvhost::DEFAULT_WASI_PAGE_SIZE,
            v1_invalid_handle: match self.v1_invalid_handle {
                V1InvalidHandleArg::Error => kvhost::v1::V1InvalidHandle::Error,
                V1InvalidHandleArg::Trap => kvhost::v1::V1InvalidHandle::Trap,
            },
            reuse_handles: self.reuse_handles,
        })
    }
}

/// The data of the wasmtime store: WASI's context and the key-value state.
struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    key_value: KeyValueState,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        CliCommand::Run(args) => run(args),
        CliCommand::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kvhost: error: {error:?}");
            ExitCode::FAILURE
        }
    }
}

/// `kvhost serve`: loads the application, prints the "serving" line, serves until SIGINT or SIGTERM.
fn serve(args: ServeArgs) -> Result<()> {
    let manifest = args
        .from
        .or(args.manifest)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut options = kvhost::serve::ServeOptions::new(&manifest);
    options.listen = args.listen;
    options.host_config = args.stores.host_config(
        kvhost::serve::default_state_dir(&manifest),
        options.host_config.base_dir.clone(),
    )?;
    options.environment = args.env;
    options.initial_key_values = args.key_values;
    options.allow_transient_write = args.allow_transient_write;
    options.instance_limits = kvhost::serve::InstanceLimits {
        request_timeout: args.request_timeout.0,
        max_memory: args.max_instance_memory.0,
    };
    kvhost::serve::run(options)
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let component_id = component_id(&args.component);
    let config = args
        .stores
        .host_config(PathBuf::from(".spin"), PathBuf::from("."))?;
    let grants = BTreeMap::from([(component_id.clone(), args.grants.clone())]);
    let app = Application::load(config, grants).context("could not load the application")?;

    if !args.component.exists() {
        anyhow::bail!(
            "the component file {} does not exist; check the path",
            args.component.display()
        );
    }
    let engine = Engine::default();
    let component = wasm(Component::from_file(&engine, &args.component)).with_context(|| {
        format!(
            "could not load the component {}; is it a WebAssembly component (not a core module)?",
            args.component.display()
        )
    })?;
    let mut linker = Linker::<Host>::new(&engine);
    wasm(wasmtime_wasi::p2::add_to_linker_sync(&mut linker)).context("could not link WASI")?;
    fn get(host: &mut Host) -> &mut KeyValueState {
        &mut host.key_value
    }
    wasm(kvhost::v1::add_to_linker(&mut linker, get))
        .and_then(|()| wasm(kvhost::add_to_linker(&mut linker, get)))
        .and_then(|()| wasm(kvhost::wasi_keyvalue::add_to_linker(&mut linker, get)))
        .context("could not link the key-value interfaces")?;

    let wasi = WasiCtx::builder()
        .inherit_stdio()
        .arg(&component_id)
        .args(&args.args)
        .build();
    let host = Host {
        wasi,
        table: ResourceTable::new(),
        key_value: app.instance_state(&component_id)?,
    };
    let mut store = Store::new(&engine, host);
    let command = wasm(WasiCommand::instantiate(&mut store, &component, &linker)).with_context(|| {
        format!(
            "could not instantiate {} as a wasi:cli command; it must export wasi:cli/run and import only WASI, \
             fermyon:spin/key-value (v1 or @2.0.0) and wasi:keyvalue@0.2.0-draft2 (a command cannot use the async \
             spin:key-value@3.0.0)",
            args.component.display()
        )
    })?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(())) => {
            eprintln!(
                "kvhost: {} returned an error from wasi:cli/run",
                args.component.display()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(trap) => {
            match trap.downcast_ref::<I32Exit>() {
                // An exit status outside 0..=255 is reported as a failure rather than truncated.
                Some(&I32Exit(code)) => {
                    Ok(u8::try_from(code).map_or(ExitCode::FAILURE, ExitCode::from))
                }
                None => Err(anyhow::Error::from(trap)
                    .context(format!("{} trapped", args.component.display()))),
            }
        }
    }
}

/// The component's id: its file name without the extension.
fn component_id(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "component".to_owned())
}

/// wasmtime 48 has an error type of its own; this brings it into `anyhow` so that `.context(...)` applies.
fn wasm<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(anyhow::Error::from)
}

//! `kvhost`: runs a `wasi:cli/run` command component with the key-value interface provided by kvhost:
//! `fermyon:spin/key-value` (v1), `fermyon:spin/key-value@2.0.0` (v2) and `wasi:keyvalue@0.2.0-draft2`, all
//! serving one state, as Spin does.
//!
//! ```text
//! kvhost run app.wasm --grant default --grant cache --runtime-config-file runtime-config.toml -- arg1 arg2
//! ```
//!
//! The component's id (in error messages) is its file name without the extension. "default" is the SQLite file
//! `<state-dir>/sqlite_key_value.db` (`.spin/` unless `--state-dir` says otherwise), or memory with `--memory`.
//!
//! v3 (`spin:key-value/key-value@3.0.0`) is not linked. Its functions are async, and a `wasi:cli/run@0.2`
//! command's `run` is a synchronous export, which the component model does not let call an async function:
//! wasmtime traps with "cannot block a synchronous task before returning" at the first v3 call, even with an
//! async-enabled engine and kvhost answering at once (tried). Leaving v3 out makes such a command fail at
//! instantiation instead, with a message saying so. v3 guests are async components; the library serves them
//! ([`kvhost::v3::add_to_linker`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
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
}

#[derive(Args)]
struct RunArgs {
    /// The component to run (a wasi:cli/run command component).
    component: PathBuf,
    /// A store label the component may open, like an entry of Spin's `key_value_stores`; repeat for more.
    #[arg(long = "grant", value_name = "LABEL")]
    grants: Vec<String>,
    /// A runtime config in Spin's format defining the labels other than "default" ([key_value_store.<label>]).
    /// Relative database paths in it resolve against the file's directory.
    #[arg(long, value_name = "FILE")]
    runtime_config_file: Option<PathBuf>,
    /// The directory of the default SQLite database, sqlite_key_value.db.
    #[arg(long, value_name = "DIR", default_value = ".spin")]
    state_dir: PathBuf,
    /// Serve "default" (and `type = "spin"` stores without a `path`) from memory instead of SQLite.
    #[arg(long)]
    memory: bool,
    /// Refuse keys, values and key counts past SIP 010's minimums (256 bytes, 1,048,576 bytes, 1024 keys).
    #[arg(long)]
    sip010_limits: bool,
    /// The most stores one instance may have open at once (default: no bound).
    #[arg(long, value_name = "N")]
    max_open_stores: Option<u32>,
    /// Arguments for the component (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
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
    let Cli {
        command: CliCommand::Run(args),
    } = Cli::parse();
    match run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kvhost: error: {error:?}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let component_id = component_id(&args.component);
    let (runtime_config, base_dir) = match &args.runtime_config_file {
        Some(file) => {
            let config = RuntimeConfig::from_file(file)?;
            let dir = match file.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            (Some(config), dir)
        }
        None => (None, PathBuf::from(".")),
    };
    let config = HostConfig {
        default_backend: if args.memory {
            DefaultBackend::Memory
        } else {
            DefaultBackend::Sqlite {
                dir: args.state_dir.clone(),
            }
        },
        runtime_config,
        base_dir,
        limits: if args.sip010_limits {
            Limits::sip010()
        } else {
            Limits::none()
        },
        max_open_stores: args.max_open_stores,
        undefined_labels: kvhost::UndefinedLabels::RefuseLoad,
        wasi_page_size: kvhost::DEFAULT_WASI_PAGE_SIZE,
        v1_invalid_handle: kvhost::v1::V1InvalidHandle::Error,
    };
    let grants = BTreeMap::from([(component_id.clone(), args.grants.clone())]);
    let app = Application::load(config, grants).context("could not load the application")?;

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

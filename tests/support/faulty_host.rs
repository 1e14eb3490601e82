//! `kvconf-faulty-host`: a faulty host of the self-test, served out-of-process like `kvhost serve`, so the
//! self-test can show that `kvconf run --adapter` catches a fault in a runtime it only reaches over HTTP.
//!
//! ```text
//! kvconf-faulty-host --fault DeleteAbsentErrors --listen 127.0.0.1:PORT [--runtime-config-file FILE] SPIN_TOML
//! ```
//!
//! It serves the application with kvhost's server and bindings over the in-memory backend of
//! `kvconf_workspace::faulty_manager` (the labels the runtime config defines, plus "default"), under the reference
//! host's sip010 profile: SIP 010's limits (enforced by the faulty backend), a bound of 64 open stores, undefined
//! labels refused at load, v1's `invalid-store` for a handle that is not open. `--fault None` is the correct host
//! the faults start from.

use anyhow::{Context, Result, bail};
use kvconf::reference::{HostSettings, ReferenceHost};
use kvconf_workspace::{Fault, faulty_manager};
use std::path::PathBuf;
use std::sync::Arc;

fn main() -> std::process::ExitCode {
    match serve() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvconf-faulty-host: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve() -> Result<()> {
    let mut fault = None;
    let mut listen = None;
    let mut runtime_config = None;
    let mut manifest = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--fault" => {
                let name = value()?;
                fault = Some(Fault::named(&name).with_context(|| {
                    format!("no fault is named {name:?}; see kvconf_workspace::Fault")
                })?);
            }
            "--listen" => listen = Some(value()?.parse().context("--listen takes ADDRESS:PORT")?),
            "--runtime-config-file" => runtime_config = Some(PathBuf::from(value()?)),
            _ if arg.starts_with('-') => bail!("unknown option {arg}"),
            _ => manifest = Some(PathBuf::from(arg)),
        }
    }
    let (Some(fault), Some(listen), Some(manifest)) = (fault, listen, manifest) else {
        bail!(
            "usage: kvconf-faulty-host --fault NAME --listen ADDRESS [--runtime-config-file FILE] SPIN_TOML"
        );
    };
    let profile = ReferenceHost::sip010_profile();
    let mut options = kvhost::serve::ServeOptions::new(&manifest);
    options.listen = listen;
    // The profile's bound and answers; its limits are the faulty backend's to enforce (kvhost serve applies none
    // to a store manager of the caller's).
    HostSettings::from_profile(&profile).configure(&mut options.host_config);
    if let Some(path) = runtime_config {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        options.host_config.runtime_config = Some(kvhost::RuntimeConfig::parse(&text)?);
    }
    options.store_manager = Some(Arc::new(
        move |context: &kvhost::serve::ManagerContext<'_>| {
            let labels: Vec<String> = context
                .host_config
                .runtime_config
                .iter()
                .flat_map(|c| c.stores.keys().cloned())
                .collect();
            Ok(faulty_manager(fault, &labels, &profile))
        },
    ));
    kvhost::serve::run(options)
}

//! `kvconf check wit|component|app`: the spec checker on the command line. Prints the findings in the format
//! asked for and exits 0 when nothing is an error, 1 when something is, 2 on input it cannot check.

use crate::{CheckArgs, CheckCommand, CheckFormat};
use kvconf::check::{self, Finding, output};
use kvconf::profile::Profile;
use kvconf::reference::ReferenceHost;
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (what, findings) = match &args.command {
        CheckCommand::Wit { paths } => {
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            (
                format!("check wit {}", shown.join(" ")),
                check::wit::check(paths),
            )
        }
        CheckCommand::Component {
            file,
            profile,
            adapter,
        } => {
            let profile = host_profile(profile.as_deref(), adapter.as_deref())?;
            (
                format!("check component {}", file.display()),
                check::component::check_component(file, profile.as_ref()),
            )
        }
        CheckCommand::App {
            manifest,
            runtime_config_file,
            profile,
            adapter,
        } => {
            let profile = host_profile(profile.as_deref(), adapter.as_deref())?;
            (
                format!("check app {}", manifest.display()),
                check::app::check_app(manifest, runtime_config_file.as_deref(), profile.as_ref()),
            )
        }
    };
    let findings: Vec<Finding> = match findings {
        Ok(findings) => findings,
        Err(bad) => {
            eprintln!("kvconf {what}: {bad}");
            return Ok(ExitCode::from(2));
        }
    };
    let printed = match args.format {
        CheckFormat::Human => output::human(&what, &findings),
        CheckFormat::Json => output::json(&what, &findings),
        CheckFormat::Junit => output::junit(&what, &findings),
    };
    print!("{printed}");
    Ok(if check::has_errors(&findings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The host profile named by `--profile` (a built-in name or a file) or `--adapter` (its adapter file's), if any.
fn host_profile(profile: Option<&str>, adapter: Option<&Path>) -> anyhow::Result<Option<Profile>> {
    Ok(match (profile, adapter) {
        (Some(name), _) => Some(crate::profile(name)?),
        (None, Some(adapter)) => {
            Some(kvconf::adapter::Adapter::load(adapter, ReferenceHost::profile_from)?.profile)
        }
        (None, None) => None,
    })
}

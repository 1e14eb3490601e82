//! `kvconf check wit|component|app`: the spec checker on the command line. Prints the findings in the format
//! asked for and exits 0 when nothing is an error, 1 when something is, 2 on input it cannot check.

use crate::{CheckArgs, CheckCommand, CheckFormat};
use kvconf::check::{self, Finding, output};
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

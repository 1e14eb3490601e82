//! The out-of-process route: validating a running runtime (`spin up`, `kvhost serve`, a platform's local runtime)
//! that kvconf did not link, through HTTP.
//!
//! An adapter file says how to start the runtime for an application directory kvconf generates, and what the
//! runtime claims. For each distinct application configuration (the components' grants and the labels the runtime
//! config defines) kvconf writes a Spin application: a `spin.toml` with one HTTP component per case component and
//! interface version (`/<component>/<version>`, each an HTTP driver fixture with that component's
//! `key_value_stores`), a runtime config defining the labels, and the fixture files. It starts the runtime once
//! for that configuration, runs every case that needs it, one after another, and stops it. Each case's step is
//! one `POST` of its script to the step's route (the fresh instance a Spin runtime makes per request); the outcomes
//! come back one JSON line per operation as they happen (wit/http-driver.wit), so a trap part-way through still
//! leaves the outcomes before it. The results are judged exactly as in-process.
//!
//! Cases must not see each other's data, and the runtime is not restarted between them: before each case, kvconf
//! empties every store the configuration defines through the interface itself (a `kvconf-reset` component granted
//! every defined label lists each store's keys, deletes them, and lists again). When that fails (a previous case
//! left the host wedged), the runtime is started again on an emptied state directory and emptied once more, so
//! one case that breaks the host fails alone; when that fails too, the case fails saying so: a host whose listing
//! or delete is broken cannot be cleaned between cases.
//!
//! All of this is one executor, a [`Session`]: it keeps the runtime of each application configuration it has
//! started, executes one planned case at a time on it (the reset, the steps, a restart step stopping the runtime
//! and starting it again on the same state directory, an application that must be refused checked by the runtime
//! exiting before it serves), and gives the same `Execution` the in-process runner gives, judged by the same
//! code. [`Adapter::run`] runs the suite through one. As a [`crate::runner::Executor`] it also runs the generated
//! sequences of [`crate::fuzz::fuzz`] (`kvconf fuzz --adapter`: all of them share one application configuration,
//! so one runtime, emptied between sequences; shrinking reruns against it) and the concurrent histories of
//! [`crate::history`] (the trial `generated/concurrent-histories` of `kvconf run --adapter`): a handle does not
//! outlive the request's instance, so each operation of a history is a request of its own, the instance's `open`
//! and then the operation, the instances' requests sent from a thread each at once, each timed at the client.
//!
//! ```toml
//! name = "kvhost-serve"           # the host's name in trial names and reports
//! profile = "sip010"              # what it claims: a built-in profile, or a profile file (relative to this file)
//! # How to start it; {app} {manifest} {runtime_config} {state_dir} {port} {adapter_dir} are replaced (quoted for
//! # the shell). Run with `sh -c` in `workdir`; it must serve http://127.0.0.1:{port}/ until it is stopped.
//! command = "exec kvhost serve --listen 127.0.0.1:{port} --runtime-config-file {runtime_config} --state-dir {state_dir} {manifest}"
//! workdir = "."                   # relative to this file (default: this file's directory)
//! start-timeout = 60              # seconds until it must answer HTTP
//! request-timeout = 30            # seconds one script may take
//! stop-signal = "TERM"            # how it is asked to stop (TERM, INT, HUP or QUIT), sent to its process group
//! stop-timeout = 5                # seconds between that signal and SIGKILL
//! define-default = false          # true: "default" gets a [store] table too (else the runtime's own default)
//! [env]                           # extra environment for the command
//! RUST_LOG = "warn"
//! [store]                         # each defined label's [key_value_store.<label>] table; {label} {state_dir}
//! type = "spin"                   # {label_index} (0 for "default", then 1, 2, ... for the others) and ${NAME}
//! path = "{state_dir}/{label}.db" # (an environment variable, of kvconf's or [env]'s, required) are replaced
//! ```
//!
//! A store on a server (Redis: `type = "redis"`, `url = "${KVCONF_REDIS_URL}/{label_index}"`) gives each label a
//! database of its own through `{label_index}`, so labels stay apart as ISOLATION-LABEL asks; `adapters/spin-redis.toml`
//! is one.
//!
//! The module by job: `file` reads and checks the adapter file ([`Adapter`]); `session` runs cases and
//! sequences against the runtime, one application configuration at a time ([`Session`]); `runtime` starts one
//! runtime process, waits for it, posts scripts to it and stops it with everything it started.

use crate::case::{Case, LoadExpectation, Plan};
use crate::driver::{Fixture, complete, outcome_from_json, script_json};
use crate::history;
use crate::interface::Interface;
use crate::outcome::{Operation, Outcome};
use crate::profile::Profile;
use crate::runner::{CaseResult, Execution, Executor, judge, plan_case};
use crate::suite::Trial;
use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod file;
mod runtime;
mod session;

pub use file::*;
use runtime::*;
pub use session::*;

/// Every HTTP driver fixture this build carries: the driver of each interface version as a Spin HTTP component
/// ([`crate::interface::SPECS`]).
pub fn http_fixtures() -> impl Iterator<Item = &'static Fixture> {
    crate::interface::SPECS.iter().map(|spec| &spec.http_driver)
}

/// The HTTP driver fixture for `interface`.
pub fn http_fixture(interface: Interface) -> &'static Fixture {
    &interface.spec().http_driver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_variables_come_from_env_then_the_environment_and_unset_ones_are_named() {
        let mut env = BTreeMap::new();
        env.insert(
            "KVCONF_TEST_URL".to_string(),
            "redis://127.0.0.1:1".to_string(),
        );
        assert_eq!(
            expand_env("${KVCONF_TEST_URL}/{label_index}", &env).unwrap(),
            "redis://127.0.0.1:1/{label_index}"
        );
        assert_eq!(
            expand_env("${PATH}", &BTreeMap::new()).unwrap(),
            std::env::var("PATH").unwrap()
        );
        let unset = expand_env("x${KVCONF_SURELY_UNSET_VARIABLE}", &env).unwrap_err();
        assert!(unset.contains("KVCONF_SURELY_UNSET_VARIABLE"), "{unset}");
        assert!(expand_env("${OPEN", &env).is_err());
    }

    #[test]
    fn each_label_gets_its_index_and_default_a_table_only_when_asked() {
        let config = AppConfig {
            grants: BTreeMap::from([("main".to_string(), vec!["default".to_string()])]),
            labels: vec!["cache".to_string(), "sessions".to_string()],
        };
        let mut store = toml::Table::new();
        store.insert("type".into(), "redis".into());
        store.insert("url".into(), "redis://h/{label_index}".into());
        let profile = crate::reference::ReferenceHost::sip010_profile();
        for define_default in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let app = App::write(dir.path(), &config, &profile, &store, define_default).unwrap();
            let written: toml::Table =
                toml::from_str(&std::fs::read_to_string(&app.runtime_config).unwrap()).unwrap();
            let stores = written["key_value_store"].as_table().unwrap();
            assert_eq!(stores["cache"]["url"].as_str(), Some("redis://h/1"));
            assert_eq!(stores["sessions"]["url"].as_str(), Some("redis://h/2"));
            assert_eq!(
                stores.get("default").and_then(|d| d["url"].as_str()),
                define_default.then_some("redis://h/0")
            );
        }
    }
}

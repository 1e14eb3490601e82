//! One running runtime: the process started from the adapter file, its readiness, the scripts posted to it, and
//! its stop (with every process it started).

use super::*;

/// Stops `runtime`, if it runs, as the adapter says.
pub(super) fn stop_runtime(runtime: &mut Option<Runtime>, adapter: &Adapter) {
    if let Some(runtime) = runtime.take() {
        runtime.stop(
            &adapter.file.stop_signal,
            Duration::from_secs_f64(adapter.file.stop_timeout),
        );
    }
}

/// Why a runtime did not start.
pub(super) enum StartError {
    /// It exited before answering: how a runtime refuses an application (its output says why).
    Exited(String),
    /// It could not be started, or did not answer in time.
    Failed(String),
}

/// Why a script did not give all its outcomes.
pub(super) enum PostError {
    /// The instance ended part-way; the runtime still serves.
    Ended(String),
    /// The runtime is gone, or cannot be reached: it must be started again.
    Fatal(String),
    /// The runtime did not answer within the request timeout: it must be started again.
    TimedOut(String),
}

/// A running runtime. Its requests may be sent from several threads at once (a concurrent history's instances).
pub(super) struct Runtime {
    /// The shell running the command (locked only to ask whether it has exited).
    pub(super) child: Mutex<Child>,
    /// Its process ID, which is also its process group's.
    pub(super) pid: u32,
    pub(super) base: String,
    pub(super) agent: ureq::Agent,
    pub(super) log: PathBuf,
    /// Where this start's output begins in the log (which every start of the group appends to).
    pub(super) log_start: u64,
}

impl Runtime {
    pub(super) fn start(adapter: &Adapter, app: &App) -> Result<Runtime, StartError> {
        let port = free_port()
            .map_err(|e| StartError::Failed(format!("kvconf found no free port: {e}")))?;
        let quote = |p: &Path| shell_quote(&p.to_string_lossy());
        let command = adapter
            .file
            .command
            .replace("{app}", &quote(&app.dir))
            .replace("{manifest}", &quote(&app.manifest))
            .replace("{runtime_config}", &quote(&app.runtime_config))
            .replace("{state_dir}", &quote(&app.state_dir))
            .replace("{adapter_dir}", &quote(&adapter.dir))
            .replace("{port}", &port.to_string());
        let workdir = match &adapter.file.workdir {
            Some(w) => adapter.dir.join(w),
            None => adapter.dir.clone(),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&app.log)
            .map_err(|e| {
                StartError::Failed(format!("kvconf cannot write {}: {e}", app.log.display()))
            })?;
        let log_start = log.metadata().map_or(0, |m| m.len());
        let log_err = log.try_clone().map_err(|e| {
            StartError::Failed(format!("kvconf cannot write {}: {e}", app.log.display()))
        })?;
        let mut spawn = Command::new("sh");
        spawn
            .arg("-c")
            .arg(&command)
            .current_dir(&workdir)
            .envs(&adapter.file.env)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // Its own process group, so stopping it stops whatever the shell started.
        std::os::unix::process::CommandExt::process_group(&mut spawn, 0);
        let child = spawn.spawn().map_err(|e| {
            StartError::Failed(format!(
                "kvconf could not start `{command}` in {}: {e}",
                workdir.display()
            ))
        })?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let mut runtime = Runtime {
            pid: child.id(),
            child: Mutex::new(child),
            base: format!("http://127.0.0.1:{port}"),
            agent,
            log: app.log.clone(),
            log_start,
        };
        let deadline = Instant::now() + Duration::from_secs_f64(adapter.file.start_timeout);
        loop {
            if let Ok(Some(status)) = runtime.child_mut().try_wait() {
                return Err(StartError::Exited(format!(
                    "`{command}` exited ({status}) before serving; its output:\n{}",
                    runtime.output()
                )));
            }
            // Any answer but 503 Service Unavailable (a runtime still loading its application) means it serves.
            if runtime
                .agent
                .get(&format!("{}/", runtime.base))
                .call()
                .is_ok_and(|r| r.status() != 503)
            {
                return Ok(runtime);
            }
            if Instant::now() > deadline {
                let output = runtime.output();
                runtime.stop(&adapter.file.stop_signal, Duration::from_secs(1));
                return Err(StartError::Failed(format!(
                    "`{command}` did not answer HTTP on port {port} within {} s (start-timeout in {}); its output:\n{output}",
                    adapter.file.start_timeout,
                    adapter.path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(super) fn child_mut(&mut self) -> &mut Child {
        self.child.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the runtime has exited.
    pub(super) fn exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        matches!(child.try_wait(), Ok(Some(_)))
    }

    /// This start's output so far: whole up to 8 KiB, else its first 6 KiB (where a refusal says why) and its
    /// last 2 KiB.
    pub(super) fn output(&self) -> String {
        let all = std::fs::read(&self.log).unwrap_or_default();
        let text = all.get(self.log_start as usize..).unwrap_or_default();
        if text.len() <= 8192 {
            return String::from_utf8_lossy(text).into_owned();
        }
        format!(
            "{}\n[... {} bytes ...]\n{}",
            String::from_utf8_lossy(&text[..6144]),
            text.len() - 8192,
            String::from_utf8_lossy(&text[text.len() - 2048..])
        )
    }

    /// What is said of a runtime that must be started again: whether it has exited, and its output if so.
    pub(super) fn lost(&self, what: String) -> String {
        if self.exited() {
            format!(
                "{what}; the runtime has exited, its output:\n{}",
                self.output()
            )
        } else {
            what
        }
    }

    /// Runs `ops` at `route`, pushing each outcome into `observed` as its line arrives. Several threads may post
    /// at once. An answer that ended part-way because the runtime exited (it may take a moment to be reaped) is
    /// fatal, and says so; otherwise the instance ended part-way and the runtime still serves.
    pub(super) fn post(
        &self,
        route: &str,
        ops: &[Operation],
        observed: &Mutex<Vec<Outcome>>,
        timeout: Duration,
    ) -> Result<(), PostError> {
        match self.post_once(route, ops, observed, timeout) {
            Err(PostError::Ended(what)) => {
                let deadline = Instant::now() + Duration::from_millis(100);
                while !self.exited() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if self.exited() {
                    Err(PostError::Fatal(self.lost(what)))
                } else {
                    Err(PostError::Ended(what))
                }
            }
            other => other,
        }
    }

    pub(super) fn post_once(
        &self,
        route: &str,
        ops: &[Operation],
        observed: &Mutex<Vec<Outcome>>,
        timeout: Duration,
    ) -> Result<(), PostError> {
        let url = format!("{}{route}", self.base);
        let response = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("content-type", "application/json")
            .send(&script_json(ops)[..]);
        let response = match response {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Err(PostError::TimedOut(self.lost(format!(
                    "timed out after {:.1} s: the host did not answer",
                    timeout.as_secs_f64()
                ))));
            }
            Err(e) => {
                return Err(PostError::Fatal(
                    self.lost(format!("POST {url} failed: {e}")),
                ));
            }
        };
        let status = response.status();
        let mut body = response.into_body();
        let reader = body.as_reader();
        if status != 200 {
            let mut text = String::new();
            let _ = reader.take(4096).read_to_string(&mut text);
            return Err(PostError::Ended(format!(
                "the runtime answered {status}: {}",
                text.trim()
            )));
        }
        let mut lines = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            // One line is one outcome: no longer than the largest a value the profile allows could make.
            match (&mut lines).take(MAX_LINE).read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if line.ends_with(b"\n") => match outcome_from_json(&line) {
                    Ok(outcome) => {
                        let mut observed = observed.lock().unwrap_or_else(|e| e.into_inner());
                        if observed.len() == ops.len() {
                            return Err(PostError::Ended(format!(
                                "the runtime answered more outcomes than the script's {} operation(s) (the next: {})",
                                ops.len(),
                                outcome.render(None)
                            )));
                        }
                        observed.push(outcome);
                    }
                    Err(e) => {
                        return Err(PostError::Ended(format!(
                            "the HTTP driver answered a line that is not an outcome ({e}): {}",
                            String::from_utf8_lossy(&line)
                        )));
                    }
                },
                Ok(n) if n as u64 == MAX_LINE => {
                    return Err(PostError::Ended(format!(
                        "the runtime answered a line of more than {MAX_LINE} bytes, which no outcome needs"
                    )));
                }
                Ok(_) => {
                    return Err(PostError::Ended(
                        "the response ended in the middle of a line: the instance ended part-way"
                            .into(),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(PostError::TimedOut(self.lost(format!(
                        "timed out after {:.1} s: the host did not return",
                        timeout.as_secs_f64()
                    ))));
                }
                Err(e) => {
                    return Err(PostError::Ended(format!(
                        "the response was cut off after {} outcome(s): {e}",
                        observed.lock().unwrap_or_else(|e| e.into_inner()).len()
                    )));
                }
            }
        }
        let seen = observed.lock().unwrap_or_else(|e| e.into_inner()).len();
        if seen < ops.len() {
            return Err(PostError::Ended(format!(
                "the response ended after {seen} of {} outcome(s): the instance ended part-way",
                ops.len()
            )));
        }
        Ok(())
    }

    /// Empties every store the application defines, through the reset component: lists each store, deletes what
    /// it listed and lists again, until a listing is empty (at most [`RESET_ROUNDS`] rounds).
    pub(super) fn reset(&self, app: &App, timeout: Duration) -> Result<(), String> {
        let Some((route, _)) = &app.reset else {
            return Ok(());
        };
        // One label per script, so a host bounding its open stores at one still resets.
        for label in &app.labels {
            let open = Operation::Open {
                slot: 0,
                label: label.clone(),
            };
            let listing = [open.clone(), Operation::GetKeys { slot: 0 }];
            let keys = match &self.call(route, &listing, timeout)?[1] {
                Outcome::Keys(keys) => keys.clone(),
                other => return Err(format!("listing {label:?} gave {}", other.render(None))),
            };
            // Delete what the listing gave and list again, until a listing is empty: a few rounds, so that a
            // listing that leaves out a key of several (a fault the cases report) still gets the store emptied.
            let mut keys = keys;
            for round in 1..=RESET_ROUNDS {
                let mut clearing = vec![open.clone()];
                clearing.extend(
                    keys.into_iter()
                        .map(|key| Operation::Delete { slot: 0, key }),
                );
                clearing.push(Operation::GetKeys { slot: 0 });
                let after = self.call(route, &clearing, timeout)?;
                match after.last() {
                    Some(Outcome::Keys(left)) if left.is_empty() => break,
                    Some(Outcome::Keys(left)) if round < RESET_ROUNDS => keys = left.clone(),
                    other => {
                        return Err(format!(
                            "after deleting every key of {label:?} listed ({RESET_ROUNDS} rounds), listing it gave {}",
                            other.map_or("nothing".to_string(), |o| o.render(None))
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs a script of kvconf's own and requires every operation to succeed.
    pub(super) fn call(
        &self,
        route: &str,
        ops: &[Operation],
        timeout: Duration,
    ) -> Result<Vec<Outcome>, String> {
        let observed = Mutex::new(Vec::new());
        match self.post(route, ops, &observed, timeout) {
            Ok(()) => {}
            Err(PostError::Ended(e) | PostError::Fatal(e) | PostError::TimedOut(e)) => {
                return Err(e);
            }
        }
        let outcomes = observed.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some((op, outcome)) = ops.iter().zip(&outcomes).find(|(_, o)| {
            matches!(
                o,
                Outcome::Failed(_) | Outcome::ScriptError(_) | Outcome::Trapped(_)
            )
        }) {
            return Err(format!("{op} gave {}", outcome.render(None)));
        }
        Ok(outcomes)
    }

    /// Sends `signal` to the runtime's process group: the shell and whatever it started.
    pub(super) fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), "--", &format!("-{}", self.pid)])
            .stderr(Stdio::null())
            .status();
    }

    /// Stops the runtime: `signal` to its process group, then waits up to `grace` for the shell to exit; dropping
    /// it kills what is left.
    pub(super) fn stop(mut self, signal: &str, grace: Duration) {
        self.signal_group(signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && matches!(self.child_mut().try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Runtime {
    /// Kills whatever of the process group is still running (nothing it started may linger) and reaps the shell.
    fn drop(&mut self) {
        self.signal_group("KILL");
        let _ = self.child_mut().wait();
    }
}

/// `text` with each `${NAME}` replaced by the variable `NAME` of `env` (the adapter file's `[env]`) or else of
/// kvconf's environment; a variable set in neither is refused, naming it.
pub(super) fn expand_env(text: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("{text:?} has a `${{` without its `}}`"));
        };
        let name = &after[..end];
        let value = env
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .ok_or_else(|| {
                format!(
                    "uses ${{{name}}}, which is not set: set it in the environment (or in the file's [env]) \
                     before running kvconf"
                )
            })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The longest line of an HTTP driver's answer kvconf reads: an outcome holding a value of 16 MiB in JSON (at most
/// a three-digit number and a comma per byte) is shorter, and the largest value a case writes is 4 MiB.
pub(super) const MAX_LINE: u64 = 64 << 20;

/// A port nobody listens on now.
pub(super) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `text` as one shell word.
pub(super) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

//! The server itself: an application loaded, its address bound, its requests served (the default feature
//! `serve`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::handler::ProxyHandler;
use wasmtime_wasi_http::io::TokioIo;

use super::host::{self, ComponentHandler, EpochTicker, Fate, HttpWorld, InstanceSetup, Stores};
use super::{ManagerContext, Manifest, RouteMatch, Router, ServeOptions, files, source};
use crate::{Application, LoadError, UndefinedLabels};

/// A loaded application listening on its address, not yet serving.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: Arc<LoadedApp>,
}

/// What serving needs, shared by every connection.
struct LoadedApp {
    manifest: Manifest,
    router: Router,
    handlers: HashMap<String, ProxyHandler<ComponentHandler>>,
    /// Where instances run: a runtime of their own, apart from the connections' (see [`InstanceRuntime`]).
    instances: InstanceRuntime,
    local_addr: SocketAddr,
    next_request: AtomicU64,
    _ticker: EpochTicker,
    /// The components' copied `files`, removed when the server is dropped.
    _files: Option<files::FilesRoot>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("app", &self.app.manifest.name)
            .field("router", &self.app.router)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads the application (manifest, stores, components: every error is reported here, before anything is
    /// served) and binds its address. Call it within a tokio runtime with I/O and time enabled; the
    /// connections are served on that runtime and the instances on one the server starts for them.
    ///
    /// # Errors
    ///
    /// When the manifest is refused, the application's stores cannot be loaded (an undefined label, a database
    /// that cannot be opened: the [`LoadError`] is in the chain), a component cannot be loaded or is not an HTTP
    /// component, or the address cannot be bound.
    pub async fn bind(options: ServeOptions) -> Result<Server> {
        let manifest = Manifest::from_file(&options.manifest)?;
        let router = Router::new(
            &manifest.base,
            manifest
                .routes
                .iter()
                .map(|route| (route.route.as_str(), route.component.as_str())),
        )
        .with_context(|| format!("in the application manifest {}", manifest.path.display()))?;
        let stores = Arc::new(load_stores(&manifest, &options)?);
        set_initial_key_values(&stores, &options.initial_key_values)?;

        // As Spin loads every component, a component no route leads to must have its source too.
        for (id, spec) in &manifest.components {
            if !spec.source.exists() {
                source::read(id, &spec.source)?;
            }
        }
        let files_root = if manifest
            .components
            .values()
            .any(|spec| !spec.files.is_empty())
        {
            Some(files::FilesRoot::new()?)
        } else {
            None
        };
        let engine = host::engine()?;
        let linker = host::linker(&engine)?;
        let mut handlers = HashMap::new();
        for route in &manifest.routes {
            if handlers.contains_key(&route.component) {
                continue;
            }
            let id = &route.component;
            let spec = &manifest.components[id];
            let files = match &files_root {
                Some(root) if !spec.files.is_empty() => {
                    let dir = root.component(id);
                    files::copy_files(id, &manifest.dir, &spec.files, &spec.exclude_files, &dir)
                        .with_context(|| {
                            format!("in the application manifest {}", manifest.path.display())
                        })?;
                    Some((dir, options.allow_transient_write))
                }
                _ => None,
            };
            let environment = spec
                .environment
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .chain(options.environment.iter().cloned())
                .collect();
            let setup = InstanceSetup {
                environment,
                files,
                limits: options.instance_limits,
            };
            let handler =
                ComponentHandler::new(id, &spec.source, setup, &linker, Arc::clone(&stores))?;
            handlers.insert(id.clone(), ProxyHandler::new(handler));
        }

        let listener = TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("could not listen on {}", options.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            listener,
            local_addr,
            app: Arc::new(LoadedApp {
                manifest,
                router,
                handlers,
                instances: InstanceRuntime::new()?,
                local_addr,
                next_request: AtomicU64::new(0),
                _ticker: EpochTicker::start(&engine),
                _files: files_root,
            }),
        })
    }

    /// The address the server listens on, with the port the system chose if the options gave port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The application's name (`[application] name`).
    pub fn app_name(&self) -> &str {
        &self.app.manifest.name
    }

    /// The application's routes: each route (with the base) and the component serving it, in manifest order.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.app.router.routes()
    }

    /// The wasi:http world of the component `id`, or `None` if no route leads to it.
    pub fn world(&self, component: &str) -> Option<HttpWorld> {
        self.app
            .handlers
            .get(component)
            .map(|handler| handler.state().world)
    }

    /// Serves until SIGINT or SIGTERM (Ctrl-C elsewhere), then stops as [`Server::serve_until`] does.
    ///
    /// # Errors
    ///
    /// When the signal handlers cannot be installed.
    pub async fn serve(self) -> Result<()> {
        let signal = shutdown_signal()?;
        self.serve_until(signal).await
    }

    /// Serves until `shutdown` completes; then it accepts no more connections, lets the requests in flight
    /// finish (for up to five seconds), stops the instances still running, closes the stores, and returns.
    ///
    /// # Errors
    ///
    /// None today; accepting a connection that fails is reported on stderr and serving goes on.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        let mut shutdown = pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        eprintln!("kvhost: could not accept a connection: {error}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            while connections.try_join_next().is_some() {}
            // Small body pieces go out at once rather than waiting for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            let app = Arc::clone(&self.app);
            let mut stopped = stopped.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let app = Arc::clone(&app);
                    async move { Ok::<_, Infallible>(app.handle(request, peer).await) }
                });
                let connection = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let mut connection = pin!(connection);
                let result = tokio::select! {
                    result = connection.as_mut() => result,
                    _ = stopped.changed() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                // A body cut off by a failing component is reported where the failure is.
                if let Err(error) = result
                    && !error.is_incomplete_message()
                    && !error.is_user()
                {
                    eprintln!("kvhost: connection from {peer}: {error}");
                }
            });
        }
        drop(self.listener);
        let _ = stop.send(true);
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            eprintln!("kvhost: requests still in flight after 5 s; stopping them");
            connections.shutdown().await;
        }
        // Every connection has ended, so this is the last reference: stop the instances still running and close
        // the stores now rather than whenever the background threads get to it.
        if let Some(app) = Arc::into_inner(self.app) {
            app.close().await;
        }
        Ok(())
    }
}

/// Loads the application's stores: kvhost's backends as the host config says, or the caller's manager.
fn load_stores(manifest: &Manifest, options: &ServeOptions) -> Result<Stores> {
    let grants = manifest.grants();
    let config = &options.host_config;
    let Some(factory) = &options.store_manager else {
        let app = Application::load(config.clone(), grants)
            .with_context(|| format!("could not load the application {:?}", manifest.name))?;
        return Ok(Stores::Application(app));
    };
    let manager = factory(&ManagerContext {
        manifest,
        grants: &grants,
        host_config: config,
    })
    .with_context(|| {
        format!(
            "could not make the store manager of the application {:?}",
            manifest.name
        )
    })?;
    if config.undefined_labels == UndefinedLabels::RefuseLoad {
        for (component, labels) in &grants {
            if let Some(label) = labels.iter().find(|label| !manager.is_defined(label)) {
                return Err(anyhow::Error::new(LoadError::UnknownLabel {
                    label: label.clone(),
                    component: component.clone(),
                }))
                .with_context(|| format!("could not load the application {:?}", manifest.name));
            }
        }
    }
    Ok(Stores::Custom {
        manager,
        grants,
        max_open_stores: config.max_open_stores,
        wasi_page_size: config.wasi_page_size,
        v1_invalid_handle: config.v1_invalid_handle,
        reuse_handles: config.reuse_handles,
    })
}

/// Sets `--key-value` pairs in the store "default", as Spin does before it serves.
fn set_initial_key_values(stores: &Stores, pairs: &[(String, String)]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let store = stores.store(crate::app::DEFAULT_LABEL).with_context(|| {
        "could not open the store \"default\" to set the --key-value pairs in it; kvhost opens only the stores \
         a component is granted: add \"default\" to a component's key_value_stores, or drop --key-value"
    })?;
    for (key, value) in pairs {
        store.set(key, value.as_bytes()).with_context(|| {
            format!("could not set the key {key:?} of --key-value in the store \"default\"")
        })?;
    }
    Ok(())
}

impl LoadedApp {
    /// Stops the instances (waiting up to two seconds for those in a host call) and drops the stores, which
    /// closes their databases.
    async fn close(mut self) {
        self.handlers.clear();
        if let Some(runtime) = self.instances.runtime.take() {
            let _ = tokio::task::spawn_blocking(move || {
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .await;
        }
    }

    /// Answers one request: routes it, and hands it to a fresh instance of its component.
    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> Response<WasiBody> {
        let path = request.uri().path().to_owned();
        let Some(route) = self.router.route(&path) else {
            return text(
                StatusCode::NOT_FOUND,
                format!("kvhost: no route of this application matches {path}\n"),
            );
        };
        let Some(handler) = self.handlers.get(&route.component) else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("kvhost: no component {:?} is loaded\n", route.component),
            );
        };
        let (mut parts, body) = request.into_parts();
        if let Err(refusal) = self.spin_request(&mut parts, &route, peer) {
            return *refusal;
        }
        let method = parts.method.clone();
        let request = hyper::Request::from_parts(
            parts,
            body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync(),
        );
        let number = self.next_request.fetch_add(1, Ordering::Relaxed);
        let fate = Arc::new(Fate::default());
        // Until the response is complete, dropping this (hyper drops the request's future when the client goes
        // away, and the body when it is cut off) stops the instance.
        let mut watch = Watch {
            fate: Arc::clone(&fate),
            done: false,
        };
        let handler = handler.clone();
        let answer = self
            .instances
            .spawn(async move { handler.handle(fate, request).await })
            .await
            .unwrap_or_else(|join_error| {
                Err(wasmtime::format_err!(
                    "the task serving the request ended: {join_error}"
                ))
            });
        match answer {
            Ok(response) => response.map(|body| {
                WatchedBody {
                    body,
                    watch,
                    failing: false,
                }
                .boxed_unsync()
            }),
            Err(error) => {
                watch.done = true;
                failed(
                    number,
                    &method,
                    &path,
                    &route.component,
                    &watch.fate,
                    &error,
                )
            }
        }
    }

    /// The request as Spin gives it to a component: its URI made absolute (from the `host` header, or the
    /// server's address), a `host` header, and Spin's `spin-*` headers for `route`. Refused (a 400) when the host
    /// does not make a valid URL.
    fn spin_request(
        &self,
        parts: &mut http::request::Parts,
        route: &RouteMatch,
        peer: SocketAddr,
    ) -> Result<(), Box<Response<WasiBody>>> {
        let host = parts
            .headers
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .map_or_else(|| self.local_addr.to_string(), str::to_owned);
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |path_and_query| path_and_query.as_str());
        let full_url = format!("http://{host}{path_and_query}");
        match full_url.parse::<Uri>() {
            Ok(uri) => parts.uri = uri,
            Err(_) => {
                return Err(Box::new(text(
                    StatusCode::BAD_REQUEST,
                    format!("kvhost: the request's host {host:?} does not make a valid URL\n"),
                )));
            }
        }
        if !parts.headers.contains_key(HOST)
            && let Ok(value) = HeaderValue::from_str(&host)
        {
            parts.headers.insert(HOST, value);
        }
        let spin_headers = [
            ("spin-full-url", full_url.clone()),
            ("spin-path-info", route.path_info.clone()),
            ("spin-matched-route", route.matched_route.clone()),
            ("spin-raw-component-route", route.raw_route.clone()),
            ("spin-component-route", route.component_route.clone()),
            ("spin-base-path", self.router.base().to_owned()),
            ("spin-client-addr", peer.to_string()),
        ];
        let named = route
            .named
            .iter()
            .map(|(name, value)| (format!("spin-path-match-{name}"), value.clone()));
        for (name, value) in spin_headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .chain(named)
        {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                parts.headers.insert(name, value);
            }
        }
        Ok(())
    }
}

/// The answer to request `number` whose component failed (`error`) before it answered: a 504 when it ran past
/// its deadline, else a 500; the server's stderr says which and why.
fn failed(
    number: u64,
    method: &http::Method,
    path: &str,
    component: &str,
    fate: &Fate,
    error: &wasmtime::Error,
) -> Response<WasiBody> {
    if let Some(timeout) = fate.timed_out() {
        eprintln!(
            "kvhost: request {number} ({method} {path}) to the component {:?} ran past the deadline of \
             {} s and was stopped",
            component,
            timeout.as_secs_f64()
        );
        return text(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "kvhost: the component {:?} did not answer within the request deadline of {} s \
                 (kvhost serve --request-timeout)\n",
                component,
                timeout.as_secs_f64()
            ),
        );
    }
    eprintln!(
        "kvhost: request {number} ({method} {path}) to the component {:?} failed: {error:#}",
        component
    );
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "kvhost: the component {:?} failed before it answered; the server's stderr says why\n",
            component
        ),
    )
}

/// The runtime the instances run on, apart from the one serving the connections.
///
/// A key-value call is a synchronous host call, and one that takes long (a slow or stuck backend) holds its
/// worker thread. On one runtime that would also hold the connection task the instance had just woken to send a
/// line of body: tokio runs a task woken from a worker next on that same worker (its LIFO slot, which no other
/// worker steals), so the lines written before the slow call would wait for it. Woken from another runtime, the
/// connection task is queued where any of its own workers takes it, and each line leaves as it is written.
struct InstanceRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl InstanceRuntime {
    fn new() -> Result<InstanceRuntime> {
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("kvhost-instance")
            .enable_all()
            .build()
            .context("could not start the instances' tokio runtime")?;
        Ok(InstanceRuntime {
            runtime: Some(runtime),
        })
    }

    fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime
            .as_ref()
            .expect("the runtime is taken only when dropped")
            .spawn(future)
    }
}

impl Drop for InstanceRuntime {
    fn drop(&mut self) {
        // Dropped from async code (the last connection's task), where waiting is not allowed: instances still
        // running are dropped in the background, and their stores close with them.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The server's side of one request: abandons it (stopping its instance) if dropped before the response is
/// complete.
struct Watch {
    fate: Arc<Fate>,
    done: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.done {
            self.fate.abandon();
        }
    }
}

/// A component's response body, ended with an error rather than cleanly when the instance writing it failed:
/// hyper then closes the connection without the body's final chunk, so the client sees a body cut off where the
/// failure happened and not a complete-looking one.
struct WatchedBody {
    body: WasiBody,
    watch: Watch,
    /// The instance failed and the body has ended: the error is given at the next poll, after hyper has sent
    /// what it holds (it discards its unsent buffer when a body fails).
    failing: bool,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        if self.failing {
            return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                "the component failed while writing the response body".into(),
            )))));
        }
        match std::pin::Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(None) if self.watch.fate.failed() => {
                self.failing = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(None) => {
                self.watch.done = true;
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        // Only the body's end, polled, says whether it ended well.
        false
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

fn text(status: StatusCode, body: String) -> Response<WasiBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A future that completes at the first SIGINT or SIGTERM (on other systems, Ctrl-C).
///
/// # Errors
///
/// When the signal handlers cannot be installed (outside a tokio runtime, for one).
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("could not install a SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("could not install a SIGTERM handler")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Serves the application as `kvhost serve` does, on a runtime of its own: loads it, binds, prints
/// `kvhost: serving <app name> on http://<address>` on stdout (flushed, with the real port when the options gave
/// port 0; the routes follow on stderr), serves until SIGINT or SIGTERM, and returns once the requests in flight
/// have finished and the stores are closed.
///
/// # Errors
///
/// Everything [`Server::bind`] reports, and a runtime or signal handler that cannot be set up.
pub fn run(options: ServeOptions) -> Result<()> {
    // The connections' runtime; instances run on one of their own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let result = runtime.block_on(async {
        let signal = shutdown_signal()?;
        let server = Server::bind(options).await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "kvhost: serving {} on http://{}",
            server.app_name(),
            server.local_addr()
        )?;
        stdout.flush()?;
        drop(stdout);
        for (route, component) in server.routes() {
            eprintln!(
                "kvhost:   http://{}{route} -> {component}",
                server.local_addr()
            );
        }
        server.serve_until(signal).await
    });
    // Instances still running (a guest that never answers) are dropped with the runtime's tasks; their stores and
    // the application's databases close with them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

//! One served component: its wasmtime store data, the linker every component shares, and the
//! [`wasmtime_wasi_http::handler`] state that gives each request a fresh instance.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use wasmtime::component::{Component, GuestTaskId, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreContextMut};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::{
    self, HandlerState, ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::InstanceLimits;
use crate::{Application, KeyValueState, StoreManager};

/// The data of one instance's wasmtime store: WASI (p2 and p3 share it), wasi:http, and the key-value state.
pub(crate) struct InstanceData {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: NoOutboundHttp,
    key_value: KeyValueState,
    memory: MemoryLimit,
}

/// The per-instance memory limit ([`InstanceLimits::max_memory`]): every linear memory of the instance counted
/// together, so that a component of several core modules gets no more than one of one module.
struct MemoryLimit {
    max: Option<usize>,
    /// The bytes the instance's memories have now.
    used: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let used = self.used - current.min(self.used) + desired;
        if let Some(max) = self.max
            && used > max
        {
            // An error rather than `false`: a refused `memory.grow` would let the guest fail in its own words
            // (most abort with an unreachable trap), where this names the limit.
            return Err(wasmtime::format_err!(
                "the instance asked for {used} bytes of linear memory, past this server's limit of {max} bytes \
                 per instance (kvhost serve --max-instance-memory)"
            ));
        }
        self.used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

impl WasiView for InstanceData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// kvhost serves components but sends no HTTP for them: an outgoing request fails with `HTTP-request-denied`.
struct NoOutboundHttp;

impl WasiHttpHooks for NoOutboundHttp {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// The engine: component-model async (v3 and wasi:http p3 need it) and epoch interruption, so that a guest
/// computing without end yields to the other requests' tasks every tick instead of holding a thread.
pub(crate) fn engine() -> Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model_async(true);
    config.epoch_interruption(true);
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("could not create the wasmtime engine")
}

/// How often the epoch advances: the longest a guest computes before other tasks get the thread.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("kvhost-epoch".into())
            .spawn({
                let stop = Arc::clone(&stop);
                let engine = engine.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })
            .ok();
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The linker every served component is instantiated with: WASI p2 and p3, wasi:http p2 and p3, and every
/// version of the key-value interface.
pub(crate) fn linker(engine: &Engine) -> Result<Linker<InstanceData>> {
    let mut linker = Linker::new(engine);
    let link = |result: wasmtime::Result<()>, what: &str| {
        result
            .map_err(anyhow::Error::from)
            .with_context(|| format!("could not link {what}"))
    };
    link(
        wasmtime_wasi::p2::add_to_linker_async(&mut linker),
        "WASI p2",
    )?;
    link(
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker),
        "wasi:http p2",
    )?;
    link(wasmtime_wasi::p3::add_to_linker(&mut linker), "WASI p3")?;
    link(
        wasmtime_wasi_http::p3::add_to_linker(&mut linker),
        "wasi:http p3",
    )?;
    fn key_value(data: &mut InstanceData) -> &mut KeyValueState {
        &mut data.key_value
    }
    link(
        crate::add_to_linker_all(&mut linker, key_value),
        "the key-value interfaces",
    )?;
    Ok(linker)
}

/// Which wasi:http world a component serves, from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpWorld {
    /// It exports `wasi:http/incoming-handler@0.2.x`.
    P2,
    /// It exports `wasi:http/handler@0.3.x`.
    P3,
}

impl HttpWorld {
    /// The export this world is served through.
    pub fn export(self) -> &'static str {
        match self {
            HttpWorld::P2 => "wasi:http/incoming-handler@0.2",
            HttpWorld::P3 => "wasi:http/handler@0.3",
        }
    }
}

/// Where instances get their key-value state: an [`Application`] of kvhost's backends, or a caller's manager.
pub(crate) enum Stores {
    Application(Application),
    Custom {
        manager: Arc<dyn StoreManager>,
        grants: BTreeMap<String, Vec<String>>,
        max_open_stores: Option<u32>,
        wasi_page_size: NonZeroUsize,
        v1_invalid_handle: crate::v1::V1InvalidHandle,
        reuse_handles: bool,
    },
}

impl Stores {
    /// The store serving `label`, for the host's own use (no grant is checked).
    pub(crate) fn store(&self, label: &str) -> Result<Arc<dyn crate::Store>> {
        match self {
            Stores::Application(app) => Ok(app.store(label)?),
            Stores::Custom { manager, .. } => Ok(manager.get(label)?),
        }
    }

    pub(crate) fn instance_state(&self, component: &str) -> Result<KeyValueState> {
        match self {
            Stores::Application(app) => Ok(app.instance_state(component)?),
            Stores::Custom {
                manager,
                grants,
                max_open_stores,
                wasi_page_size,
                v1_invalid_handle,
                reuse_handles,
            } => {
                let granted = grants
                    .get(component)
                    .with_context(|| format!("the application has no component {component:?}"))?;
                Ok(
                    KeyValueState::new(Arc::clone(manager), granted.clone(), *max_open_stores)
                        .with_wasi_page_size(*wasi_page_size)
                        .with_v1_invalid_handle(*v1_invalid_handle)
                        .with_handle_reuse(*reuse_handles),
                )
            }
        }
    }
}

/// What each instance of a component gets besides its key-value state.
pub(crate) struct InstanceSetup {
    /// Its WASI environment variables.
    pub(crate) environment: Vec<(String, String)>,
    /// The directory it sees as `/` (its copied `files`), if it has files, and whether it may write there.
    pub(crate) files: Option<(std::path::PathBuf, bool)>,
    /// How long its request may take and how much memory it may have.
    pub(crate) limits: InstanceLimits,
}

/// One component, ready to serve: its pre-instance (built once), and what each instance gets.
pub(crate) struct ComponentHandler {
    pub(crate) id: String,
    pub(crate) world: HttpWorld,
    pre: handler::ProxyPre<InstanceData>,
    engine: Engine,
    stores: Arc<Stores>,
    setup: InstanceSetup,
}

impl ComponentHandler {
    /// Loads the component at `source` (componentizing a core module, as Spin does) and pre-instantiates it with
    /// `linker`.
    pub(crate) fn new(
        id: &str,
        source: &std::path::Path,
        setup: InstanceSetup,
        linker: &Linker<InstanceData>,
        stores: Arc<Stores>,
    ) -> Result<ComponentHandler> {
        let engine = linker.engine();
        let bytes = super::source::read(id, source)?;
        let bytes = super::source::componentize_if_necessary(id, source, &bytes)?;
        let component = Component::new(engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "could not compile the component {id:?} from {}; is it a WebAssembly component?",
                    source.display()
                )
            })?;
        let world = http_world(id, &component, engine)?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "could not link the component {id:?}; kvhost serve provides WASI p2 and p3, wasi:http and the \
                     key-value interfaces (fermyon:spin/key-value, fermyon:spin/key-value@2.0.0, \
                     spin:key-value/key-value@3.0.0, wasi:keyvalue@0.2.0-draft2 and @0.2.0-draft), and no other Spin interface"
                )
            })?;
        let pre = match world {
            HttpWorld::P2 => wasmtime_wasi_http::p2::bindings::ProxyPre::new(instance_pre)
                .map(handler::ProxyPre::P2),
            HttpWorld::P3 => wasmtime_wasi_http::p3::bindings::ServicePre::new(instance_pre)
                .map(handler::ProxyPre::P3),
        }
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!(
                "the component {id:?} does not export {} as wasi:http defines it",
                world.export()
            )
        })?;
        Ok(ComponentHandler {
            id: id.to_owned(),
            world,
            pre,
            engine: engine.clone(),
            stores,
            setup,
        })
    }

    fn store(&self, engine: &Engine) -> Result<Store<InstanceData>> {
        let key_value = self.stores.instance_state(&self.id)?;
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout()
            .inherit_stderr()
            .envs(&self.setup.environment);
        if let Some((dir, writable)) = &self.setup.files {
            // As Spin mounts a component's files: its directory at `/`, read-only unless transient writes are
            // allowed.
            let perms = if *writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(dir, "/", perms)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "could not give the component {:?} its files ({})",
                        self.id,
                        dir.display()
                    )
                })?;
        }
        let wasi = wasi.build();
        let mut store = Store::new(
            engine,
            InstanceData {
                wasi,
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                hooks: NoOutboundHttp,
                key_value,
                memory: MemoryLimit {
                    max: self.setup.limits.max_memory,
                    used: 0,
                },
            },
        );
        store.limiter(|data| &mut data.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        Ok(store)
    }
}

/// The component's wasi:http world, from its exports.
fn http_world(id: &str, component: &Component, engine: &Engine) -> Result<HttpWorld> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    if exports
        .iter()
        .any(|name| name.starts_with("wasi:http/handler@0.3"))
    {
        return Ok(HttpWorld::P3);
    }
    if exports
        .iter()
        .any(|name| name.starts_with("wasi:http/incoming-handler@0.2"))
    {
        return Ok(HttpWorld::P2);
    }
    bail!(
        "the component {id:?} is not an HTTP component: it exports {exports:?}, and kvhost serve needs \
         wasi:http/incoming-handler@0.2.x (a Spin or wasmtime-serve HTTP component) or wasi:http/handler@0.3.x"
    )
}

impl HandlerState for ComponentHandler {
    type StoreData = InstanceData;
    type WorkerExpiration = Abandoned;
    type WorkerState = OneRequest;

    async fn instantiate(
        &self,
    ) -> wasmtime::Result<handler::Instance<InstanceData, Abandoned, OneRequest>> {
        let mut store = self
            .store(&self.engine)
            .map_err(wasmtime::Error::from_anyhow)?;
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let fate = Arc::new(Mutex::new(None));
        let timeout = self.setup.limits.request_timeout;
        Ok(handler::Instance {
            store,
            proxy,
            view: <InstanceData as WasiHttpView>::http,
            expiration: Abandoned {
                fate: Arc::clone(&fate),
                timeout,
                timer: None,
            },
            state: OneRequest {
                component: self.id.clone(),
                fate,
                timeout,
            },
        })
    }
}

/// What became of one request: shared by the server's side of it (the response it sends) and the instance
/// serving it.
#[derive(Default)]
pub(crate) struct Fate {
    /// The instance ended in an error (a trap) before it was dropped.
    failed: AtomicBool,
    /// The client no longer wants the response: it went away, or the response was cut off.
    abandoned: AtomicBool,
    /// The instance's expiration, waiting to hear of abandonment.
    waker: Mutex<Option<Waker>>,
    /// The request ran past this deadline and its instance was stopped.
    timed_out: Mutex<Option<Duration>>,
}

impl Fate {
    /// Whether the instance serving the request failed. Set before the instance's store is dropped, so a
    /// response body that ends because the store was dropped sees it.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// The deadline the request ran past, if it did.
    pub(crate) fn timed_out(&self) -> Option<Duration> {
        *self
            .timed_out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn time_out(&self, timeout: Duration) {
        *self
            .timed_out
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(timeout);
    }

    /// Says the response is no longer wanted: the instance serving it is stopped.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        if let Some(waker) = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            waker.wake();
        }
    }
}

/// The request an instance serves, once it has one.
type FateSlot = Arc<Mutex<Option<Arc<Fate>>>>;

fn fate_of(slot: &FateSlot) -> Option<Arc<Fate>> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A worker expires when its request is abandoned (the client went away: an instance nobody waits for any more is
/// stopped rather than left computing) or runs past the request deadline ([`InstanceLimits::request_timeout`]).
///
/// The deadline is also the future [`OneRequest::on_request_start`] returns, which wasmtime-wasi-http polls only
/// while the instance's event loop runs; this, polled from outside it, holds even while a guest computes or a host
/// call blocks (see [`handler::WorkerState::on_request_start`]).
pub(crate) struct Abandoned {
    fate: FateSlot,
    timeout: Option<Duration>,
    /// When the deadline falls, once the request has started.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WorkerExpiration for Abandoned {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        let Some(fate) = fate_of(&this.fate) else {
            return Poll::Pending;
        };
        *fate.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        if fate.abandoned.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        // The one request's start (the instance never takes another), kept from when it was first seen.
        if let (Some(timeout), WorkerStatus::Requests | WorkerStatus::PostReturn) =
            (this.timeout, status)
        {
            let timer = this.timer.get_or_insert_with(|| {
                Box::pin(tokio::time::sleep_until((start + timeout).into()))
            });
            if timer.as_mut().poll(cx).is_ready() {
                fate.time_out(timeout);
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

/// Each instance serves exactly one request, as in Spin: every request sees a fresh instance, and a trap ends
/// only the request it happened in.
pub(crate) struct OneRequest {
    component: String,
    fate: FateSlot,
    timeout: Option<Duration>,
}

impl WorkerState for OneRequest {
    type StoreData = InstanceData;
    type RequestData = Arc<Fate>;

    fn should_accept_request(&self, _concurrent: usize, total: usize) -> ShouldAccept {
        if total == 0 {
            ShouldAccept::Yes
        } else {
            ShouldAccept::Never
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, InstanceData>,
        fate: Arc<Fate>,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        *self.fate.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&fate));
        match self.timeout {
            Some(timeout) => Box::pin(async move {
                tokio::time::sleep(timeout).await;
                fate.time_out(timeout);
            }),
            None => Box::pin(std::future::pending()),
        }
    }

    fn drop(&self, store: Store<InstanceData>, result: wasmtime::Result<()>) {
        let fate = fate_of(&self.fate);
        if let Err(error) = result {
            if let Some(fate) = &fate {
                fate.failed.store(true, Ordering::SeqCst);
            }
            if let Some(timeout) = fate.as_ref().and_then(|fate| fate.timed_out()) {
                eprintln!(
                    "kvhost: stopped an instance of the component {:?}: its request ran past the deadline of {} s \
                     (kvhost serve --request-timeout)",
                    self.component,
                    timeout.as_secs_f64()
                );
            } else if fate.is_some_and(|fate| fate.abandoned.load(Ordering::SeqCst)) {
                eprintln!(
                    "kvhost: stopped an instance of the component {:?}: its client went away",
                    self.component
                );
            } else {
                eprintln!(
                    "kvhost: an instance of the component {:?} failed: {error:#}",
                    self.component
                );
            }
        }
        // Dropping the store ends the response body of a failed instance; the failure is recorded first.
        drop(store);
    }
}

//! The dispatcher: one instance's grants and open store handles, with the operations every interface version
//! shares.
//!
//! Each interface version (`crate::v1`, `crate::v2`, `crate::v3`, `crate::wasi_keyvalue`,
//! `crate::wasi_keyvalue_draft`) is a thin layer that turns
//! its own calling convention into these operations: v2, v3 and wasi wrap a handle number in a `Resource`, v1 hands
//! the number to the guest as it is. All of them share one table, so the grants, the open bound and the handle
//! numbers are the same whichever version a guest uses (as in Spin, where one state serves every version), and
//! keeping the checks here means every version applies them in the same order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::sync::Arc;

use crate::backend::{Error, Store, StoreManager};

/// What kvhost does with a v1 handle that is not open ([HANDLE-V1-INVALID]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum V1InvalidHandle {
    /// Return `invalid-store` (the v1 interface text).
    #[default]
    Error,
    /// Trap (what Spin does).
    Trap,
}

/// Per-instance key-value state: which labels the component was granted, the manager that resolves them, and the
/// store handles the instance has open.
///
/// Make one per component instance (with [`crate::app::Application::instance_state`], or [`KeyValueState::new`]
/// for a manager of your own), keep it in the wasmtime store's data, and give each version's `add_to_linker` (or
/// [`crate::add_to_linker_all`]) a function that finds it. The wasi:keyvalue `cas` resources the instance holds are
/// kept here too.
pub struct KeyValueState {
    grants: Arc<BTreeSet<String>>,
    manager: Arc<dyn StoreManager>,
    handles: HashMap<u32, OpenStore>,
    next_handle: u32,
    reuse_handles: bool,
    max_open_stores: Option<u32>,
    swaps: HashMap<u32, PendingSwap>,
    next_swap: u32,
    draft_cursors: BTreeMap<u64, DraftCursor>,
    next_draft_cursor: u64,
    wasi_page_size: NonZeroUsize,
    v1_invalid_handle: V1InvalidHandle,
}

/// One open handle: the store it reaches and the label it was opened with.
struct OpenStore {
    label: String,
    store: Arc<dyn Store>,
}

/// What a wasi:keyvalue `cas` resource stands for: a key of a store, and its value when the `cas` was made (or
/// last refreshed after a failed swap). It holds the store itself, so it stays usable after its bucket is dropped.
pub struct PendingSwap {
    /// The store the `cas` was made on.
    pub store: Arc<dyn Store>,
    /// The key it swaps.
    pub key: String,
    /// The value `swap` expects the key to hold (`None`: absent), as `current` reports it.
    pub current: Option<Vec<u8>>,
}

/// Where a `wasi:keyvalue@0.2.0-draft` `list-keys` cursor continues: after `last_key` of the store with `label`.
/// The draft's cursor is a `u64`, too small to carry a key, so the instance keeps what each cursor stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DraftCursor {
    pub(crate) label: String,
    pub(crate) last_key: String,
}

/// How many draft cursors one instance keeps; past this the oldest is forgotten (and then refused as unknown).
/// A guest following cursors needs only the latest, so this bounds the memory a guest can make the host hold
/// while leaving room to go back a thousand pages.
pub(crate) const MAX_DRAFT_CURSORS: usize = 1024;

/// The default number of keys in a page of wasi:keyvalue `list-keys` ([`KeyValueState::wasi_page_size`]).
pub const DEFAULT_WASI_PAGE_SIZE: NonZeroUsize = NonZeroUsize::new(100).unwrap();

impl KeyValueState {
    /// State for an instance granted `grants`, resolving labels through `manager`, with at most `max_open_stores`
    /// handles open at once (`None`: no bound).
    pub fn new(
        manager: Arc<dyn StoreManager>,
        grants: impl IntoIterator<Item = String>,
        max_open_stores: Option<u32>,
    ) -> Self {
        Self::with_shared_grants(
            manager,
            Arc::new(grants.into_iter().collect()),
            max_open_stores,
        )
    }

    pub(crate) fn with_shared_grants(
        manager: Arc<dyn StoreManager>,
        grants: Arc<BTreeSet<String>>,
        max_open_stores: Option<u32>,
    ) -> Self {
        Self {
            grants,
            manager,
            handles: HashMap::new(),
            // Handle numbers start at 1 and, unless configured otherwise, are never reused ([HANDLE-REUSE], as
            // Spin does), so a stale or zero-initialised handle never reaches another store.
            next_handle: 1,
            reuse_handles: false,
            max_open_stores,
            swaps: HashMap::new(),
            next_swap: 1,
            draft_cursors: BTreeMap::new(),
            // 0 is never issued, so a guest that starts from a zero it made up is told so.
            next_draft_cursor: 1,
            wasi_page_size: DEFAULT_WASI_PAGE_SIZE,
            v1_invalid_handle: V1InvalidHandle::Error,
        }
    }

    /// This state answering a v1 handle that is not open as `answer` says ([HANDLE-V1-INVALID]; the default is
    /// `invalid-store`).
    pub fn with_v1_invalid_handle(mut self, answer: V1InvalidHandle) -> Self {
        self.v1_invalid_handle = answer;
        self
    }

    /// This state giving each `open` the lowest handle number not open, so a closed number comes back, as a host
    /// may: Spin is observed never to reuse one ([HANDLE-REUSE]), but nothing requires it. By default numbers are
    /// never reused. A v1 guest holding a closed number then reaches whichever store reuses it; v2, v3 and wasi
    /// resources are numbered from the same table, which their guests never see.
    pub fn with_handle_reuse(mut self, reuse: bool) -> Self {
        self.reuse_handles = reuse;
        self
    }

    /// How this state answers a v1 handle that is not open.
    pub fn v1_invalid_handle(&self) -> V1InvalidHandle {
        self.v1_invalid_handle
    }

    /// This state with pages of `page_size` keys for wasi:keyvalue `list-keys` (the default is
    /// [`DEFAULT_WASI_PAGE_SIZE`], 100).
    pub fn with_wasi_page_size(mut self, page_size: NonZeroUsize) -> Self {
        self.wasi_page_size = page_size;
        self
    }

    /// How many keys one wasi:keyvalue `list-keys` page holds at most.
    pub fn wasi_page_size(&self) -> NonZeroUsize {
        self.wasi_page_size
    }

    /// Whether the component was granted `label`.
    pub fn is_granted(&self, label: &str) -> bool {
        self.grants.contains(label)
    }

    /// The labels the component was granted.
    pub fn grants(&self) -> impl Iterator<Item = &str> {
        self.grants.iter().map(String::as_str)
    }

    /// How many handles are open in this instance.
    pub fn open_count(&self) -> usize {
        self.handles.len()
    }

    /// Opens `label` and returns the new handle's number.
    ///
    /// The checks run in this order, so each error means exactly one thing:
    /// 1. [OPEN-GRANT]: a label the component was not granted is [`Error::AccessDenied`], before anything else,
    ///    even for "default" and even if the label is configured for another component.
    /// 2. [OPEN-TABLE-FULL]: with `max_open_stores` handles open, [`Error::StoreTableFull`]; closing one makes
    ///    room.
    /// 3. The manager resolves the label: [`Error::NoSuchStore`] if it serves no store for it
    ///    ([OPEN-UNCONFIGURED]: an [`crate::app::Application`] refuses to load instead, so from it this cannot
    ///    happen), or the backend's [`Error::Other`].
    ///
    /// Opening a label twice gives two handles onto the same data ([OPEN-TWICE]).
    ///
    /// # Errors
    ///
    /// As listed above.
    pub fn open(&mut self, label: &str) -> Result<u32, Error> {
        if !self.is_granted(label) {
            return Err(Error::AccessDenied);
        }
        if let Some(max) = self.max_open_stores
            && self.handles.len() >= max as usize
        {
            return Err(Error::StoreTableFull);
        }
        // u32::MAX is never handed out, so every number issued stays unique; an instance that has opened four
        // billion stores gets `store-table-full` from then on.
        if !self.reuse_handles && self.next_handle == u32::MAX {
            return Err(Error::StoreTableFull);
        }
        let store = self.manager.get(label)?;
        let handle = if self.reuse_handles {
            // At most u32::MAX - 1 handles can be open (the map would not fit in memory long before), so a free
            // number below u32::MAX exists.
            (1..u32::MAX)
                .find(|n| !self.handles.contains_key(n))
                .ok_or(Error::StoreTableFull)?
        } else {
            self.next_handle += 1;
            self.next_handle - 1
        };
        self.handles.insert(
            handle,
            OpenStore {
                label: label.to_owned(),
                store,
            },
        );
        Ok(handle)
    }

    /// The store behind an open handle, or `None` if `handle` is not open in this instance.
    pub fn store(&self, handle: u32) -> Option<&Arc<dyn Store>> {
        self.handles.get(&handle).map(|open| &open.store)
    }

    /// The label an open handle was opened with, or `None` if `handle` is not open in this instance.
    pub fn label(&self, handle: u32) -> Option<&str> {
        self.handles.get(&handle).map(|open| open.label.as_str())
    }

    /// Closes one handle ([HANDLE-DROP]): other handles onto the same store stay usable and the data stays.
    /// Returns whether the handle was open; closing a handle that is not open does nothing.
    pub fn close(&mut self, handle: u32) -> bool {
        self.handles.remove(&handle).is_some()
    }

    /// The store behind the resource numbered `rep`, and the label it was opened with: what the lookups of the
    /// versions whose stores are resources (v2's and v3's `store`, wasi:keyvalue's `bucket`: `noun`) share.
    ///
    /// # Errors
    ///
    /// A trap, for a resource this state never issued or has closed: a fault of the host, since a guest cannot
    /// name a resource it does not hold.
    pub(crate) fn open_resource(
        &self,
        rep: u32,
        noun: &str,
    ) -> wasmtime::Result<(&Arc<dyn Store>, &str)> {
        let open = self.handles.get(&rep).ok_or_else(|| {
            wasmtime::format_err!(
                "key-value {noun} handle {rep} is not open in this instance (a bug in the host)"
            )
        })?;
        Ok((&open.store, &open.label))
    }

    /// Closes the resource numbered `rep` (a `noun`, as for [`KeyValueState::open_resource`]) which the guest has
    /// dropped ([HANDLE-DROP]).
    ///
    /// # Errors
    ///
    /// A trap, for a resource that is not open: a fault of the host, since wasmtime drops only resources the guest
    /// holds.
    pub(crate) fn drop_resource(&mut self, rep: u32, noun: &str) -> wasmtime::Result<()> {
        if self.close(rep) {
            Ok(())
        } else {
            Err(wasmtime::format_err!(
                "key-value {noun} handle {rep} was dropped but is not open in this instance (a bug in the host)"
            ))
        }
    }

    /// How many wasi:keyvalue `cas` resources this instance holds (made and not yet swapped or dropped). They do
    /// not count against `max_open_stores`: a `cas` is not a store handle.
    pub fn pending_swaps(&self) -> usize {
        self.swaps.len()
    }

    /// Records a new `cas` and returns its number; numbers are never reused.
    pub(crate) fn begin_swap(&mut self, swap: PendingSwap) -> Result<u32, Error> {
        if self.next_swap == u32::MAX {
            return Err(Error::Other(
                "this instance has made four billion compare-and-swap handles, as many as the host can number"
                    .to_owned(),
            ));
        }
        let id = self.next_swap;
        self.next_swap += 1;
        self.swaps.insert(id, swap);
        Ok(id)
    }

    /// The `cas` numbered `id`, if this instance holds it.
    pub(crate) fn pending_swap(&mut self, id: u32) -> Option<&mut PendingSwap> {
        self.swaps.get_mut(&id)
    }

    /// Forgets the `cas` numbered `id`, returning it if this instance held it.
    pub(crate) fn end_swap(&mut self, id: u32) -> Option<PendingSwap> {
        self.swaps.remove(&id)
    }

    /// Issues a new `wasi:keyvalue@0.2.0-draft` cursor standing for `cursor`; numbers are never reused. At
    /// [`MAX_DRAFT_CURSORS`] the oldest cursor is forgotten first.
    pub(crate) fn issue_draft_cursor(&mut self, cursor: DraftCursor) -> Result<u64, Error> {
        if self.next_draft_cursor == u64::MAX {
            return Err(Error::Other(
                "this instance has issued as many key-listing cursors as the host can number"
                    .to_owned(),
            ));
        }
        if self.draft_cursors.len() >= MAX_DRAFT_CURSORS {
            self.draft_cursors.pop_first();
        }
        let id = self.next_draft_cursor;
        self.next_draft_cursor += 1;
        self.draft_cursors.insert(id, cursor);
        Ok(id)
    }

    /// What the draft cursor `id` stands for, if this instance issued it and still keeps it.
    pub(crate) fn draft_cursor(&self, id: u64) -> Option<&DraftCursor> {
        self.draft_cursors.get(&id)
    }
}

impl std::fmt::Debug for KeyValueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueState")
            .field("grants", &self.grants)
            .field(
                "open",
                &self
                    .handles
                    .iter()
                    .map(|(handle, open)| (*handle, open.label.as_str()))
                    .collect::<BTreeSet<_>>(),
            )
            .field("max_open_stores", &self.max_open_stores)
            .field("pending_swaps", &self.swaps.len())
            .field("wasi_page_size", &self.wasi_page_size)
            .finish_non_exhaustive()
    }
}

//! Proxy components written in WAT: each re-exports the functions of a key-value interface it imports, so a test
//! calls kvhost's bindings through a real component boundary (lowering into guest memory, lifting back out)
//! with exactly the interface's types, one call at a time, and sees the guest-visible results as `Val`s.
//!
//! The guest drivers of `guest-fixtures/` run whole scripts; these proxies need no toolchain and check each
//! binding's signature against the WIT-shaped import type wasmtime type-checks at instantiation.

use std::collections::BTreeMap;

use kvhost::{Application, HostConfig, KeyValueState};
use wasmtime::component::{Component, Instance, Linker, ResourceAny, Val};
use wasmtime::{Engine, Store};

/// The shared linear memory and a bump allocator that grows the memory as needed (the host writes strings, lists
/// and error messages into the guest through it). Addresses below 4096 are left for fixed return areas.
pub const LIBC: &str = r#"
  (core module $Libc
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $ptr i32) (local $end i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (local.set $end (i32.add (local.get $ptr) (local.get 3)))
      (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
        (then
          (if (i32.lt_s
                (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
                (i32.const 0))
            (then unreachable))))
      (global.set $next (local.get $end))
      (local.get $ptr)))
  (core instance $libc (instantiate $Libc))
"#;

/// `fermyon:spin/key-value` (v1), re-exported as `v1-open`, `v1-get`, `v1-set`, `v1-delete`, `v1-exists`,
/// `v1-get-keys` and `v1-close`.
pub const V1: &str = r#"
  (type $v1-type (instance
    (type $error (variant (case "store-table-full") (case "no-such-store") (case "access-denied")
                          (case "invalid-store") (case "no-such-key") (case "io" string)))
    (export "error" (type $error-t (eq $error)))
    (type $bytes (list u8))
    (type $keys (list string))
    (type $open-result (result u32 (error $error-t)))
    (type $get-result (result $bytes (error $error-t)))
    (type $unit-result (result (error $error-t)))
    (type $bool-result (result bool (error $error-t)))
    (type $keys-result (result $keys (error $error-t)))
    (export "open" (func (param "name" string) (result $open-result)))
    (export "get" (func (param "store" u32) (param "key" string) (result $get-result)))
    (export "set" (func (param "store" u32) (param "key" string) (param "value" $bytes) (result $unit-result)))
    (export "delete" (func (param "store" u32) (param "key" string) (result $unit-result)))
    (export "exists" (func (param "store" u32) (param "key" string) (result $bool-result)))
    (export "get-keys" (func (param "store" u32) (result $keys-result)))
    (export "close" (func (param "store" u32)))))
  (import "fermyon:spin/key-value" (instance $v1 (type $v1-type)))
  (alias export $v1 "error" (type $v1-error))
  (alias export $v1 "open" (func $v1-open))
  (alias export $v1 "get" (func $v1-get))
  (alias export $v1 "set" (func $v1-set))
  (alias export $v1 "delete" (func $v1-delete))
  (alias export $v1 "exists" (func $v1-exists))
  (alias export $v1 "get-keys" (func $v1-get-keys))
  (alias export $v1 "close" (func $v1-close))
  (core func $v1-open-l (canon lower (func $v1-open) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v1-get-l (canon lower (func $v1-get) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v1-set-l (canon lower (func $v1-set) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v1-delete-l (canon lower (func $v1-delete) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v1-exists-l (canon lower (func $v1-exists) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v1-get-keys-l (canon lower (func $v1-get-keys) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v1-close-l (canon lower (func $v1-close)))
  (core module $V1Proxy
    (import "kv" "open" (func $open (param i32 i32 i32)))
    (import "kv" "get" (func $get (param i32 i32 i32 i32)))
    (import "kv" "set" (func $set (param i32 i32 i32 i32 i32 i32)))
    (import "kv" "delete" (func $delete (param i32 i32 i32 i32)))
    (import "kv" "exists" (func $exists (param i32 i32 i32 i32)))
    (import "kv" "get-keys" (func $get-keys (param i32 i32)))
    (import "kv" "close" (func $close (param i32)))
    (func (export "open") (param i32 i32) (result i32)
      (call $open (local.get 0) (local.get 1) (i32.const 1024)) (i32.const 1024))
    (func (export "get") (param i32 i32 i32) (result i32)
      (call $get (local.get 0) (local.get 1) (local.get 2) (i32.const 1024)) (i32.const 1024))
    (func (export "set") (param i32 i32 i32 i32 i32) (result i32)
      (call $set (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (i32.const 1024))
      (i32.const 1024))
    (func (export "delete") (param i32 i32 i32) (result i32)
      (call $delete (local.get 0) (local.get 1) (local.get 2) (i32.const 1024)) (i32.const 1024))
    (func (export "exists") (param i32 i32 i32) (result i32)
      (call $exists (local.get 0) (local.get 1) (local.get 2) (i32.const 1024)) (i32.const 1024))
    (func (export "get-keys") (param i32) (result i32)
      (call $get-keys (local.get 0) (i32.const 1024)) (i32.const 1024))
    (func (export "close") (param i32) (call $close (local.get 0))))
  (core instance $v1-proxy (instantiate $V1Proxy (with "kv" (instance
    (export "open" (func $v1-open-l))
    (export "get" (func $v1-get-l))
    (export "set" (func $v1-set-l))
    (export "delete" (func $v1-delete-l))
    (export "exists" (func $v1-exists-l))
    (export "get-keys" (func $v1-get-keys-l))
    (export "close" (func $v1-close-l))))))
  (type $v1-bytes (list u8))
  (type $v1-keys (list string))
  (type $v1-open-result (result u32 (error $v1-error)))
  (type $v1-get-result (result $v1-bytes (error $v1-error)))
  (type $v1-unit-result (result (error $v1-error)))
  (type $v1-bool-result (result bool (error $v1-error)))
  (type $v1-keys-result (result $v1-keys (error $v1-error)))
  (func (export "v1-open") (param "name" string) (result $v1-open-result)
    (canon lift (core func $v1-proxy "open") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v1-get") (param "store" u32) (param "key" string) (result $v1-get-result)
    (canon lift (core func $v1-proxy "get") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v1-set") (param "store" u32) (param "key" string) (param "value" $v1-bytes) (result $v1-unit-result)
    (canon lift (core func $v1-proxy "set") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v1-delete") (param "store" u32) (param "key" string) (result $v1-unit-result)
    (canon lift (core func $v1-proxy "delete") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v1-exists") (param "store" u32) (param "key" string) (result $v1-bool-result)
    (canon lift (core func $v1-proxy "exists") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v1-get-keys") (param "store" u32) (result $v1-keys-result)
    (canon lift (core func $v1-proxy "get-keys") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v1-close") (param "store" u32) (canon lift (core func $v1-proxy "close")))
"#;

/// `wasi:keyvalue` store, atomics and batch at `0.2.0-draft2`, re-exported as `wasi-open`, `bucket-get`,
/// `bucket-set`, `bucket-delete`, `bucket-exists`, `bucket-list-keys`, `cas-new`, `cas-current`, `increment`,
/// `swap`, `get-many`, `set-many` and `delete-many`.
pub const WASI: &str = r#"
  (type $store-type (instance
    (export "bucket" (type $bucket (sub resource)))
    (type $error (variant (case "no-such-store") (case "access-denied") (case "other" string)))
    (export "error" (type $error-t (eq $error)))
    (type $keys (list string))
    (type $key-response (record (field "keys" $keys) (field "cursor" (option string))))
    (export "key-response" (type $key-response-t (eq $key-response)))
    (type $own (own $bucket))
    (type $borrow (borrow $bucket))
    (type $bytes (list u8))
    (type $open-result (result $own (error $error-t)))
    (type $get-result (result (option $bytes) (error $error-t)))
    (type $unit-result (result (error $error-t)))
    (type $bool-result (result bool (error $error-t)))
    (type $list-result (result $key-response-t (error $error-t)))
    (export "open" (func (param "identifier" string) (result $open-result)))
    (export "[method]bucket.get" (func (param "self" $borrow) (param "key" string) (result $get-result)))
    (export "[method]bucket.set"
      (func (param "self" $borrow) (param "key" string) (param "value" $bytes) (result $unit-result)))
    (export "[method]bucket.delete" (func (param "self" $borrow) (param "key" string) (result $unit-result)))
    (export "[method]bucket.exists" (func (param "self" $borrow) (param "key" string) (result $bool-result)))
    (export "[method]bucket.list-keys"
      (func (param "self" $borrow) (param "cursor" (option string)) (result $list-result)))))
  (import "wasi:keyvalue/store@0.2.0-draft2" (instance $store (type $store-type)))
  (alias export $store "bucket" (type $bucket))
  (alias export $store "error" (type $error))
  (alias export $store "key-response" (type $key-response))

  (type $atomics-type (instance
    (alias outer $C $bucket (type $bucket-outer))
    (export "bucket" (type $bucket-t (eq $bucket-outer)))
    (alias outer $C $error (type $error-outer))
    (export "error" (type $error-t (eq $error-outer)))
    (export "cas" (type $cas (sub resource)))
    (type $cas-error (variant (case "store-error" $error-t) (case "cas-failed" (own $cas))))
    (export "cas-error" (type $cas-error-t (eq $cas-error)))
    (type $bucket-borrow (borrow $bucket-t))
    (type $bytes (list u8))
    (type $cas-result (result (own $cas) (error $error-t)))
    (type $current-result (result (option $bytes) (error $error-t)))
    (type $increment-result (result s64 (error $error-t)))
    (type $swap-result (result (error $cas-error-t)))
    (export "[static]cas.new" (func (param "bucket" $bucket-borrow) (param "key" string) (result $cas-result)))
    (export "[method]cas.current" (func (param "self" (borrow $cas)) (result $current-result)))
    (export "increment"
      (func (param "bucket" $bucket-borrow) (param "key" string) (param "delta" s64) (result $increment-result)))
    (export "swap" (func (param "cas" (own $cas)) (param "value" $bytes) (result $swap-result)))))
  (import "wasi:keyvalue/atomics@0.2.0-draft2" (instance $atomics (type $atomics-type)))
  (alias export $atomics "cas" (type $cas))
  (alias export $atomics "cas-error" (type $cas-error))

  (type $batch-type (instance
    (alias outer $C $bucket (type $bucket-outer))
    (export "bucket" (type $bucket-t (eq $bucket-outer)))
    (alias outer $C $error (type $error-outer))
    (export "error" (type $error-t (eq $error-outer)))
    (type $bucket-borrow (borrow $bucket-t))
    (type $bytes (list u8))
    (type $keys (list string))
    (type $entries (list (tuple string (option $bytes))))
    (type $pairs (list (tuple string $bytes)))
    (type $get-many-result (result $entries (error $error-t)))
    (type $unit-result (result (error $error-t)))
    (export "get-many" (func (param "bucket" $bucket-borrow) (param "keys" $keys) (result $get-many-result)))
    (export "set-many" (func (param "bucket" $bucket-borrow) (param "key-values" $pairs) (result $unit-result)))
    (export "delete-many" (func (param "bucket" $bucket-borrow) (param "keys" $keys) (result $unit-result)))))
  (import "wasi:keyvalue/batch@0.2.0-draft2" (instance $batch (type $batch-type)))

  (alias export $store "open" (func $w-open))
  (alias export $store "[method]bucket.get" (func $w-get))
  (alias export $store "[method]bucket.set" (func $w-set))
  (alias export $store "[method]bucket.delete" (func $w-delete))
  (alias export $store "[method]bucket.exists" (func $w-exists))
  (alias export $store "[method]bucket.list-keys" (func $w-list-keys))
  (alias export $atomics "[static]cas.new" (func $w-cas-new))
  (alias export $atomics "[method]cas.current" (func $w-cas-current))
  (alias export $atomics "increment" (func $w-increment))
  (alias export $atomics "swap" (func $w-swap))
  (alias export $batch "get-many" (func $w-get-many))
  (alias export $batch "set-many" (func $w-set-many))
  (alias export $batch "delete-many" (func $w-delete-many))
  (core func $w-open-l (canon lower (func $w-open) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-get-l (canon lower (func $w-get) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-set-l (canon lower (func $w-set) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-delete-l (canon lower (func $w-delete) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-exists-l (canon lower (func $w-exists) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-list-keys-l (canon lower (func $w-list-keys) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-cas-new-l (canon lower (func $w-cas-new) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-cas-current-l (canon lower (func $w-cas-current) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-increment-l (canon lower (func $w-increment) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-swap-l (canon lower (func $w-swap) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-get-many-l (canon lower (func $w-get-many) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-set-many-l (canon lower (func $w-set-many) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $w-delete-many-l (canon lower (func $w-delete-many) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  ;; A lifted export receives a borrowed handle it must drop before returning.
  (core func $w-drop-bucket (canon resource.drop $bucket))
  (core func $w-drop-cas (canon resource.drop $cas))
  (core module $WasiProxy
    (import "kv" "drop-bucket" (func $drop-bucket (param i32)))
    (import "kv" "drop-cas" (func $drop-cas (param i32)))
    (import "kv" "open" (func $open (param i32 i32 i32)))
    (import "kv" "get" (func $get (param i32 i32 i32 i32)))
    (import "kv" "set" (func $set (param i32 i32 i32 i32 i32 i32)))
    (import "kv" "delete" (func $delete (param i32 i32 i32 i32)))
    (import "kv" "exists" (func $exists (param i32 i32 i32 i32)))
    (import "kv" "list-keys" (func $list-keys (param i32 i32 i32 i32 i32)))
    (import "kv" "cas-new" (func $cas-new (param i32 i32 i32 i32)))
    (import "kv" "cas-current" (func $cas-current (param i32 i32)))
    (import "kv" "increment" (func $increment (param i32 i32 i32 i64 i32)))
    (import "kv" "swap" (func $swap (param i32 i32 i32 i32)))
    (import "kv" "get-many" (func $get-many (param i32 i32 i32 i32)))
    (import "kv" "set-many" (func $set-many (param i32 i32 i32 i32)))
    (import "kv" "delete-many" (func $delete-many (param i32 i32 i32 i32)))
    (func (export "open") (param i32 i32) (result i32)
      (call $open (local.get 0) (local.get 1) (i32.const 1024)) (i32.const 1024))
    (func (export "get") (param i32 i32 i32) (result i32)
      (call $get (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "set") (param i32 i32 i32 i32 i32) (result i32)
      (call $set (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "delete") (param i32 i32 i32) (result i32)
      (call $delete (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "exists") (param i32 i32 i32) (result i32)
      (call $exists (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "list-keys") (param i32 i32 i32 i32) (result i32)
      (call $list-keys (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "cas-new") (param i32 i32 i32) (result i32)
      (call $cas-new (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "cas-current") (param i32) (result i32)
      (call $cas-current (local.get 0) (i32.const 1024))
      (call $drop-cas (local.get 0))
      (i32.const 1024))
    (func (export "increment") (param i32 i32 i32 i64) (result i32)
      (call $increment (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "swap") (param i32 i32 i32) (result i32)
      (call $swap (local.get 0) (local.get 1) (local.get 2) (i32.const 1024)) (i32.const 1024))
    (func (export "get-many") (param i32 i32 i32) (result i32)
      (call $get-many (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "set-many") (param i32 i32 i32) (result i32)
      (call $set-many (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024))
    (func (export "delete-many") (param i32 i32 i32) (result i32)
      (call $delete-many (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-bucket (local.get 0))
      (i32.const 1024)))
  (core instance $wasi-proxy (instantiate $WasiProxy (with "kv" (instance
    (export "drop-bucket" (func $w-drop-bucket))
    (export "drop-cas" (func $w-drop-cas))
    (export "open" (func $w-open-l))
    (export "get" (func $w-get-l))
    (export "set" (func $w-set-l))
    (export "delete" (func $w-delete-l))
    (export "exists" (func $w-exists-l))
    (export "list-keys" (func $w-list-keys-l))
    (export "cas-new" (func $w-cas-new-l))
    (export "cas-current" (func $w-cas-current-l))
    (export "increment" (func $w-increment-l))
    (export "swap" (func $w-swap-l))
    (export "get-many" (func $w-get-many-l))
    (export "set-many" (func $w-set-many-l))
    (export "delete-many" (func $w-delete-many-l))))))
  (type $w-own (own $bucket))
  (type $w-borrow (borrow $bucket))
  (type $w-bytes (list u8))
  (type $w-keys (list string))
  (type $w-entries (list (tuple string (option $w-bytes))))
  (type $w-pairs (list (tuple string $w-bytes)))
  (type $w-open-result (result $w-own (error $error)))
  (type $w-get-result (result (option $w-bytes) (error $error)))
  (type $w-unit-result (result (error $error)))
  (type $w-bool-result (result bool (error $error)))
  (type $w-list-result (result $key-response (error $error)))
  (type $w-cas-result (result (own $cas) (error $error)))
  (type $w-increment-result (result s64 (error $error)))
  (type $w-swap-result (result (error $cas-error)))
  (type $w-get-many-result (result $w-entries (error $error)))
  (func (export "wasi-open") (param "identifier" string) (result $w-open-result)
    (canon lift (core func $wasi-proxy "open") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "bucket-get") (param "self" $w-borrow) (param "key" string) (result $w-get-result)
    (canon lift (core func $wasi-proxy "get") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "bucket-set") (param "self" $w-borrow) (param "key" string) (param "value" $w-bytes) (result $w-unit-result)
    (canon lift (core func $wasi-proxy "set") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "bucket-delete") (param "self" $w-borrow) (param "key" string) (result $w-unit-result)
    (canon lift (core func $wasi-proxy "delete") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "bucket-exists") (param "self" $w-borrow) (param "key" string) (result $w-bool-result)
    (canon lift (core func $wasi-proxy "exists") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "bucket-list-keys") (param "self" $w-borrow) (param "cursor" (option string)) (result $w-list-result)
    (canon lift (core func $wasi-proxy "list-keys") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "cas-new") (param "bucket" $w-borrow) (param "key" string) (result $w-cas-result)
    (canon lift (core func $wasi-proxy "cas-new") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "cas-current") (param "self" (borrow $cas)) (result $w-get-result)
    (canon lift (core func $wasi-proxy "cas-current") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "increment") (param "bucket" $w-borrow) (param "key" string) (param "delta" s64) (result $w-increment-result)
    (canon lift (core func $wasi-proxy "increment") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "swap") (param "cas" (own $cas)) (param "value" $w-bytes) (result $w-swap-result)
    (canon lift (core func $wasi-proxy "swap") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "get-many") (param "bucket" $w-borrow) (param "keys" $w-keys) (result $w-get-many-result)
    (canon lift (core func $wasi-proxy "get-many") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "set-many") (param "bucket" $w-borrow) (param "key-values" $w-pairs) (result $w-unit-result)
    (canon lift (core func $wasi-proxy "set-many") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "delete-many") (param "bucket" $w-borrow) (param "keys" $w-keys) (result $w-unit-result)
    (canon lift (core func $wasi-proxy "delete-many") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
"#;

/// `spin:key-value/key-value@3.0.0` (v3), re-exported as `v3-open`, `v3-get`, `v3-set`, `v3-delete`,
/// `v3-exists` and `v3-list`. Each export is an async-typed function lifted synchronously, calling the async
/// imports through synchronous lowerings (wasmtime runs them to completion; kvhost's answer at once), so the host
/// must use `call_async`.
///
/// `v3-list(store, room, take)` calls `get-keys` and reads the stream with `stream.read`s of `room` keys until
/// the stream ends, or, when `take` is not 0, until it has `take` keys. The reads are asynchronous: wasmtime
/// answers a read of strings later (it has to call the guest's `realloc` to deliver them), so a read that says
/// `blocked` is waited for in a waitable set. If the stream ended, it then reads the future and returns the keys with
/// `some(outcome)`; otherwise it drops the stream and the future unread and returns the keys with `none`. It holds
/// at most 4096 keys.
pub const V3: &str = r#"
  (type $v3-type (instance
    (export "store" (type $store (sub resource)))
    (type $error (variant (case "store-table-full") (case "no-such-store") (case "access-denied")
                          (case "other" string)))
    (export "error" (type $error-t (eq $error)))
    (type $own (own $store))
    (type $borrow (borrow $store))
    (type $bytes (list u8))
    (type $open-result (result $own (error $error-t)))
    (type $get-result (result (option $bytes) (error $error-t)))
    (type $unit-result (result (error $error-t)))
    (type $bool-result (result bool (error $error-t)))
    (type $keys (stream string))
    (type $outcome (future $unit-result))
    (type $listing (tuple $keys $outcome))
    (export "[static]store.open" (func async (param "label" string) (result $open-result)))
    (export "[method]store.get" (func async (param "self" $borrow) (param "key" string) (result $get-result)))
    (export "[method]store.set"
      (func async (param "self" $borrow) (param "key" string) (param "value" $bytes) (result $unit-result)))
    (export "[method]store.delete"
      (func async (param "self" $borrow) (param "key" string) (result $unit-result)))
    (export "[method]store.exists"
      (func async (param "self" $borrow) (param "key" string) (result $bool-result)))
    (export "[method]store.get-keys" (func async (param "self" $borrow) (result $listing)))))
  (import "spin:key-value/key-value@3.0.0" (instance $v3 (type $v3-type)))
  (alias export $v3 "store" (type $v3-store))
  (alias export $v3 "error" (type $v3-error))
  (alias export $v3 "[static]store.open" (func $v3-open))
  (alias export $v3 "[method]store.get" (func $v3-get))
  (alias export $v3 "[method]store.set" (func $v3-set))
  (alias export $v3 "[method]store.delete" (func $v3-delete))
  (alias export $v3 "[method]store.exists" (func $v3-exists))
  (alias export $v3 "[method]store.get-keys" (func $v3-get-keys))
  (type $v3-bytes (list u8))
  (type $v3-unit-result (result (error $v3-error)))
  (type $v3-keys (stream string))
  (type $v3-outcome (future $v3-unit-result))
  (core func $v3-open-l (canon lower (func $v3-open) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v3-get-l (canon lower (func $v3-get) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v3-set-l (canon lower (func $v3-set) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v3-delete-l (canon lower (func $v3-delete) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v3-exists-l (canon lower (func $v3-exists) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v3-get-keys-l (canon lower (func $v3-get-keys) (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v3-drop-store (canon resource.drop $v3-store))
  (core func $v3-read-keys
    (canon stream.read $v3-keys async (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v3-drop-keys (canon stream.drop-readable $v3-keys))
  (core func $v3-read-outcome
    (canon future.read $v3-outcome async (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (core func $v3-drop-outcome (canon future.drop-readable $v3-outcome))
  (core func $v3-set-new (canon waitable-set.new))
  (core func $v3-join (canon waitable.join))
  (core func $v3-wait (canon waitable-set.wait (memory (core memory $libc "memory"))))
  (core func $v3-set-drop (canon waitable-set.drop))
  (core module $V3Proxy
    (import "libc" "memory" (memory 1))
    (import "libc" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
    (import "kv" "drop-store" (func $drop-store (param i32)))
    (import "kv" "open" (func $open (param i32 i32 i32)))
    (import "kv" "get" (func $get (param i32 i32 i32 i32)))
    (import "kv" "set" (func $set (param i32 i32 i32 i32 i32 i32)))
    (import "kv" "delete" (func $delete (param i32 i32 i32 i32)))
    (import "kv" "exists" (func $exists (param i32 i32 i32 i32)))
    (import "kv" "get-keys" (func $get-keys (param i32 i32)))
    (import "kv" "read-keys" (func $read-keys (param i32 i32 i32) (result i32)))
    (import "kv" "drop-keys" (func $drop-keys (param i32)))
    (import "kv" "read-outcome" (func $read-outcome (param i32 i32) (result i32)))
    (import "kv" "drop-outcome" (func $drop-outcome (param i32)))
    (import "kv" "set-new" (func $set-new (result i32)))
    (import "kv" "join" (func $join (param i32 i32)))
    (import "kv" "wait" (func $wait (param i32 i32) (result i32)))
    (import "kv" "set-drop" (func $set-drop (param i32)))
    ;; The result code of a read that returned `code`: itself, or when it is `blocked` (-1), the code its
    ;; completion event carries.
    (func $settle (param $waitable i32) (param $code i32) (result i32)
      (local $set i32)
      (if (i32.ne (local.get $code) (i32.const -1)) (then (return (local.get $code))))
      (local.set $set (call $set-new))
      (call $join (local.get $waitable) (local.get $set))
      (drop (call $wait (local.get $set) (i32.const 3000)))
      (call $join (local.get $waitable) (i32.const 0))
      (call $set-drop (local.get $set))
      (if (i32.ne (i32.load (i32.const 3000)) (local.get $waitable)) (then unreachable))
      (i32.load (i32.const 3004)))
    (func (export "open") (param i32 i32) (result i32)
      (call $open (local.get 0) (local.get 1) (i32.const 1024)) (i32.const 1024))
    (func (export "get") (param i32 i32 i32) (result i32)
      (call $get (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-store (local.get 0))
      (i32.const 1024))
    (func (export "set") (param i32 i32 i32 i32 i32) (result i32)
      (call $set (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (i32.const 1024))
      (call $drop-store (local.get 0))
      (i32.const 1024))
    (func (export "delete") (param i32 i32 i32) (result i32)
      (call $delete (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-store (local.get 0))
      (i32.const 1024))
    (func (export "exists") (param i32 i32 i32) (result i32)
      (call $exists (local.get 0) (local.get 1) (local.get 2) (i32.const 1024))
      (call $drop-store (local.get 0))
      (i32.const 1024))
    ;; The result, at 2048: the keys as a list<string> (pointer, length), then option<result<_, error>> at 2056
    ;; (its case byte; the result's case byte at 2060 and the error variant from 2064).
    (func (export "list") (param $store i32) (param $room i32) (param $take i32) (result i32)
      (local $keys i32) (local $outcome i32) (local $buffer i32) (local $total i32) (local $code i32)
      (local $ended i32) (local $ask i32)
      (call $get-keys (local.get $store) (i32.const 1024))
      (call $drop-store (local.get $store))
      (local.set $keys (i32.load (i32.const 1024)))
      (local.set $outcome (i32.load (i32.const 1028)))
      ;; Room for 4096 keys of 8 bytes each (pointer, length).
      (local.set $buffer (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 32768)))
      (block $done
        (loop $read
          (local.set $ask (local.get $room))
          (if (i32.gt_u (i32.add (local.get $total) (local.get $ask)) (i32.const 4096))
            (then (local.set $ask (i32.sub (i32.const 4096) (local.get $total)))))
          (if (i32.eqz (local.get $ask)) (then unreachable))
          (local.set $code
            (call $settle (local.get $keys)
              (call $read-keys (local.get $keys)
                (i32.add (local.get $buffer) (i32.mul (local.get $total) (i32.const 8)))
                (local.get $ask))))
          (local.set $total (i32.add (local.get $total) (i32.shr_u (local.get $code) (i32.const 4))))
          (if (i32.eq (i32.and (local.get $code) (i32.const 15)) (i32.const 1))
            (then (local.set $ended (i32.const 1)) (br $done)))
          (if (i32.and (i32.ne (local.get $take) (i32.const 0))
                       (i32.ge_u (local.get $total) (local.get $take)))
            (then (br $done)))
          (br $read)))
      (call $drop-keys (local.get $keys))
      (i32.store (i32.const 2048) (local.get $buffer))
      (i32.store (i32.const 2052) (local.get $total))
      (if (local.get $ended)
        (then
          (if (i32.ne
                (call $settle (local.get $outcome) (call $read-outcome (local.get $outcome) (i32.const 2060)))
                (i32.const 0))
            (then unreachable))
          (i32.store8 (i32.const 2056) (i32.const 1)))
        (else (i32.store8 (i32.const 2056) (i32.const 0))))
      (call $drop-outcome (local.get $outcome))
      (i32.const 2048)))
  (core instance $v3-proxy (instantiate $V3Proxy
    (with "libc" (instance $libc))
    (with "kv" (instance
      (export "drop-store" (func $v3-drop-store))
      (export "open" (func $v3-open-l))
      (export "get" (func $v3-get-l))
      (export "set" (func $v3-set-l))
      (export "delete" (func $v3-delete-l))
      (export "exists" (func $v3-exists-l))
      (export "get-keys" (func $v3-get-keys-l))
      (export "read-keys" (func $v3-read-keys))
      (export "drop-keys" (func $v3-drop-keys))
      (export "read-outcome" (func $v3-read-outcome))
      (export "drop-outcome" (func $v3-drop-outcome))
      (export "set-new" (func $v3-set-new))
      (export "join" (func $v3-join))
      (export "wait" (func $v3-wait))
      (export "set-drop" (func $v3-set-drop))))))
  (type $v3-own (own $v3-store))
  (type $v3-borrow (borrow $v3-store))
  (type $v3-open-result (result $v3-own (error $v3-error)))
  (type $v3-get-result (result (option $v3-bytes) (error $v3-error)))
  (type $v3-bool-result (result bool (error $v3-error)))
  (type $v3-key-list (list string))
  (type $v3-list-result (tuple $v3-key-list (option $v3-unit-result)))
  (func (export "v3-open") async (param "label" string) (result $v3-open-result)
    (canon lift (core func $v3-proxy "open") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v3-get") async (param "self" $v3-borrow) (param "key" string) (result $v3-get-result)
    (canon lift (core func $v3-proxy "get") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v3-set") async (param "self" $v3-borrow) (param "key" string) (param "value" $v3-bytes)
    (result $v3-unit-result)
    (canon lift (core func $v3-proxy "set") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v3-delete") async (param "self" $v3-borrow) (param "key" string) (result $v3-unit-result)
    (canon lift (core func $v3-proxy "delete") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v3-exists") async (param "self" $v3-borrow) (param "key" string) (result $v3-bool-result)
    (canon lift (core func $v3-proxy "exists") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "v3-list") async (param "self" $v3-borrow) (param "room" u32) (param "take" u32)
    (result $v3-list-result)
    (canon lift (core func $v3-proxy "list") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
"#;

/// A component of `fragments` (after [`LIBC`]), compiled for `engine`.
pub fn component(engine: &Engine, fragments: &[&str]) -> Component {
    let text = format!("(component $C {LIBC} {})", fragments.join("\n"));
    let binary = wat::parse_str(&text).unwrap_or_else(|e| panic!("the proxy's WAT parses: {e}"));
    Component::new(engine, binary).unwrap_or_else(|e| panic!("the proxy component compiles: {e:?}"))
}

/// One instance of a proxy component, with its own key-value state.
pub struct Proxy {
    pub store: Store<KeyValueState>,
    instance: Instance,
}

impl Proxy {
    /// Instantiates `component` with `state`, the interfaces linked by `link`.
    pub fn new(
        engine: &Engine,
        component: &Component,
        state: KeyValueState,
        link: impl FnOnce(&mut Linker<KeyValueState>),
    ) -> Self {
        let mut linker = Linker::new(engine);
        link(&mut linker);
        let mut store = Store::new(engine, state);
        let instance = linker
            .instantiate(&mut store, component)
            .unwrap_or_else(|e| panic!("the proxy instantiates: {e:?}"));
        Self { store, instance }
    }

    /// Instantiates `component` with `state` on an async engine, the interfaces linked by `link`.
    pub async fn new_async(
        engine: &Engine,
        component: &Component,
        state: KeyValueState,
        link: impl FnOnce(&mut Linker<KeyValueState>),
    ) -> Self {
        let mut linker = Linker::new(engine);
        link(&mut linker);
        let mut store = Store::new(engine, state);
        let instance = linker
            .instantiate_async(&mut store, component)
            .await
            .unwrap_or_else(|e| panic!("the proxy instantiates: {e:?}"));
        Self { store, instance }
    }

    /// Calls the export `name` with wasmtime's async entry point (needed for v3's async functions).
    pub async fn call_async(
        &mut self,
        name: &str,
        params: &[Val],
    ) -> wasmtime::Result<Option<Val>> {
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .unwrap_or_else(|| panic!("the proxy exports {name}"));
        let mut results = vec![Val::Bool(false); func.ty(&self.store).results().len()];
        func.call_async(&mut self.store, params, &mut results)
            .await?;
        Ok(results.pop())
    }

    /// Calls the export `name`; `None` for a function without a result.
    pub fn call(&mut self, name: &str, params: &[Val]) -> Option<Val> {
        self.try_call(name, params)
            .unwrap_or_else(|e| panic!("{name} trapped: {e:?}"))
    }

    /// Calls the export `name`, returning a trap as an error.
    pub fn try_call(&mut self, name: &str, params: &[Val]) -> wasmtime::Result<Option<Val>> {
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .unwrap_or_else(|| panic!("the proxy exports {name}"));
        let mut results = vec![Val::Bool(false); func.ty(&self.store).results().len()];
        func.call(&mut self.store, params, &mut results)?;
        Ok(results.pop())
    }

    /// Drops a resource the host received from the guest (a bucket: closing it).
    pub fn drop_resource(&mut self, resource: ResourceAny) {
        resource.resource_drop(&mut self.store).unwrap();
    }
}

/// An application of one component "proxy" granted `labels`, with `configure` applied to a memory host.
pub fn app(labels: &[&str], configure: impl FnOnce(&mut HostConfig)) -> Application {
    let mut config = HostConfig::memory();
    configure(&mut config);
    let grants = BTreeMap::from([(
        "proxy".to_owned(),
        labels.iter().map(|label| (*label).to_owned()).collect(),
    )]);
    Application::load(config, grants).unwrap()
}

/// A guest-visible error: the variant case and its text, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitError {
    pub case: String,
    pub text: Option<String>,
}

/// An error case without text.
pub fn err(case: &str) -> WitError {
    WitError {
        case: case.to_owned(),
        text: None,
    }
}

/// The `ok` or `error` of a `result` value, the error decoded as a [`WitError`].
pub fn outcome(val: Option<Val>) -> Result<Option<Val>, WitError> {
    match val {
        Some(Val::Result(Ok(value))) => Ok(value.map(|value| *value)),
        Some(Val::Result(Err(Some(error)))) => Err(wit_error(*error)),
        other => panic!("expected a result, got {other:?}"),
    }
}

/// A WIT error variant as a [`WitError`].
pub fn wit_error(val: Val) -> WitError {
    match val {
        Val::Variant(case, None) => WitError { case, text: None },
        Val::Variant(case, Some(payload)) => match *payload {
            Val::String(text) => WitError {
                case,
                text: Some(text),
            },
            other => panic!("an error payload that is not text: {other:?}"),
        },
        other => panic!("expected an error variant, got {other:?}"),
    }
}

pub fn string(text: &str) -> Val {
    Val::String(text.to_owned())
}

pub fn bytes(data: &[u8]) -> Val {
    Val::List(data.iter().map(|byte| Val::U8(*byte)).collect())
}

/// The bytes of a `list<u8>` value.
pub fn to_bytes(val: Val) -> Vec<u8> {
    match val {
        Val::List(items) => items
            .into_iter()
            .map(|item| match item {
                Val::U8(byte) => byte,
                other => panic!("expected a byte, got {other:?}"),
            })
            .collect(),
        other => panic!("expected a list of bytes, got {other:?}"),
    }
}

/// The strings of a `list<string>` value.
pub fn to_strings(val: Val) -> Vec<String> {
    match val {
        Val::List(items) => items
            .into_iter()
            .map(|item| match item {
                Val::String(text) => text,
                other => panic!("expected a string, got {other:?}"),
            })
            .collect(),
        other => panic!("expected a list of strings, got {other:?}"),
    }
}

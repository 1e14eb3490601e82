//! A component's Wasm file, loaded as `spin up` loads it: a component is used as it is, and a core module (what
//! `cargo build --target wasm32-wasip1` makes, the way Spin's documentation and SDK templates build Rust apps) is
//! turned into a component first, as Spin's loader does with its `spin-componentize` crate.
//!
//! What kvhost componentizes: a module carrying wit-bindgen's component-type custom sections (wit-bindgen 0.5 and
//! newer embed them; `spin-sdk` 2.x to 5.x built for `wasm32-wasip1` is such a module: it exports
//! `wasi:http/incoming-handler@0.2.0#handle` and imports its interfaces by their WIT names, plus
//! `wasi_snapshot_preview1` for the standard library). wit-component's encoder makes the component, with
//! wasmtime 48's WASI preview1 reactor adapter standing in for `wasi_snapshot_preview1`: Spin's
//! `componentize_new_bindgen` does the same with the same kind of adapter.
//!
//! What it refuses, naming the file and what to do: a module without those sections, which Spin adapts with an
//! adapter of its own (a module from an old Spin SDK exporting `handle-http-request`, the `fermyon:spin`
//! `inbound-http` interface, or a WASI command exporting `_start`, which Spin runs only as a WAGI component).

use std::borrow::Cow;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Encoding, ExternalKind, Parser, Payload};

/// Reads the Wasm file of the component `id` (the `source` of `[component.<id>]`).
///
/// # Errors
///
/// When the file does not exist (saying so, with the component and the path) or cannot be read.
pub fn read(id: &str, path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "the source of the component {id:?}, {}, does not exist: build the component first (`spin build`), \
             or correct `source` in [component.{id}] (a relative path is relative to the manifest's directory)",
            path.display()
        ),
        Err(error) => Err(error).with_context(|| {
            format!(
                "could not read the source of the component {id:?}, {}",
                path.display()
            )
        }),
    }
}

/// What a core module holds that decides how (and whether) it can be componentized.
#[derive(Debug, Default)]
struct ModuleInfo {
    /// It has a `component-type*` custom section: wit-bindgen's description of the component it is part of.
    component_type: bool,
    /// It exports `_start`: a WASI command.
    start: bool,
    /// It exports `handle-http-request`: an old Spin SDK's `fermyon:spin` `inbound-http` handler.
    inbound_http: bool,
}

impl ModuleInfo {
    fn read(module: &[u8]) -> Result<ModuleInfo> {
        let mut info = ModuleInfo::default();
        for payload in Parser::new(0).parse_all(module) {
            match payload? {
                Payload::ExportSection(exports) => {
                    for export in exports {
                        let export = export?;
                        if export.kind == ExternalKind::Func {
                            info.start |= export.name == "_start";
                            info.inbound_http |= export.name == "handle-http-request";
                        }
                    }
                }
                Payload::CustomSection(section) => {
                    info.component_type |= section.name().starts_with("component-type");
                }
                _ => {}
            }
        }
        Ok(info)
    }
}

/// The bytes of a component: `bytes` unchanged when they are a component (or not binary Wasm at all, which
/// wasmtime then judges), or the component made from them when they are a core module.
///
/// # Errors
///
/// When `bytes` are a core module kvhost cannot componentize, or the encoder fails; the message names the file
/// and what to do.
pub fn componentize_if_necessary<'a>(
    id: &str,
    path: &Path,
    bytes: &'a [u8],
) -> Result<Cow<'a, [u8]>> {
    let Some(Ok(Payload::Version { encoding, .. })) = Parser::new(0).parse_all(bytes).next() else {
        return Ok(Cow::Borrowed(bytes));
    };
    if encoding == Encoding::Component {
        return Ok(Cow::Borrowed(bytes));
    }
    let file = path.display();
    let info = ModuleInfo::read(bytes).with_context(|| {
        format!("the source of the component {id:?}, {file}, is not a valid WebAssembly module")
    })?;
    if !info.component_type {
        if info.inbound_http {
            bail!(
                "the source of the component {id:?}, {file}, is a core module from an old Spin SDK (it exports \
                 `handle-http-request`, the fermyon:spin inbound-http interface), which kvhost serve cannot \
                 componentize: rebuild it with spin-sdk 2.0 or newer (for wasm32-wasip1 or wasm32-wasip2), or \
                 serve it with Spin"
            );
        }
        if info.start {
            bail!(
                "the source of the component {id:?}, {file}, is a WASI command module (it exports `_start`), \
                 which Spin runs only as a WAGI component; kvhost serve runs wasi:http components: build it as an \
                 HTTP component (for example with spin-sdk's #[http_component]), or serve it with Spin"
            );
        }
        bail!(
            "the source of the component {id:?}, {file}, is a core module without wit-bindgen's component-type \
             custom sections, so kvhost serve cannot componentize it: build it as a component \
             (`--target wasm32-wasip2`), or from a wit-bindgen 0.5 or newer binding such as spin-sdk 2.0 or newer"
        );
    }
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(bytes)
        .and_then(|encoder| {
            encoder.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|mut encoder| encoder.encode())
        .with_context(|| {
            format!(
                "could not componentize the source of the component {id:?}, {file}, a core module (kvhost serve \
                 adapts a wasm32-wasip1 module with wit-component and the WASI preview1 adapter, as Spin does): \
                 build it as a component (`--target wasm32-wasip2`) or serve it with Spin"
            )
        })?;
    Ok(Cow::Owned(component))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_module_without_component_type_sections_is_refused_saying_why() {
        let refusal = |wat: &str| {
            let module = wat::parse_str(wat).unwrap();
            format!(
                "{:#}",
                componentize_if_necessary("web", Path::new("app/web.wasm"), &module).unwrap_err()
            )
        };
        let message = refusal(r#"(module (func (export "handle-http-request")))"#);
        assert!(message.contains("app/web.wasm"), "{message}");
        assert!(message.contains("old Spin SDK"), "{message}");
        let message = refusal(r#"(module (func (export "_start")))"#);
        assert!(message.contains("WASI command module"), "{message}");
        let message = refusal("(module)");
        assert!(message.contains("component-type"), "{message}");
        assert!(message.contains("\"web\""), "{message}");
    }

    #[test]
    fn a_component_is_used_as_it_is() {
        let component = wat::parse_str("(component)").unwrap();
        let loaded = componentize_if_necessary("c", Path::new("c.wasm"), &component).unwrap();
        assert!(matches!(loaded, Cow::Borrowed(_)));
    }

    #[test]
    fn a_missing_file_is_named_as_missing() {
        let message = format!(
            "{:#}",
            read("web", Path::new("/nonexistent/kvhost/web.wasm")).unwrap_err()
        );
        assert!(
            message.contains(
                "the source of the component \"web\", /nonexistent/kvhost/web.wasm, does not exist"
            ),
            "{message}"
        );
    }
}

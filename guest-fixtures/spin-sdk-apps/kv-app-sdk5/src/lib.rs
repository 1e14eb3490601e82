//! A Spin HTTP application built with spin-sdk 5: a small REST front end to the default key-value store.
//!
//! The component exports `wasi:http/incoming-handler@0.2.0` (through `#[http_component]`) and imports
//! `fermyon:spin/key-value@2.0.0`, whose functions are synchronous.
//!
//! - `GET /kv/<key>`: the value (200), or 404 if the key is absent;
//! - `PUT /kv/<key>`: sets the request body as the value (200, body `stored`);
//! - `DELETE /kv/<key>`: deletes the key (200, body `deleted`; absent keys too);
//! - `GET /keys`: every key in the store, sorted, one per line, each followed by `\n`;
//! - `GET /file/<path>`: the contents of the file `/<path>` (200), 404 if there is none, or 500 naming the error:
//!   what a host gives the component through the manifest's `files`;
//! - `PUT /file/<path>`: writes the request body to `/<path>` (200, body `written`), or 500 naming the error (a
//!   host mounts `files` read-only unless told otherwise).
//!
//! `<key>` is everything after `/kv/`, percent-decoded (`%2F` is a `/`, `%25` a `%`); an empty or badly
//! encoded key is a 400. Any other path is a 404, any other method on a known path a 405, and a key-value
//! error a 500 whose body names it.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::{Error, Store};

/// What a request asks for.
enum Route {
    /// `/kv/<key>`, with the key decoded.
    Key(String),
    /// `/keys`.
    Keys,
    /// `/file/<path>`, with the path decoded and `/` put before it.
    File(String),
}

#[http_component]
fn handle(req: Request) -> Response {
    let route = match route(req.path()) {
        Ok(Some(route)) => route,
        Ok(None) => return text(404, "no such route".into()),
        Err(message) => return text(400, message),
    };
    if let Route::File(path) = &route {
        return file(req.method(), path, req.body());
    }
    let store = match Store::open_default() {
        Ok(store) => store,
        Err(e) => return kv_error("open", e),
    };
    match (route, req.method()) {
        (Route::Keys, Method::Get) => match store.get_keys() {
            Ok(mut keys) => {
                keys.sort();
                let listing: String = keys.iter().map(|k| format!("{k}\n")).collect();
                Response::new(200, listing)
            }
            Err(e) => kv_error("get-keys", e),
        },
        (Route::Key(key), Method::Get) => match store.get(&key) {
            // The value's bytes need not be UTF-8: answer them unchanged.
            Ok(Some(value)) => Response::new(200, value),
            Ok(None) => text(404, format!("no such key: {key}")),
            Err(e) => kv_error("get", e),
        },
        (Route::Key(key), Method::Put) => match store.set(&key, req.body()) {
            Ok(()) => text(200, "stored".into()),
            Err(e) => kv_error("set", e),
        },
        (Route::Key(key), Method::Delete) => match store.delete(&key) {
            Ok(()) => text(200, "deleted".into()),
            Err(e) => kv_error("delete", e),
        },
        (_, method) => text(405, format!("method {method} not allowed")),
    }
}

/// `/file/<path>`: reads or writes the file through WASI.
fn file(method: &Method, path: &str, body: &[u8]) -> Response {
    match method {
        Method::Get => match std::fs::read(path) {
            Ok(contents) => Response::new(200, contents),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                text(404, format!("no such file: {path}"))
            }
            Err(e) => text(500, format!("could not read {path}: {e}")),
        },
        Method::Put => match std::fs::write(path, body) {
            Ok(()) => text(200, "written".into()),
            Err(e) => text(500, format!("could not write {path}: {e}")),
        },
        method => text(405, format!("method {method} not allowed")),
    }
}

/// A one-line text answer.
fn text(status: u16, line: String) -> Response {
    Response::new(status, line + "\n")
}

/// A 500 naming the key-value operation that failed and its error.
fn kv_error(operation: &str, error: Error) -> Response {
    text(500, format!("key-value {operation} failed: {error:?}"))
}

/// The route a path names: `Ok(None)` for no route, `Err` for a `/kv/` path whose key is empty or malformed.
fn route(path: &str) -> Result<Option<Route>, String> {
    if path == "/keys" {
        return Ok(Some(Route::Keys));
    }
    if let Some(encoded) = path.strip_prefix("/file/") {
        return match percent_decode(encoded) {
            Some(file) if !file.is_empty() => Ok(Some(Route::File(format!("/{file}")))),
            Some(_) => Err("empty file path".to_string()),
            None => Err("malformed file path: bad percent-encoding or not UTF-8".to_string()),
        };
    }
    let Some(encoded) = path.strip_prefix("/kv/") else {
        return Ok(None);
    };
    match percent_decode(encoded) {
        Some(key) if !key.is_empty() => Ok(Some(Route::Key(key))),
        Some(_) => Err("empty key".to_string()),
        None => Err("malformed key: bad percent-encoding or not UTF-8".to_string()),
    }
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

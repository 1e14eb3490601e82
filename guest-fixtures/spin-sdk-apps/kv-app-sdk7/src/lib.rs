//! A Spin HTTP application built with spin-sdk 7: a small REST front end to the default key-value store.
//!
//! The component exports `wasi:http/handler@0.3.0` (through `#[http_service]`) and imports
//! `spin:key-value/key-value@3.0.0`, whose functions are async and whose `get-keys` is a stream plus a future.
//!
//! - `GET /kv/<key>`: the value (200, `application/octet-stream`), or 404 if the key is absent;
//! - `PUT /kv/<key>`: sets the request body as the value (200, body `stored`);
//! - `DELETE /kv/<key>`: deletes the key (200, body `deleted`; absent keys too);
//! - `GET /keys`: every key in the store, sorted, one per line, each followed by `\n`.
//!
//! `<key>` is everything after `/kv/`, percent-decoded (`%2F` is a `/`, `%25` a `%`); an empty or badly
//! encoded key is a 400. Any other path is a 404, any other method on a known path a 405, and a key-value
//! error a 500 whose body names it.

use bytes::Bytes;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, IntoResponse, Method, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;

/// What a request asks for.
enum Route {
    /// `/kv/<key>`, with the key decoded.
    Key(String),
    /// `/keys`.
    Keys,
}

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let (status, body) = respond(req).await;
    (status, FullBody::new(body))
}

/// The status and body that answer `req`.
async fn respond(req: Request) -> (StatusCode, Bytes) {
    let route = match route(req.uri().path()) {
        Ok(Some(route)) => route,
        Ok(None) => return text(StatusCode::NOT_FOUND, "no such route".into()),
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let store = match Store::open_default().await {
        Ok(store) => store,
        Err(e) => return kv_error("open", e),
    };
    match (route, req.method().clone()) {
        (Route::Keys, Method::GET) => match store.get_keys().await.collect().await {
            Ok(mut keys) => {
                keys.sort();
                let listing: String = keys.iter().map(|k| format!("{k}\n")).collect();
                (StatusCode::OK, Bytes::from(listing))
            }
            Err(e) => kv_error("get-keys", e),
        },
        (Route::Key(key), Method::GET) => match store.get(&key).await {
            // The value's bytes need not be UTF-8: answer them unchanged.
            Ok(Some(value)) => (StatusCode::OK, Bytes::from(value)),
            Ok(None) => text(StatusCode::NOT_FOUND, format!("no such key: {key}")),
            Err(e) => kv_error("get", e),
        },
        (Route::Key(key), Method::PUT) => {
            let body = match req.into_body().bytes().await {
                Ok(body) => body,
                Err(e) => return text(StatusCode::BAD_REQUEST, format!("reading the body: {e:?}")),
            };
            match store.set(&key, &body).await {
                Ok(()) => text(StatusCode::OK, "stored".into()),
                Err(e) => kv_error("set", e),
            }
        }
        (Route::Key(key), Method::DELETE) => match store.delete(&key).await {
            Ok(()) => text(StatusCode::OK, "deleted".into()),
            Err(e) => kv_error("delete", e),
        },
        (_, method) => text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed"),
        ),
    }
}

/// A one-line text answer.
fn text(status: StatusCode, line: String) -> (StatusCode, Bytes) {
    (status, Bytes::from(line + "\n"))
}

/// A 500 naming the key-value operation that failed and its error.
fn kv_error(operation: &str, error: spin_sdk::key_value::Error) -> (StatusCode, Bytes) {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("key-value {operation} failed: {error:?}"),
    )
}

/// The route a path names: `Ok(None)` for no route, `Err` for a `/kv/` path whose key is empty or malformed.
fn route(path: &str) -> Result<Option<Route>, String> {
    if path == "/keys" {
        return Ok(Some(Route::Keys));
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

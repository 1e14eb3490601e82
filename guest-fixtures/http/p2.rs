//! The HTTP face of a driver, for `wasi:http/incoming-handler@0.2` (see wit/http-driver.wit for the protocol).
//!
//! Included with `#[path]` by each HTTP driver of a sync interface version (v1, v2, wasi:keyvalue), next to the
//! crate's `bindings` (whose `Operation` and `Outcome` carry serde's derives) and its `run`. One file, so the
//! protocol cannot drift between versions.

use std::io::{Read, Write};

use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

use kvconf_driver_common::{Operation, Outcome};

/// The largest script accepted, in bytes of JSON: far above any case kvconf writes (the biggest values are a
/// few kilobytes, written as JSON numbers), far below what would exhaust the component's memory.
const MAX_SCRIPT_BYTES: usize = 64 * 1024 * 1024;

struct Handler;

wasi::http::proxy::export!(Handler);

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let script = match read_script(&request) {
            Ok(script) => script,
            Err(reason) => return respond(out, 400, reason.as_bytes()),
        };
        let Some((body, mut stream)) = start_response(out, 200, "application/x-ndjson") else {
            return;
        };
        crate::run(script, &mut |_, outcome: &Outcome| {
            // A client that went away cannot be told anything; the script still runs to its end, as it
            // would in-process.
            let _ = write_line(&mut stream, outcome);
        });
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}

/// The script a request carries: a `POST` whose body is a JSON array of operations.
fn read_script(request: &IncomingRequest) -> Result<Vec<Operation>, String> {
    if !matches!(request.method(), Method::Post) {
        return Err(
            "a kvconf HTTP driver takes a POST whose body is a JSON array of operations".into(),
        );
    }
    let body = request
        .consume()
        .map_err(|()| "the request body was already taken".to_string())?;
    let mut bytes = Vec::new();
    {
        let mut stream = body
            .stream()
            .map_err(|()| "the request body has no stream".to_string())?;
        (&mut stream)
            .take(MAX_SCRIPT_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading the request body: {e}"))?;
    }
    if bytes.len() > MAX_SCRIPT_BYTES {
        return Err(format!("the script is over {MAX_SCRIPT_BYTES} bytes"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the body is not a kvconf script: {e}"))
}

/// Sends the status and headers; the body is written through the returned stream.
fn start_response(
    out: ResponseOutparam,
    status: u16,
    content_type: &str,
) -> Option<(OutgoingBody, wasi::io::streams::OutputStream)> {
    let headers =
        Fields::from_list(&[("content-type".to_string(), content_type.as_bytes().to_vec())])
            .ok()?;
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).ok()?;
    let body = response.body().ok()?;
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().ok()?;
    Some((body, stream))
}

/// A whole answer at once.
fn respond(out: ResponseOutparam, status: u16, text: &[u8]) {
    if let Some((body, mut stream)) = start_response(out, status, "text/plain; charset=utf-8") {
        let _ = stream
            .write_all(text)
            .and_then(|()| Write::flush(&mut stream));
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}

/// One outcome, as a JSON line, flushed so it leaves the host before the next operation starts.
fn write_line(
    stream: &mut wasi::io::streams::OutputStream,
    outcome: &Outcome,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(outcome).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    Write::flush(stream)
}

//! The HTTP face of the v3 driver, for `wasi:http/handler@0.3.0` (see wit/http-driver.wit for the protocol).
//!
//! The same protocol as `p2.rs`: the handler answers with the response at once and a task spawned after it
//! runs the script, writing each outcome to the body stream as a JSON line before the next operation starts.

use crate::bindings::exports::wasi::http::handler::Guest;
use crate::bindings::wasi::http::types::{ErrorCode, Fields, Method, Request, Response};
use crate::bindings::{wit_future, wit_stream};
use kvconf_driver_common::{Operation, Outcome};
use wit_bindgen::StreamResult;

/// The largest script accepted, in bytes of JSON (as in `p2.rs`).
const MAX_SCRIPT_BYTES: usize = 64 * 1024 * 1024;

/// The room, in bytes, each read of the request body is given at least.
const READ_CHUNK: usize = 64 * 1024;

struct Handler;

crate::bindings::export!(Handler with_types_in crate::bindings);

impl Guest for Handler {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let script = match read_script(request).await {
            Ok(script) => script,
            Err(reason) => return respond(400, reason.into_bytes()),
        };
        let (mut body, contents) = wit_stream::new::<u8>();
        let (trailers_out, trailers) = wit_future::new(|| Ok(None));
        let response = new_response(200, "application/x-ndjson", contents, trailers)?;
        wit_bindgen::spawn_local(async move {
            crate::run(script, &mut async |_, outcome: &Outcome| {
                // A client that went away cannot be told anything; the script still runs to its end, as it
                // would in-process.
                if let Ok(mut line) = serde_json::to_vec(outcome) {
                    line.push(b'\n');
                    body.write_all(line).await;
                }
            })
            .await;
            drop(body);
            let _ = trailers_out.write(Ok(None)).await;
        });
        Ok(response)
    }
}

/// The script a request carries: a `POST` whose body is a JSON array of operations.
async fn read_script(request: Request) -> Result<Vec<Operation>, String> {
    if !matches!(request.get_method(), Method::Post) {
        return Err(
            "a kvconf HTTP driver takes a POST whose body is a JSON array of operations".into(),
        );
    }
    let (_consumed, done) = wit_future::new(|| Ok(()));
    let (mut stream, _trailers) = Request::consume_body(request, done);
    // Read in chunks: each `read` is a call into the host and a wait, and the stream's `next` reads one byte
    // (a script with a mebibyte value is megabytes of JSON).
    let mut bytes = Vec::new();
    loop {
        bytes.reserve(READ_CHUNK);
        let (result, read) = stream.read(bytes).await;
        bytes = read;
        if bytes.len() > MAX_SCRIPT_BYTES {
            return Err(format!("the script is over {MAX_SCRIPT_BYTES} bytes"));
        }
        if !matches!(result, StreamResult::Complete(_)) {
            break;
        }
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the body is not a kvconf script: {e}"))
}

/// A response with `status`, `content-type` and the given body.
fn new_response(
    status: u16,
    content_type: &str,
    contents: wit_bindgen::StreamReader<u8>,
    trailers: wit_bindgen::FutureReader<Result<Option<Fields>, ErrorCode>>,
) -> Result<Response, ErrorCode> {
    let headers =
        Fields::from_list(&[("content-type".to_string(), content_type.as_bytes().to_vec())])
            .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
    let (response, _sent) = Response::new(headers, Some(contents), trailers);
    response
        .set_status_code(status)
        .map_err(|()| ErrorCode::InternalError(Some(format!("status {status}"))))?;
    Ok(response)
}

/// A whole answer at once.
fn respond(status: u16, text: Vec<u8>) -> Result<Response, ErrorCode> {
    let (mut body, contents) = wit_stream::new::<u8>();
    let (trailers_out, trailers) = wit_future::new(|| Ok(None));
    let response = new_response(status, "text/plain; charset=utf-8", contents, trailers)?;
    wit_bindgen::spawn_local(async move {
        body.write_all(text).await;
        drop(body);
        let _ = trailers_out.write(Ok(None)).await;
    });
    Ok(response)
}

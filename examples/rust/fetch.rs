//! fetch is a Rust action (reactor ABI) that fetches the URL given in its
//! parameters, {"url": "http://..."}, through the host's outbound HTTP and
//! answers {"status": 200, "body": "..."}; a refused host, a timeout or an
//! oversized response answers {"error": "code N: ..."}. The action
//! needs the annotation faasedge-allowed-hosts naming the URL's host.
//!
//!     rustc --edition 2021 --target wasm32-wasi -O --crate-type cdylib \
//!       --extern faasedge=libfaasedge.rlib -o fetch.wasm fetch.rs
//!     wsk action create fetch fetch.wasm --kind wasm:wasip1 \
//!       -a faasedge-allowed-hosts '["example.com"]'

use faasedge::{json_string, param, Buffers};

static mut BUFFERS: Buffers = Buffers::new();

#[no_mangle]
pub extern "C" fn faasedge_alloc(size: u32) -> *mut u8 {
    unsafe { BUFFERS.alloc(size) }
}

#[no_mangle]
pub extern "C" fn faasedge_run(_ptr: *const u8, size: u32) -> u64 {
    let buffers = unsafe { &mut BUFFERS };
    let request = String::from_utf8_lossy(&buffers.request[..size as usize]).into_owned();
    buffers.respond(answer(&request))
}

// answer handles one request, {"value": {"url": ...}, "env": {...}}.
fn answer(request: &str) -> String {
    let url = match param(request, "url") {
        Some(url) => url,
        None => return r#"{"error":"parameter url is required"}"#.to_string(),
    };
    eprintln!("fetching {}", url);
    match faasedge::http("GET", url, &[("User-Agent", "faasedge-rust-example")], b"") {
        Ok(resp) => format!(
            r#"{{"status":{},"body":{}}}"#,
            resp.status,
            json_string(&String::from_utf8_lossy(&resp.body))
        ),
        Err(e) => format!(r#"{{"error":{}}}"#, json_string(&format!("code {}: {}", e.code, e.message))),
    }
}

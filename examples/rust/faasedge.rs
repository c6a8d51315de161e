//! The FaaS@Edge host capabilities for Rust actions (target wasm32-wasi),
//! and the reactor ABI's request buffer. The executor package's
//! documentation is the ABI's reference.
//!
//!     rustc --edition 2021 --target wasm32-wasi -O --crate-type rlib faasedge.rs

#[link(wasm_import_module = "faasedge")]
extern "C" {
    #[link_name = "result"]
    fn host_result(buf: *mut u8, cap: u32) -> u32;
    #[link_name = "http_request"]
    fn host_http_request(req: *const u8, len: u32) -> i64;
}

/// A host capability's failure: its error code and text.
#[derive(Debug)]
pub struct Error {
    pub code: i64,
    pub message: String,
}

/// The error codes.
pub const NOT_ALLOWED: i64 = 1;
pub const DNS: i64 = 2;
pub const TIMEOUT: i64 = 3;
pub const TOO_LARGE: i64 = 4;
pub const BAD_REQUEST: i64 = 5;
pub const UNAVAILABLE: i64 = 6;
pub const NOT_FOUND: i64 = 7;

const ERROR_MAX: usize = 1024;

fn take(n: i64) -> Result<Vec<u8>, Error> {
    if n < 0 {
        let mut msg = vec![0u8; ERROR_MAX];
        let m = unsafe { host_result(msg.as_mut_ptr(), ERROR_MAX as u32) } as usize;
        msg.truncate(m);
        return Err(Error { code: -n, message: String::from_utf8_lossy(&msg).into_owned() });
    }
    let mut out = vec![0u8; n as usize];
    let m = unsafe { host_result(out.as_mut_ptr(), n as u32) } as usize;
    out.truncate(m);
    Ok(out)
}

/// An HTTP response: its status, header lines and body.
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Sends a request through the host's outbound HTTP; the action needs the
/// annotation faasedge-allowed-hosts naming the URL's host.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, Error> {
    let authority = url.split("://").nth(1).unwrap_or(url);
    let host = authority.split(|c| c == '/' || c == '?' || c == '#').next().unwrap_or("");
    let mut req = format!("{} {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", method, url, host, body.len());
    for (k, v) in headers {
        req.push_str(&format!("{}: {}\r\n", k, v));
    }
    req.push_str("\r\n");
    let mut raw = req.into_bytes();
    raw.extend_from_slice(body);
    let resp = take(unsafe { host_http_request(raw.as_ptr(), raw.len() as u32) })?;
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(resp.len());
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = resp[(split + 4).min(resp.len())..].to_vec();
    Ok(Response { status, head, body })
}

/// Quotes s as a JSON string.
pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The string value of "key" in a JSON text, without unescaping, for
/// simple parameters such as URLs.
pub fn param<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{}\"", key);
    let rest = &json[json.find(&pat)? + pat.len()..];
    let rest = &rest[rest.find('"')? + 1..];
    Some(&rest[..rest.find('"')?])
}

/// The reactor ABI's buffers: the request the host writes and the
/// response it reads, both kept until the next call.
pub struct Buffers {
    pub request: Vec<u8>,
    pub response: Vec<u8>,
}

impl Buffers {
    pub const fn new() -> Buffers {
        Buffers { request: Vec::new(), response: Vec::new() }
    }

    /// faasedge_alloc: a buffer of size bytes for the next request.
    pub fn alloc(&mut self, size: u32) -> *mut u8 {
        self.request = vec![0u8; size as usize];
        self.request.as_mut_ptr()
    }

    /// faasedge_run's return value for the response.
    pub fn respond(&mut self, response: String) -> u64 {
        self.response = response.into_bytes();
        ((self.response.as_ptr() as u64) << 32) | self.response.len() as u64
    }
}

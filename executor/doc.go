// Package executor runs OpenWhisk actions compiled to WebAssembly (kind
// wasm:wasip1) in wazero, with OpenWhisk's limits, status codes, error texts
// and log format, so that the invoker can hand it an activation and record
// what comes back exactly as the stock invoker would.
//
// # Code
//
// An action (activation.Action) has inline code (Code.Inline: raw wasm,
// base64 wasm when Binary is set or the text looks like base64, or a zip
// holding one .wasm, Main naming the entry when there are several) or code
// by CID (Code.CID), which the Fetcher given WithFetcher resolves within
// the action's timeout. Compiled modules are cached in memory by
// Code.Key() (the least recently used beyond 256 are dropped) and,
// WithDataDir, on disk in wazero's compilation cache, so a restart does
// not compile again. Compiling is not bounded by the action's timeout, as
// starting a container is not in the stock invoker. Callers that run the
// same code often should set Code.Digest: hashing megabytes of code costs
// more than a warm run.
//
// # Command ABI
//
// A module that exports _start is a command, instantiated afresh for every
// activation, like a process:
//   - stdin holds the activation's value as one line of compact JSON ended by
//     a newline ({} when there is none);
//   - the environment holds the init args and the __OW_* values derived
//     from the invocation (activation.Invocation.Env), argv[0] is the
//     action's short name;
//   - the result is the last non-empty line of stdout, a JSON object or
//     array; every other stdout line and every stderr line is a log line;
//   - exit code 0 (or returning from _start) is a normal end. A non-zero exit
//     is a developer error: its last line is the result when it is a JSON
//     object with "error", else the stock "did not produce a valid response"
//     text.
//
// # Reactor ABI
//
// A module without _start that exports
//
//	faasedge_alloc(size i32) -> (ptr i32)
//	faasedge_run(ptr i32, size i32) -> (result i64)
//
// is a reactor: it is instantiated once (calling _initialize when exported,
// which is how Go's -buildmode=c-shared starts its runtime), kept in a pool
// and reused across activations of the same action, like a warm container.
// For each activation the executor writes the request into a buffer in the
// guest's memory and calls faasedge_run with its address and size. The
// buffer comes from faasedge_alloc(size); the guest must keep it valid
// (and unused by anything else) until the next faasedge_alloc, because the
// executor writes later requests that fit into it without calling
// faasedge_alloc again. The request is the JSON object
// {"value": <the activation's value>, "env": {<__OW_* values and init args>}}.
// faasedge_run returns (ptr << 32 | size) of the response in the guest's
// memory, which must stay valid until the next call; the response is read
// like a command's result line. When the action's Main names another
// exported function with faasedge_run's signature, that function is the
// entry instead. An instance's environment holds the init args and the
// action's name and version; per-activation values come in the request.
// stdout and stderr lines written during a call are the activation's logs.
//
// A Go reactor is a main package with an empty main and two
// //go:wasmexport functions, built with GOOS=wasip1 GOARCH=wasm go build
// -buildmode=c-shared; it pays its runtime start once per instance instead
// of once per activation (internal/wasmtest/testdata/reactorconst is one).
// The Go SDK, package action, implements both ABIs, for a typed handler
// (Run) or one over raw JSON (RunRaw).
//
// Each action has its own pool of up to limits.concurrency instances, each
// serving one activation at a time. Instances stay pooled while the memory
// of all live reactor instances is within the budget (WithMemoryBudget);
// beyond it idle instances of other actions are closed first, then the
// instance that just finished. A trap, a timeout or a developer error
// discards the instance, as the stock invoker destroys a container.
//
// # Limits and isolation
//
// Before wazero sees a module, its custom sections are dropped as it is
// read (out of a zip or base64 too, never more than 256 MB), and its
// structure is checked without allocating for what it declares: every
// declared count and size must fit the bytes that follow and the
// WebAssembly JS API's limits, and the host memory its declarations take
// once loaded must fit the action's memory limit. CheckCode applies the
// same check when an action is created. A panic inside wazero during
// compile, instantiate or call is recovered and mapped like the failure of
// that step.
//
// limits.memory caps each instance's linear memory (a module that needs more
// at start, or fails after a refused memory.grow, gets the stock "exhausted
// its memory" error); limits.timeout bounds a reactor's initialisation and
// every run, and a runaway loop is stopped through wazero's
// WithCloseOnContextDone;
// limits.logs caps the log bytes as the stock collector counts them; a result
// larger than Invocation.MaxPayload becomes the stock truncated-response
// application error. Guests see no host filesystem and no network: only the
// read-only mounts given WithMount, stdio, real clocks, crypto/rand and
// the host capabilities they are given. A host call is bounded by the
// activation's time limit.
//
// Each instance sees the mounts through its own meter: the time its guest
// spends in opens, stats, directory listings and reads on them (waiting
// for /ipfs blocks from the store or from peers, or for /data's disk),
// and the bytes it reads, are the activation's Result.Fetch, counted
// without a lock on the instance that serves it.
//
// # Host capabilities
//
// Beyond WASI, a module may import functions of the host module
// "faasedge". Each capability is off unless the action's annotations give
// it; a module that imports a function the action is not given fails at
// start with a developer error naming it ("link error: the action's module
// imports faasedge.kv_get, which the action is not given (...)").
//
//	faasedge.http_request(req i32, req_len i32) -> i64   faasedge-allowed-hosts
//	faasedge.kv_get(key i32, key_len i32) -> i64         faasedge-kv: true
//	faasedge.kv_set(key i32, key_len i32, val i32, val_len i32) -> i64
//	faasedge.kv_delete(key i32, key_len i32) -> i64
//	faasedge.kv_list(prefix i32, prefix_len i32) -> i64
//	faasedge.ipfs_add(data i32, data_len i32) -> i64     faasedge-ipfs-add: true
//	faasedge.result(buf i32, buf_cap i32) -> i32
//
// Arguments are (pointer, length) pairs in the guest's memory. A call
// returns the length of its result, which the host holds until the guest
// takes it with faasedge.result (copying at most buf_cap bytes and
// returning the count), or a negated error code, with the error's text (at
// most 1024 bytes) held the same way:
//
//	1 not allowed  (host not in the allow-list)   5 bad request  (malformed input)
//	2 DNS failure                                 6 unavailable  (connection or store failed)
//	3 timeout      (time budget spent)            7 not found    (no such key)
//	4 too large    (over the byte budget or a size limit)
//
// http_request takes an HTTP/1.1 request with an absolute URL (as Go's
// Request.WriteProxy writes it) and returns the HTTP/1.1 response with a
// Content-Length; redirects are not followed. The request's host (and
// port, when the entry names one) must match an entry of the action's
// faasedge-allowed-hosts annotation (a JSON array, or one comma-separated
// string, of host names or IPs, "*.domain" for subdomains, "*" for any)
// and, when the node's operator set one (WithHTTPPolicy), of theirs too.
// The bytes an activation sends and receives, headers included, and the
// time its requests take are bounded by a budget, faasedge-http-budget
// {"bytes": N, "ms": M}, capped by the action's memory and time limits
// (DefaultHTTPBytes and the action's timeout when not given) and by the
// operator's policy.
//
// The key-value functions read and write the store given WithKeyValue,
// scoped to the action's namespace (the first segment of its path, so the
// actions of a namespace and of its packages share it; no call reaches
// another namespace's keys). Keys are UTF-8, 1 to MaxKeyBytes bytes;
// values at most MaxValueBytes; kv_get of a missing key fails with 7;
// kv_list returns a JSON array of up to MaxListKeys keys with the prefix,
// in byte order. ipfs_add adds the bytes to the IPFS node given
// WithPublisher and returns the CIDv0 text, as Kubo's ipfs add.
//
// # Action proxy
//
// Proxy serves OpenWhisk's action runtime protocol (POST /init and /run) over
// an Executor, so that a stock Docker-based invoker can run wasm:wasip1
// actions through a container image of `faasedge exec --proxy :8080`.
package executor

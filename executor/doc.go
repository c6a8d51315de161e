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
// of once per activation (internal/wasmtest/testdata/reactor is one).
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
// read-only mounts given WithMount, stdio, real clocks and crypto/rand.
//
// # Action proxy
//
// Proxy serves OpenWhisk's action runtime protocol (POST /init and /run) over
// an Executor, so that a stock Docker-based invoker can run wasm:wasip1
// actions through a container image of `faasedge exec --proxy :8080`.
package executor

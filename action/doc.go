// Package action is the Go SDK for FaaS@Edge actions: OpenWhisk actions of
// kind wasm:wasip1, built with GOOS=wasip1 GOARCH=wasm.
//
// An action is a main package whose main calls Run with a function from
// typed parameters to a typed result:
//
//	type Params struct{ Name string `json:"name"` }
//	type Greeting struct{ Greeting string `json:"greeting"` }
//
//	func main() {
//		action.Run(func(ctx context.Context, p Params) (Greeting, error) {
//			if p.Name == "" {
//				return Greeting{}, errors.New("name is required")
//			}
//			slog.Info("greeting", "name", p.Name)
//			return Greeting{"Hello, " + p.Name + "!"}, nil
//		})
//	}
//
// RunRaw takes a function over the parameters' JSON and the result's
// instead, for an action that has its answer as JSON already.
//
// # Building
//
// Build a reactor, which the executor instantiates once and keeps warm
// across activations, as a C shared library:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .
//
// The same source built without -buildmode=c-shared is a command module,
// which starts afresh (and pays the Go runtime's start) on every
// activation: the one flag chooses the ABI. The executor package documents
// both ABIs; this package implements them.
//
// # What an action sees
//
// The handler's context carries the activation's __OW_* values
// (FromContext) and its deadline. Lines the action writes with log/slog,
// the standard logger or to stdout and stderr are the activation's logs. An
// error the handler returns is OpenWhisk's application error
// ({"error": ...}, status "application error"); a panic is the action's
// failure ("developer error"), and a reactor's instance is discarded.
//
// # Host capabilities
//
// Each is off unless the action is given it by an annotation:
//
//   - outbound HTTP (Fetch, or an http.Client from package actionhttp)
//     with faasedge-allowed-hosts,
//     a list of host names ("api.example.com", "*.example.com",
//     "127.0.0.1:8080"), and optionally faasedge-http-budget
//     {"bytes": N, "ms": M};
//   - the namespace's key-value store (KV) with faasedge-kv=true;
//   - publishing to IPFS (IPFSAdd) with faasedge-ipfs-add=true.
//
// A module is linked only against the host functions its code can reach;
// one that reaches a capability the action is not given fails at start
// with a link error naming the function. Failures of a capability are
// *HostError values that match the package's sentinel errors (ErrNotAllowed,
// ErrDNS, ErrTimeout, ErrTooLarge, ...) with errors.Is.
//
// Outside WebAssembly, Run reads the parameters as one JSON line on stdin
// and prints the result, so an action can be tried with go run, and the
// host capabilities fail with ErrNoHost.
package action

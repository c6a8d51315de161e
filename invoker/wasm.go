package invoker

import (
	"context"

	"github.com/faasedge/faasedge/executor"
)

// WasmRunner runs wasm:* actions on the local WebAssembly executor.
type WasmRunner struct {
	Executor *executor.Executor
}

// Run implements Runner.
func (w WasmRunner) Run(ctx context.Context, a *Action, inv Invocation) Result {
	// Action.Code is already decoded, so the executor sniffs raw wasm or a
	// zip rather than decoding base64 again.
	r := w.Executor.Run(ctx, &executor.Action{
		Name: a.Name, Namespace: a.Namespace, Version: a.Version, Kind: a.Kind,
		Code: a.Code, Main: a.Main, Digest: a.Digest, Limits: a.Limits,
	}, executor.Activation{Value: inv.Value, Env: inv.Env, MaxPayload: inv.MaxPayload})
	return Result(r)
}

// LocalRunner is the stock runner set of a FaaS@Edge invoker: wasm kinds on
// ex, nodejs actions on js (a fresh JSRunner when nil), every other kind a
// developer error naming it.
func LocalRunner(ex *executor.Executor, js *JSRunner) Kinds {
	if js == nil {
		js = &JSRunner{}
	}
	return Kinds{"wasm": WasmRunner{Executor: ex}, "nodejs": js}
}

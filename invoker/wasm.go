package invoker

import (
	"context"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
)

// WasmRunner runs wasm:* actions on the local WebAssembly executor.
type WasmRunner struct {
	Executor *executor.Executor
}

// Run implements Runner.
func (w WasmRunner) Run(ctx context.Context, a *activation.Action, in activation.Invocation) activation.Result {
	return w.Executor.Run(ctx, a, in)
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

package executor

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/faasedge/faasedge/activation"
)

// recovered runs f, one call into wazero (compile, instantiate or call),
// and turns a panic in it into an error, so that no module can take the
// process down: the caller maps it like any failure of that step (a
// refused memory to the stock "exhausted its memory" error, anything else
// to the stock abnormal-exit error). The stack is logged, as a panic in
// wazero is a bug to report upstream.
//
// wazero compiles on the calling goroutine unless
// experimental.WithCompilationWorkers asks for more; the executor never
// does, since a panic on one of those goroutines could not be recovered.
func recovered(log *slog.Logger, step string, a *activation.Action, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("executor: wazero panicked", "step", step, "action", a.Name.DocID(),
				"panic", p, "stack", string(debug.Stack()))
			err = &panicError{p}
		}
	}()
	return f()
}

// panicError is a recovered panic.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

package executor

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
)

// BenchmarkCompileHello compiles examples/hello (the Go SDK's sample, a
// module of several MB) in a fresh runtime per iteration, under the wazero
// options that change the cost; MB/s is compile throughput. The executor
// compiles with termination checks (WithCloseOnContextDone, so a timed-out
// action can be stopped) and no debug info; on the activation path with
// one worker per core, ahead of time with one worker.
func BenchmarkCompileHello(b *testing.B) {
	raw := wasmtest.SourceBytes(b, wasmtest.Reactor, filepath.Join(testenv.ModuleRoot(b), "examples", "hello"))
	code, err := decodeModule(raw, false, "") // custom sections dropped, as a run does
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name      string
		terminate bool
		workers   int
	}{
		{"executor-workers-1", true, 1},
		{fmt.Sprintf("executor-workers-%d", runtime.GOMAXPROCS(0)), true, runtime.GOMAXPROCS(0)},
		{"no-termination-checks-workers-1", false, 1},
	} {
		b.Run(v.name, func(b *testing.B) {
			ctx := experimental.WithCompilationWorkers(context.Background(), v.workers)
			b.SetBytes(int64(len(code)))
			for range b.N {
				rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(v.terminate).WithDebugInfoEnabled(false))
				if _, err := rt.CompileModule(ctx, code); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = rt.Close(ctx)
				b.StartTimer()
			}
		})
	}
}

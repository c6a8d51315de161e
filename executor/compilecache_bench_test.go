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
// one worker per core, ahead of time with one worker. Beside them: the
// interpreter (which only decodes and validates up front), and a fresh
// runtime finding the compiled module in a shared compilation cache
// directory, as a restarted process, another executor on the same data
// directory or a run after prewarming does (disk-cache-hit).
func BenchmarkCompileHello(b *testing.B) {
	raw := wasmtest.SourceBytes(b, wasmtest.Reactor, filepath.Join(testenv.ModuleRoot(b), "examples", "hello"))
	code, err := decodeModule(raw, false, "") // custom sections dropped, as a run does
	if err != nil {
		b.Fatal(err)
	}
	cacheDir := b.TempDir()
	warm, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		b.Fatal(err)
	}
	executorConfig := func() wazero.RuntimeConfig {
		return wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithDebugInfoEnabled(false)
	}
	{ // fill the shared cache
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, executorConfig().WithCompilationCache(warm))
		if _, err := rt.CompileModule(ctx, code); err != nil {
			b.Fatal(err)
		}
		_ = rt.Close(ctx)
		_ = warm.Close(ctx)
	}
	for _, v := range []struct {
		name    string
		config  func() wazero.RuntimeConfig
		workers int
	}{
		{"executor-workers-1", executorConfig, 1},
		{fmt.Sprintf("executor-workers-%d", runtime.GOMAXPROCS(0)), executorConfig, runtime.GOMAXPROCS(0)},
		{"no-termination-checks-workers-1", func() wazero.RuntimeConfig {
			return wazero.NewRuntimeConfig().WithDebugInfoEnabled(false)
		}, 1},
		{"interpreter", func() wazero.RuntimeConfig {
			return wazero.NewRuntimeConfigInterpreter().WithCloseOnContextDone(true).WithDebugInfoEnabled(false)
		}, 1},
		{"disk-cache-hit", func() wazero.RuntimeConfig {
			c, err := wazero.NewCompilationCacheWithDir(cacheDir)
			if err != nil {
				b.Fatal(err)
			}
			return executorConfig().WithCompilationCache(c)
		}, 1},
	} {
		b.Run(v.name, func(b *testing.B) {
			ctx := experimental.WithCompilationWorkers(context.Background(), v.workers)
			b.SetBytes(int64(len(code)))
			for range b.N {
				b.StopTimer()
				cfg := v.config()
				b.StartTimer()
				rt := wazero.NewRuntimeWithConfig(ctx, cfg)
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

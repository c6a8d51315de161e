package executor

import (
	"context"
	"fmt"
	"testing"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/wasmtest"

	"github.com/faasedge/faasedge/whisk"
)

// benchModules are the modules the benchmarks compare. Digest is set, as an
// invoker sets it from the action's revision: hashing megabytes of Go code
// per run would otherwise dominate a warm run.
var benchModules = []struct {
	name  string
	mod   testModule
	value string
}{
	{"wat-tiny", watEcho, `{"name":"World"}`},
	{"go-command", goEcho, `{"name":"World"}`},
	{"go-reactor", goReactor, `{"name":"World"}`},
	// The executor's own cost of a reactor call, with guests that do
	// nothing: the Go reactor's figure minus these is the guest's JSON work.
	{"wat-reactor", watReactor, `{"name":"World"}`},
	{"go-reactor-const", testModule{wasmtest.Reactor, "reactorconst"}, `{"name":"World"}`},
}

func benchAction(b *testing.B, m testModule, version string) *activation.Action {
	return &activation.Action{Name: activation.FQN{Path: "guest", Name: "bench"}, Version: version, Code: activation.Code{Inline: m.bytes(b), Digest: m.name + "-" + m.kind.String()},
		Limits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}}
}

func mustRun(b *testing.B, e *Executor, a *activation.Action, value string) activation.Result {
	res := e.Run(context.Background(), a, activation.Invocation{Value: []byte(value)})
	if res.Response.StatusCode != whisk.StatusSuccess {
		b.Fatalf("%v: %s", res.Response.StatusCode, res.Response.Result)
	}
	return res
}

// BenchmarkWarm is one activation of an action whose module is compiled
// and, for a reactor, whose instance is pooled.
func BenchmarkWarm(b *testing.B) {
	for _, bm := range benchModules {
		b.Run(bm.name, func(b *testing.B) {
			e := newExecutor(b)
			a := benchAction(b, bm.mod, "0.0.1")
			mustRun(b, e, a, bm.value)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				mustRun(b, e, a, bm.value)
			}
		})
	}
}

// BenchmarkCold is a fresh executor's first activation: compile (or load
// from the disk cache a previous executor left), instantiate, initialise
// and run.
func BenchmarkCold(b *testing.B) {
	for _, bm := range benchModules {
		for _, cache := range []string{"no-cache", "disk-cache"} {
			b.Run(bm.name+"/"+cache, func(b *testing.B) {
				var opts []Option
				if cache == "disk-cache" {
					opts = append(opts, WithDataDir(b.TempDir()))
					e, err := New(context.Background(), opts...)
					if err != nil {
						b.Fatal(err)
					}
					mustRun(b, e, benchAction(b, bm.mod, "0.0.1"), bm.value)
					_ = e.Close(context.Background())
				}
				a := benchAction(b, bm.mod, "0.0.1")
				b.ResetTimer()
				for range b.N {
					e, err := New(context.Background(), opts...)
					if err != nil {
						b.Fatal(err)
					}
					if res := mustRun(b, e, a, bm.value); !res.Cold {
						b.Fatal("not a cold start")
					}
					b.StopTimer()
					_ = e.Close(context.Background())
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkReactorInstance creates one pooled Go reactor instance per
// iteration (instantiate, _initialize, first call), and reports the linear
// memory each pooled instance uses and what it counts against the budget
// (the capacity of its buffer, rounded up to a power of two).
func BenchmarkReactorInstance(b *testing.B) {
	e := newExecutor(b)
	mustRun(b, e, benchAction(b, goReactor, "warm-up"), `{}`)
	b.ResetTimer()
	for i := range b.N {
		if res := mustRun(b, e, benchAction(b, goReactor, fmt.Sprint(i)), `{}`); !res.Cold {
			b.Fatal("not a cold start")
		}
	}
	b.StopTimer()
	var size, reserved, instances int64
	e.mu.Lock()
	for _, p := range e.pools {
		p.mu.Lock()
		for _, inst := range p.idle {
			size += int64(inst.mod.Memory().Size())
			reserved += inst.bytes
			instances++
		}
		p.mu.Unlock()
	}
	e.mu.Unlock()
	b.ReportMetric(float64(size)/float64(instances), "memory-bytes/instance")
	b.ReportMetric(float64(reserved)/float64(instances), "budget-bytes/instance")
}

package standalone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
)

// BenchmarkFirstInvokeHello creates examples/hello (the Go SDK's sample,
// several MB) on a fresh standalone and times its first blocking invoke
// through the whole stack: compiled on that invoke (compile-at-create off)
// against compiled when the action was created (the invoke is made once
// the compile is done; create-to-ready-ms is how long that took). An
// iteration is a new stack on a new data directory, so no compiled code
// survives from the one before. p50-ms is the median first invoke.
func BenchmarkFirstInvokeHello(b *testing.B) {
	code := wasmtest.SourceBytes(b, wasmtest.Reactor, filepath.Join(testenv.ModuleRoot(b), "examples", "hello"))
	sum := sha256.Sum256(code)
	key := activation.Code{Digest: "sha256-" + hex.EncodeToString(sum[:])}
	for _, v := range []struct {
		name       string
		concurrent int
	}{{"compile-on-first-invoke", -1}, {"compile-at-create", 1}} {
		b.Run(v.name, func(b *testing.B) {
			var ready time.Duration
			var lat []time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ctx := context.Background()
				s, err := Start(ctx, Config{DataDir: b.TempDir(), APIAddr: "127.0.0.1:0", Compile: executor.CompileBudget{Concurrent: v.concurrent}})
				if err != nil {
					b.Fatal(err)
				}
				wctx, cancel := context.WithTimeout(ctx, time.Minute)
				err = s.WaitReady(wctx)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				wsk := wskClient(b, s.APIHost(), controller.GuestAuth)
				created := time.Now()
				if _, _, err := wsk.Actions.Insert(wasmAction("hello", code), false); err != nil {
					b.Fatal(err)
				}
				if v.concurrent > 0 {
					for !s.work.Executor().Ready(key) {
						time.Sleep(5 * time.Millisecond)
					}
					ready += time.Since(created)
				}
				b.StartTimer()
				start := time.Now()
				res, _, err := wsk.Actions.Invoke("hello", map[string]any{"name": "bench"}, true, true)
				lat = append(lat, time.Since(start))
				b.StopTimer()
				if err != nil {
					b.Fatalf("invoke: %v %v", res, err)
				}
				_ = s.Close(ctx)
			}
			if v.concurrent > 0 {
				b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "create-to-ready-ms")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
		})
	}
}

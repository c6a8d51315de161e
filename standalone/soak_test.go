package standalone

import (
	"archive/zip"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
	fw "github.com/faasedge/faasedge/whisk"
)

// soakWarmup is the share of the run (of -benchtime when it is a time)
// that warms the stack up (every action compiled on the invoker and both
// edge nodes, pools, caches and the Go heap filled) before the RSS that
// growth is measured from; with -benchtime Nx, soakWarmupRuns invocations.
const (
	soakWarmup     = 0.2
	soakWarmupRuns = 1000
)

// warmupEnd is when the soak's warm-up ends.
func warmupEnd(start time.Time) func(n int) bool {
	d, err := time.ParseDuration(flag.Lookup("test.benchtime").Value.String())
	if err != nil {
		return func(n int) bool { return n >= soakWarmupRuns }
	}
	end := start.Add(time.Duration(float64(d) * soakWarmup))
	return func(int) bool { return time.Now().After(end) }
}

// BenchmarkSoak drives the standalone, as `faasedge standalone` starts it
// (an invoker and two edge nodes), with mixed load through REST: well
// behaved actions (WAT and Go commands, a Go reactor) and hostile ones (an
// initial memory over the limit, an export bomb by CID, a zip whose module
// carries a 16 MiB custom section, a memory-grow loop, an infinite loop, a
// trap), four clients at a time. The process's RSS is sampled; reported
// are RSS at the start, after soakWarmup invocations, at the end and its
// growth since warm-up. Every answer must be the stock one. `make soak`
// runs it for an hour; -benchtime sets another length.
func BenchmarkSoak(b *testing.B) {
	ctx := context.Background()
	s, err := Start(ctx, Config{DataDir: b.TempDir(), APIAddr: "127.0.0.1:0", Invokers: 1, UserMemory: 1024 * fw.MB,
		EdgeNodes: 2, EdgeMemory: 512 * fw.MB})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(ctx) })
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.WaitReady(wctx); err != nil {
		b.Fatal(err)
	}
	wsk := wskClient(b, s.APIHost(), controller.GuestAuth)
	insert := func(a *whisk.Action, limits *whisk.Limits) {
		a.Limits = limits
		if _, _, err := wsk.Actions.Insert(a, true); err != nil {
			b.Fatalf("%s: %v", a.Name, err)
		}
	}
	echo := wasmtest.WATModule(b, "echo")
	bomb, err := s.IPFS().Add(ctx, bytes.NewReader(wasmtest.ExportBomb(1<<24)), 0)
	if err != nil {
		b.Fatal(err)
	}
	short := &whisk.Limits{Timeout: ptr(200)}
	insert(wasmAction("echo", echo), nil)
	insert(wasmAction("goecho", wasmtest.GoCommand(b, "echo")), nil)
	insert(wasmAction("reactor", wasmtest.GoReactor(b, "echo")), nil)
	insert(wasmAction("bigmem", wasmtest.WATModule(b, "bigmem")), &whisk.Limits{Memory: ptr(512)})
	insert(&whisk.Action{Name: "bigmem"}, &whisk.Limits{Memory: ptr(256)})
	insert(&whisk.Action{Name: "bomb", Exec: &whisk.Exec{Kind: "wasm:wasip1", Code: ptr("ipfs://" + bomb.String())}}, nil)
	insert(wasmAction("padded", zipWith(b, zip.Deflate, map[string][]byte{"main.wasm": wasmtest.WithCustomSection(echo, "junk", 16<<20)})), nil)
	insert(wasmAction("grow", wasmtest.WATModule(b, "grow")), &whisk.Limits{Memory: ptr(128)})
	insert(wasmAction("loop", wasmtest.WATModule(b, "loop")), short)
	insert(wasmAction("trap", wasmtest.WATModule(b, "trap")), nil)
	mix := []struct {
		action string
		status int
	}{
		{"echo", http.StatusOK}, {"goecho", http.StatusOK}, {"reactor", http.StatusOK}, {"padded", http.StatusOK},
		{"bigmem", http.StatusBadGateway}, {"bomb", http.StatusBadGateway}, {"grow", http.StatusBadGateway},
		{"loop", http.StatusBadGateway}, {"trap", http.StatusBadGateway}, {"echo", http.StatusOK},
	}
	invoke := func(i int) error {
		m := mix[i%len(mix)]
		req, _ := http.NewRequest(http.MethodPost, s.APIHost()+"/api/v1/namespaces/_/actions/"+m.action+"?blocking=true&result=true",
			strings.NewReader(`{"n":1}`))
		req.SetBasicAuth(controller.GuestUUID, controller.GuestKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != m.status {
			return fmt.Errorf("%s: %d %s, want %d", m.action, resp.StatusCode, body, m.status)
		}
		return nil
	}

	const clients = 4
	start := rss(b)
	var warm, peak int64
	n := 0
	warmedUp := warmupEnd(time.Now())
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make([]error, clients)
		for c := range clients {
			wg.Go(func() { errs[c] = invoke(n + c) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		n += clients
		if n%40 == 0 {
			r := rss(b)
			peak = max(peak, r)
			if warm == 0 && warmedUp(n) {
				warm = r
				b.Logf("warm after %d invocations: RSS %d MB", n, r>>20)
			}
			if n%1000 == 0 {
				b.Logf("after %d invocations: RSS %d MB", n, r>>20)
			}
		}
	}
	end := rss(b)
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	b.ReportMetric(float64(mem.HeapInuse)/(1<<20), "heap-inuse-end-MB")
	b.ReportMetric(float64(start)/(1<<20), "rss-start-MB")
	b.ReportMetric(float64(max(peak, end))/(1<<20), "rss-peak-MB")
	b.ReportMetric(float64(end)/(1<<20), "rss-end-MB")
	if warm > 0 {
		b.ReportMetric(float64(warm)/(1<<20), "rss-warm-MB")
		b.ReportMetric(float64(end-warm)/(1<<20), "rss-growth-MB")
	}
	b.ReportMetric(float64(n), "invocations")
}

// rss is the process's resident set size.
func rss(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

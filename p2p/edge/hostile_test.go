package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

// TestHostileModulesOverLibp2p sends the modules of issue 10 to an edge
// node over libp2p, by CID: a module whose unexported initial memory is
// above the limit (which once panicked in wazero and killed the node) gets
// the stock memory error, and a 15-byte module declaring 2^24 exports (860
// MB a run) a developer error naming the cap; the node keeps running good
// code, and the Go heap does not grow with what the modules declare.
func TestHostileModulesOverLibp2p(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sched := start(t, edge.Config{})
	scheds, err := p2p.ParseAddrInfos(sched.Host().FullAddrs())
	if err != nil {
		t.Fatal(err)
	}
	supplier := start(t, edge.Config{
		Host:     p2p.Config{DataDir: t.TempDir(), Bootstrap: sched.Host().FullAddrs()},
		OffersMB: []int{512}, Schedulers: scheds, Refresh: 200 * time.Millisecond,
	})
	add := func(b []byte) string {
		c, err := sched.IPFS().Add(ctx, bytes.NewReader(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		return c.String()
	}
	tests := []struct {
		name   string
		cid    string
		status whisk.StatusCode
		result string
	}{
		{"initial memory over the limit", add(wasmtest.WATModule(t, "bigmem")), whisk.StatusDeveloperError,
			`{"error":"` + whisk.MsgMemoryExhausted + `"}`},
		{"2^24 exports", add(wasmtest.ExportBomb(1 << 24)), whisk.StatusDeveloperError,
			`{"error":"the action's WebAssembly module is invalid: section 7 at byte 10: 16777216 exports declared, more than the 100000 allowed"}`},
		{"echo afterwards", add(wasmtest.WATModule(t, "echo")), whisk.StatusSuccess, `{"n":1}`},
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, tc := range tests {
		var p ring.Placement
		for {
			if p, err = sched.Ring().Schedule(ctx, tc.cid, 256); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: no offer from the edge node: %v", tc.name, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
		resp, err := sched.Ring().Run(ctx, p, ring.RunRequest{
			Action: activation.Action{
				Name:   activation.FQN{Path: "guest", Name: "hostile"},
				Limits: whisk.Limits{Timeout: 30000, Memory: 256, Logs: 10, Concurrency: 1},
			},
			Invocation: activation.Invocation{ID: "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", Namespace: "guest", Value: json.RawMessage(`{"n":1}`)},
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.Response.StatusCode != tc.status || string(resp.Response.Result) != tc.result {
			t.Errorf("%s: status %d result %s, want %d %s", tc.name, resp.Response.StatusCode, resp.Response.Result, tc.status, tc.result)
		}
		if err := sched.Ring().Release(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := supplier.Executor().Runs(); got != int64(len(tests)) {
		t.Errorf("edge node ran %d activations, want %d", got, len(tests))
	}
	// Both nodes are in this process: what they allocated in all, against
	// 860 MB for one run of the export bomb before the module check.
	t.Logf("%d runs allocated %d MB", len(tests), (after.TotalAlloc-before.TotalAlloc)>>20)
	if n := after.TotalAlloc - before.TotalAlloc; n > 128<<20 {
		t.Errorf("the runs allocated %d MB", n>>20)
	}
}

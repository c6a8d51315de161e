package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

func testLog() *slog.Logger {
	lvl := slog.LevelError
	if testing.Verbose() {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func start(t *testing.T, cfg edge.Config) *edge.Node {
	t.Helper()
	cfg.Host.ListenAddrs = loopback
	cfg.Logger = testLog()
	n, err := edge.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	return n
}

// TestScheduleAndRunByCID: a scheduler node holds a WAT module in its block
// store; an edge node supplies two offers; the scheduler claims one, the
// edge node fetches the code by CID, runs it, and withdraws on Close.
func TestScheduleAndRunByCID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sched := start(t, edge.Config{})
	if sched.Executor() != nil {
		t.Fatal("a node that supplies nothing has an executor")
	}
	module, err := sched.IPFS().Add(ctx, bytes.NewReader(wasmtest.WATModule(t, "echo")), 0)
	if err != nil {
		t.Fatal(err)
	}
	scheds, err := p2p.ParseAddrInfos(sched.Host().FullAddrs())
	if err != nil {
		t.Fatal(err)
	}
	supplier := start(t, edge.Config{
		Host:     p2p.Config{DataDir: t.TempDir(), Bootstrap: sched.Host().FullAddrs()},
		OffersMB: []int{256, 256}, Schedulers: scheds, Refresh: 200 * time.Millisecond,
	})
	if got := supplier.OffersMB(); len(got) != 2 || got[0] != 256 {
		t.Fatalf("offers %v", got)
	}

	var p ring.Placement
	for {
		if p, err = sched.Ring().Schedule(ctx, module.String(), 128); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no offer from the edge node: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if p.Supplier() != supplier.Host().ID() {
		t.Fatalf("placed on %s, want the edge node %s", p.Supplier(), supplier.Host().ID())
	}
	tests := []struct {
		name, value, want string
	}{
		{"object", `{"name":"World"}`, `{"name":"World"}`},
		{"empty", `{}`, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := sched.Ring().Run(ctx, p, ring.RunRequest{
				Action: activation.Action{
					Name:   activation.FQN{Path: "guest", Name: "echo"},
					Limits: whisk.Limits{Timeout: 30000, Memory: 128, Logs: 10, Concurrency: 1},
				},
				Invocation: activation.Invocation{ID: "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", Namespace: "guest", Value: json.RawMessage(tc.value)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Response.StatusCode != whisk.StatusSuccess || string(resp.Response.Result) != tc.want {
				t.Fatalf("status %d result %s logs %v, want %s", resp.Response.StatusCode, resp.Response.Result, resp.Logs, tc.want)
			}
		})
	}
	if got := supplier.Executor().Runs(); got != int64(len(tests)) {
		t.Fatalf("edge node ran %d activations, want %d", got, len(tests))
	}
	if err := sched.Ring().Release(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := supplier.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := supplier.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestRunWithoutCID: a run request naming no code is refused, not run.
func TestRunWithoutCID(t *testing.T) {
	n := start(t, edge.Config{OffersMB: []int{256}})
	_, err := n.Executor().Run(context.Background(), ring.RunRequest{
		Action: activation.Action{Name: activation.FQN{Path: "guest", Name: "echo"}}, Invocation: activation.Invocation{Value: json.RawMessage(`{}`)},
	})
	if err == nil || !strings.Contains(err.Error(), "without a code CID") {
		t.Fatalf("err %v", err)
	}
	if n.Executor().Runs() != 0 {
		t.Fatalf("runs %d", n.Executor().Runs())
	}
}

// TestStartErrors: bad configurations end in a clear error, with nothing
// left running.
func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  edge.Config
		want string
	}{
		{"offer too large", edge.Config{OffersMB: []int{ring.MaxOfferMB + 1}}, "edge: offers"},
		{"bad scheduler index", edge.Config{SchedulerIndex: "/ipns/not-a-name"}, "edge: scheduler index"},
		{"bad bootstrap", edge.Config{Host: p2p.Config{Bootstrap: []string{"/ip4/127.0.0.1"}}}, "edge: host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Host.ListenAddrs = loopback
			n, err := edge.Start(context.Background(), tc.cfg)
			if err == nil {
				_ = n.Close(context.Background())
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/ipfstest"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

// TestNodeRunsActivationByCID starts `faasedge node` against a scheduler
// that holds a module in its block store, claims the node's offer and runs
// the module on it by CID.
func TestNodeRunsActivationByCID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sched := startScheduler(ctx, t)

	nctx, stop := context.WithCancel(ctx)
	var stderr testenv.LockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- lookup("node").run(nctx, []string{"--listen", "/ip4/127.0.0.1/tcp/0", "--peer", sched.addr,
			"--data-dir", t.TempDir(), "--memory", "512", "--vnodes", "2", "--refresh", "200ms"}, nil, &stderr)
	}()
	var (
		p   ring.Placement
		err error
	)
	for {
		p, err = sched.Schedule(ctx, sched.module, 128)
		if err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("node exited: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("no offer from the node: %v\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	resp, err := sched.Run(ctx, p, echoWorld)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Response.StatusCode != whisk.StatusSuccess || string(resp.Response.Result) != `{"name":"World"}` {
		t.Fatalf("status %d result %s logs %v", resp.Response.StatusCode, resp.Response.Result, resp.Logs)
	}
	if err := sched.Release(ctx, p); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("node shutdown: %v", err)
	}
	if !strings.Contains(stderr.String(), "withdrawing offers") {
		t.Fatalf("no clean shutdown in the log:\n%s", stderr.String())
	}
}

func TestNodeBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"too little memory", []string{"--memory", "100"}, "each offer needs at least 128 MB"},
		{"offer too large", []string{"--memory", "40000", "--vnodes", "2"}, "use more --vnodes"},
		{"missing pnet key", []string{"--pnet-key", "/no/such/key"}, "--pnet-key"},
		{"bad allow", []string{"--allow", "not-a-peer"}, "--allow"},
		{"bad scheduler", []string{"--scheduler", "/ip4/1.2.3.4"}, "--scheduler"},
		{"stray argument", []string{"extra"}, "unexpected argument"},
		{"data not a directory", []string{"--data", "/no/such/dir"}, "--data: data mount /no/such/dir is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"node", "--data-dir", t.TempDir()}, tc.args...)
			if code := runMain(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// scheduler is a ring node on a loopback host whose block store holds the
// echo module: what the tests and the benchmark start `faasedge node`
// against, with addr as its --peer.
type scheduler struct {
	*ring.Node
	addr   string // multiaddr with /p2p/<id>
	module string // the echo module's CID
}

func startScheduler(ctx context.Context, tb testing.TB) scheduler {
	tb.Helper()
	h, src := ipfstest.Source(ctx, tb)
	module, err := src.Add(ctx, bytes.NewReader(wasmtest.WATModule(tb, "echo")), 0)
	if err != nil {
		tb.Fatal(err)
	}
	tr := ring.NewHostTransport(h, nil)
	tb.Cleanup(func() { tr.Close() })
	n, err := ring.New(tr, h.Peerstore().PrivKey(h.ID()))
	if err != nil {
		tb.Fatal(err)
	}
	return scheduler{Node: n, addr: h.FullAddrs()[0], module: module.String()}
}

// echoWorld runs the echo module with {"name":"World"}, which it returns.
var echoWorld = ring.RunRequest{
	Action: activation.Action{
		Name:   activation.FQN{Path: "guest", Name: "echo"},
		Limits: whisk.Limits{Timeout: 30000, Memory: 128, Logs: 10, Concurrency: 1},
	},
	Invocation: activation.Invocation{ID: "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", Namespace: "guest", Value: json.RawMessage(`{"name":"World"}`)},
}

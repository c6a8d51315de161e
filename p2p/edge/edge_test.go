package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

func start(t *testing.T, cfg edge.Config) *edge.Node {
	t.Helper()
	cfg.Host.ListenAddrs = loopback
	cfg.Logger = testenv.Logger()
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
	sched, supplier, p := placed(ctx, t, wasmtest.WATModule(t, "echo"), edge.Config{OffersMB: []int{256, 256}}, 128)
	if sched.Executor() != nil {
		t.Fatal("a node that supplies nothing has an executor")
	}
	if got := supplier.OffersMB(); len(got) != 2 || got[0] != 256 {
		t.Fatalf("offers %v", got)
	}
	if p.Supplier() != supplier.Host().ID() {
		t.Fatalf("placed on %s, want the edge node %s", p.Supplier(), supplier.Host().ID())
	}
	// The claim had the edge node fetch and compile the module.
	for !supplier.Executor().Ready(p.CID) {
		select {
		case <-ctx.Done():
			t.Fatal("the module was not compiled when its claim was granted")
		case <-time.After(10 * time.Millisecond):
		}
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
			if resp.Cold {
				t.Error("a run after the claim waited for its module")
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

// TestPrepareStreamsFromClaimer: the edge node's only direct peer is a
// ring member that does not hold the code; the scheduler that claims it
// does, and the edge node streams the code from the claimer.
func TestPrepareStreamsFromClaimer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boot := start(t, edge.Config{})
	sched := start(t, edge.Config{Host: p2p.Config{Bootstrap: boot.Host().FullAddrs()}})
	module, err := sched.IPFS().Add(ctx, bytes.NewReader(wasmtest.WATModule(t, "echo")), 1)
	if err != nil {
		t.Fatal(err)
	}
	scheds, err := p2p.ParseAddrInfos(sched.Host().FullAddrs())
	if err != nil {
		t.Fatal(err)
	}
	supplier := start(t, edge.Config{
		Host:     p2p.Config{Bootstrap: boot.Host().FullAddrs()},
		OffersMB: []int{256}, Schedulers: scheds, Refresh: 200 * time.Millisecond,
	})
	testenv.WaitFor(t, 30*time.Second, "a placement on the edge node", func() bool {
		_, err := sched.Ring().Schedule(ctx, module.String(), 128)
		return err == nil
	})
	testenv.WaitFor(t, 30*time.Second, "the module compiled", func() bool { return supplier.Executor().Ready(module.String()) })
	m := scrape(t, supplier)
	if m[`faasedge_ipfs_fetches_total{method="stream"}`] != 1 || m[`faasedge_ipfs_fetches_total{method="bitswap"}`] != 0 {
		t.Fatalf("fetches: %v", m)
	}
}

// placed starts a scheduler holding module and an edge node configured as
// cfg (its offers, data mount), and claims memMB on the edge node for the
// module.
func placed(ctx context.Context, t *testing.T, module []byte, cfg edge.Config, memMB int) (sched, supplier *edge.Node, p ring.Placement) {
	t.Helper()
	sched = start(t, edge.Config{})
	c, err := sched.IPFS().Add(ctx, bytes.NewReader(module), 0)
	if err != nil {
		t.Fatal(err)
	}
	scheds, err := p2p.ParseAddrInfos(sched.Host().FullAddrs())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = p2p.Config{DataDir: t.TempDir(), Bootstrap: sched.Host().FullAddrs()}
	cfg.Schedulers, cfg.Refresh = scheds, 200*time.Millisecond
	supplier = start(t, cfg)
	for {
		if p, err = sched.Ring().Schedule(ctx, c.String(), memMB); err == nil {
			return sched, supplier, p
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no offer from the edge node: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestRunsFitTheirLease: ten runs sent at once on one 128 MB lease. Each
// needing the whole lease, one runs and nine are refused; needing 128 MB
// at concurrency 10, they share the lease and all run; a run that asks no
// memory gets no more than the lease.
func TestRunsFitTheirLease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sched, supplier, p := placed(ctx, t, wasmtest.WATModule(t, "loop"), edge.Config{OffersMB: []int{128}}, 128)
	if p.MemoryMB != 128 {
		t.Fatalf("lease of %d MB", p.MemoryMB)
	}
	tests := []struct {
		name        string
		limits      whisk.Limits
		ran, refuse int
	}{
		{"whole lease each", whisk.Limits{Timeout: 3000, Memory: 119, Logs: 0, Concurrency: 1}, 1, 9},
		{"shared at concurrency 10", whisk.Limits{Timeout: 3000, Memory: 128, Logs: 0, Concurrency: 10}, 10, 0},
		{"over the lease", whisk.Limits{Timeout: 3000, Memory: 256, Concurrency: 1}, 0, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := supplier.Executor().Runs()
			errs := make(chan error, 10)
			for i := range 10 {
				go func() {
					resp, err := sched.Ring().Run(ctx, p, ring.RunRequest{
						Action:     activation.Action{Name: activation.FQN{Path: "guest", Name: "loop"}, Limits: tc.limits},
						Invocation: activation.Invocation{ID: activation.ID(fmt.Sprintf("%032x", i)), Namespace: "guest", Value: json.RawMessage(`{}`)},
					})
					if err == nil && !resp.TimedOut {
						err = fmt.Errorf("run ended without its timeout: %+v", resp)
					}
					errs <- err
				}()
			}
			ran, refused := 0, 0
			for range 10 {
				switch err := <-errs; {
				case err == nil:
					ran++
				case ring.IsRemote(err) && strings.Contains(err.Error(), ring.ErrInsufficient.Error()):
					refused++
				default:
					t.Error(err)
				}
			}
			if ran != tc.ran || refused != tc.refuse {
				t.Fatalf("%d ran, %d refused; want %d and %d", ran, refused, tc.ran, tc.refuse)
			}
			if got := supplier.Executor().Runs() - before; got != int64(tc.ran) {
				t.Fatalf("executor ran %d", got)
			}
		})
	}
}

// TestRunLogsFitTheFrame: a run writes 256 MiB on stderr in lines that
// grow sixfold in JSON. Its logs are truncated with the stock notice, the
// reply fits its frame and the result arrives; the edge node's heap grows
// by far less than the output.
func TestRunLogsFitTheFrame(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sched, _, p := placed(ctx, t, wasmtest.WATModule(t, "flood"), edge.Config{OffersMB: []int{256}}, 128)
	var peak atomic.Uint64
	base := heapBytes()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapBytes(); h > base && h-base > peak.Load() {
				peak.Store(h - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	resp, err := sched.Ring().Run(ctx, p, ring.RunRequest{
		Action: activation.Action{
			Name:   activation.FQN{Path: "guest", Name: "flood"},
			Limits: whisk.Limits{Timeout: 60000, Memory: 128, Logs: 10, Concurrency: 1},
		},
		Invocation: activation.Invocation{ID: "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", Namespace: "guest", Value: json.RawMessage(`{}`)},
	})
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if resp.Response.StatusCode != whisk.StatusSuccess || string(resp.Response.Result) != `{"ok":true}` {
		t.Fatalf("status %d result %s", resp.Response.StatusCode, resp.Response.Result)
	}
	if len(resp.Logs) < 2 || !strings.Contains(resp.Logs[len(resp.Logs)-1], "Logs were truncated") {
		t.Fatalf("%d log lines, the last not the truncation notice", len(resp.Logs))
	}
	t.Logf("%d log lines kept; heap peak +%d MiB", len(resp.Logs), peak.Load()>>20)
	if peak.Load() > 128<<20 {
		t.Fatalf("heap grew by %d MiB for 256 MiB of stderr", peak.Load()>>20)
	}
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
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

// TestDataMounts: an edge node given a data mount shows it to its actions
// read-only at /data, and shows IPFS data added on another node (the data
// owner) at /ipfs/<CID>, fetched over the block exchange. Each run's
// reply carries what it read there and the time it waited (Fetch), and
// the node's metrics add them up.
func TestDataMounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "local.txt"), []byte("on this node"), 0o644); err != nil {
		t.Fatal(err)
	}
	sched, supplier, p := placed(ctx, t, wasmtest.GoReactor(t, "cat"), edge.Config{OffersMB: []int{256}, DataMount: dir}, 128)
	owned, err := sched.IPFS().Add(ctx, strings.NewReader("from the data owner"), 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{"/data/local.txt", "on this node"},
		{"/ipfs/" + owned.String(), "from the data owner"},
	}
	var fetched int64
	for i, tc := range tests {
		resp, err := sched.Ring().Run(ctx, p, ring.RunRequest{
			Action: activation.Action{Name: activation.FQN{Path: "guest", Name: "cat"},
				Limits: whisk.Limits{Timeout: 30000, Memory: 128, Logs: 10, Concurrency: 1}},
			Invocation: activation.Invocation{ID: activation.ID(fmt.Sprintf("%032x", i)), Namespace: "guest",
				Value: json.RawMessage(fmt.Sprintf(`{"path":%q}`, tc.path))},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Content string }
		if err := json.Unmarshal(resp.Response.Result, &got); err != nil || got.Content != tc.want {
			t.Fatalf("%s: status %d result %s logs %v, want %q", tc.path, resp.Response.StatusCode, resp.Response.Result, resp.Logs, tc.want)
		}
		if resp.Fetch.Bytes != int64(len(tc.want)) || resp.Fetch.Time <= 0 || resp.Fetch.Time > resp.End.Sub(resp.Start)+time.Millisecond {
			t.Errorf("%s: fetch %+v in a run of %v, want %d bytes within the run", tc.path, resp.Fetch, resp.End.Sub(resp.Start), len(tc.want))
		}
		fetched += resp.Fetch.Bytes
	}
	if supplier.Executor().Runs() != int64(len(tests)) {
		t.Fatalf("edge node ran %d activations", supplier.Executor().Runs())
	}
	if m := scrape(t, supplier); m["faasedge_edge_fetch_bytes_total"] != float64(fetched) || m["faasedge_edge_fetch_seconds_total"] <= 0 {
		t.Errorf("metrics: fetch %v bytes in %v s, want %d bytes", m["faasedge_edge_fetch_bytes_total"], m["faasedge_edge_fetch_seconds_total"], fetched)
	}

	notDir := filepath.Join(dir, "local.txt")
	if _, err := edge.Start(ctx, edge.Config{OffersMB: []int{128}, DataMount: notDir}); err == nil || !strings.Contains(err.Error(), notDir) {
		t.Fatalf("data mount on a file: %v", err)
	}
}

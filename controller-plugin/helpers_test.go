package controllerplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

// testLog keeps test output quiet unless -v.
func testLog() *slog.Logger {
	lvl := slog.LevelError
	if testing.Verbose() {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// Ring timers of the tests: offers refreshed every 300 ms and gone 1.5 s
// after their supplier, so a killed node leaves the traders quickly.
var testTimers = ring.WithTimers(300*time.Millisecond, 1500*time.Millisecond, 10*time.Second)

// backend is the Kafka broker and CouchDB the invokers and the controller
// share.
type backend struct {
	brokers []string
	couch   invoker.CouchConfig
	whisks  *kivik.DB
}

func newBackend(t testing.TB) *backend {
	t.Helper()
	k := testenv.Kafka(t)
	pouch := testenv.StartPouchDB(t)
	cl, err := kivik.New("couch", pouch.URL, couchdb.OptionNoRequestCompression())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, db := range []string{"whisks", "activations"} {
		if err := cl.CreateDB(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	return &backend{
		brokers: k.ListenAddrs(),
		couch:   invoker.CouchConfig{URL: pouch.URL, ActionsDB: "whisks", ActivationsDB: "activations"},
		whisks:  cl.DB("whisks"),
	}
}

// config is the stock invoker configuration every engine starts from.
func (b *backend) config() invoker.Config {
	return invoker.Config{KafkaBrokers: b.brokers, Couch: b.couch, ShutdownTimeout: 10 * time.Second}
}

// putAction stores a wasm action whose code is ipfs://cid, with a 30 s
// timeout.
func (b *backend) putAction(t testing.TB, name, cid string, memoryMB int64) {
	t.Helper()
	b.putActionTimeout(t, name, cid, memoryMB, 30000)
}

func (b *backend) putActionTimeout(t testing.TB, name, cid string, memoryMB, timeoutMs int64) {
	t.Helper()
	code, _ := json.Marshal("ipfs://" + cid)
	doc := whisk.ActionDoc{
		ID: "guest/" + name, EntityType: "action", Name: name, Namespace: "guest",
		Updated: time.Now().UnixMilli(),
		Exec:    whisk.Exec{Kind: "wasm:wasip1", Code: code},
		Limits:  whisk.Limits{Timeout: timeoutMs, Memory: memoryMB, Logs: whisk.DefaultLogsMB, Concurrency: 1},
		Version: "0.0.1", Parameters: []whisk.Parameter{}, Annotations: whisk.Annotations{},
	}
	if _, err := b.whisks.Put(context.Background(), doc.ID, doc); err != nil {
		t.Fatal(err)
	}
}

// startLocalInvoker runs a regular FaaS@Edge invoker.
func startLocalInvoker(t testing.TB, b *backend, id int, userMemoryMB int64, r invoker.Runner) *invoker.Engine {
	t.Helper()
	ctx := context.Background()
	eng, err := invoker.New(ctx, invoker.WithConfig(b.config()), invoker.WithInstance(id, "local", "local"),
		invoker.WithUserMemory(whisk.ByteSize(userMemoryMB)*whisk.MB),
		invoker.WithRunner(r), invoker.WithLogger(testLog()))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = eng.Shutdown(sctx)
	})
	return eng
}

// node is one real member of the offer ring on loopback: a libp2p host, an
// IPFS node, and, when it supplies memory, the wasm executor fetching code
// by CID.
type node struct {
	host *p2p.Host
	tr   *ring.HostTransport
	ring *ring.Node
	ipfs *ipfs.Node
	exec *edgeExecutor
	dead atomic.Bool
}

// startNode starts a ring member bootstrapped from boot. With supplyMB it
// is an edge node volunteering that memory, one offer per entry, and
// pushing its free offers to boot as a scheduler's backup list.
func startNode(t testing.TB, boot []string, supplyMB ...int) *node {
	t.Helper()
	ctx := context.Background()
	h, err := p2p.NewHost(ctx, p2p.Config{Bootstrap: boot})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{host: h, tr: ring.NewHostTransport(h, testLog())}
	if n.ipfs, err = ipfs.New(ctx, h, ipfs.WithLogger(testLog())); err != nil {
		t.Fatal(err)
	}
	opts := []ring.Option{ring.WithLogger(testLog()), testTimers, ring.WithFreeMemory(func() int { return 1 << 20 })}
	if len(supplyMB) > 0 {
		ex, err := executor.New(ctx, executor.WithFetcher(n.ipfs), executor.WithLogger(testLog()))
		if err != nil {
			t.Fatal(err)
		}
		n.exec = &edgeExecutor{ex: ex, code: n.ipfs}
		// The bootstrap peer is the scheduler: it gets the backup list.
		scheds, err := p2p.ParseAddrInfos(boot)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, ring.WithExecutor(n.exec), ring.WithSchedulers(scheds))
	}
	if n.ring, err = ring.New(n.tr, h.Peerstore().PrivKey(h.ID()), opts...); err != nil {
		t.Fatal(err)
	}
	if len(supplyMB) > 0 {
		if err := n.ring.Supply(supplyMB...); err != nil {
			t.Fatal(err)
		}
	}
	n.ring.Start(ctx)
	t.Cleanup(n.kill)
	return n
}

// kill stops the node abruptly: no withdrawal, streams reset.
func (n *node) kill() {
	if n.dead.Swap(true) {
		return
	}
	// The host first, so that runs in flight end with a reset stream and
	// no answer, as when the process dies.
	_ = n.host.Close()
	n.tr.Close()
	_ = n.ipfs.Close()
	_ = n.ring.Close(context.Background())
	if n.exec != nil {
		_ = n.exec.ex.Close(context.Background())
	}
}

// waitRouting waits until every node's DHT knows enough peers for trader
// lookups to agree.
func waitRouting(t testing.TB, ns ...*node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range ns {
		for n.host.DHT.RoutingTable().Size() < min(len(ns)-1, 4) {
			if time.Now().After(deadline) {
				t.Fatalf("routing table of %s has %d peers", n.host.ID(), n.host.DHT.RoutingTable().Size())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// addModule adds a test module to a node's IPFS store and returns its CID.
func addModule(t testing.TB, n *node, wasm []byte) string {
	t.Helper()
	c, err := n.ipfs.Add(context.Background(), bytes.NewReader(wasm), 0)
	if err != nil {
		t.Fatal(err)
	}
	return c.String()
}

// sleepModule is testdata/sleep.wat: 300 ms, then the parameters back.
func sleepModule(t testing.TB) []byte {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "sleep.wat"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := wasmtest.BuildSource(wasmtest.WAT, src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edgeExecutor is an edge node's ring.Executor over the wasm executor: it
// fetches the code by CID through IPFS and counts the runs it served.
type edgeExecutor struct {
	ex       *executor.Executor
	code     *ipfs.Node
	runs     atomic.Int64
	inFlight atomic.Int64
}

// Run implements ring.Executor.
func (e *edgeExecutor) Run(ctx context.Context, req ring.RunRequest) (ring.RunResponse, error) {
	e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	r := e.ex.Run(ctx, &executor.Action{
		Name: path.Base(req.ActionName), Namespace: req.Namespace, Version: req.ActionVersion,
		Kind: "wasm:wasip1", Code: []byte("ipfs://" + req.CID), Digest: req.CID,
		Limits: whisk.Limits{Timeout: int64(req.Limits.Timeout), Memory: int64(req.Limits.Memory),
			Logs: int64(req.Limits.Logs), Concurrency: req.Limits.Concurrency},
	}, executor.Activation{Value: req.Value, Env: req.Env})
	e.runs.Add(1)
	return ring.RunResponse{
		StatusCode: int(r.Response.StatusCode), Result: r.Response.Result, Logs: r.Logs,
		Start: r.Start.UnixMilli(), End: r.End.UnixMilli(), InitTime: r.InitTime.Milliseconds(),
		Duration: r.End.Sub(r.Start).Milliseconds(), Timeout: r.TimedOut,
	}, nil
}

// Prepare implements ring.Preparer: the code is fetched when a claim names
// it, before the first run.
func (e *edgeExecutor) Prepare(ctx context.Context, cid string) error {
	_, err := e.code.Fetch(ctx, cid)
	return err
}

package controllerplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

// testLog keeps test output quiet unless -v.

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
	cfg := b.config()
	cfg.Instance, cfg.UniqueName, cfg.DisplayedName = id, "local", "local"
	cfg.UserMemory = whisk.ByteSize(userMemoryMB) * whisk.MB
	cfg.Runner, cfg.Logger = r, testenv.Logger()
	eng, err := invoker.New(ctx, cfg)
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

// node is one real member of the offer ring on loopback (package edge):
// with memory to supply, an edge node running activations in the wasm
// executor with code fetched by CID.
type node struct {
	*edge.Node
	dead atomic.Bool
}

// startNode starts a ring member bootstrapped from boot. With supplyMB it
// is an edge node volunteering that memory, one offer per entry, and
// pushing its free offers to boot as a scheduler's backup list.
func startNode(t testing.TB, boot []string, supplyMB ...int) *node {
	t.Helper()
	cfg := edge.Config{
		Host:        p2p.Config{Bootstrap: boot},
		OffersMB:    supplyMB,
		RingOptions: []ring.Option{testTimers, ring.WithFreeMemory(func() int { return 1 << 20 })},
		Logger:      testenv.Logger(),
	}
	if len(supplyMB) > 0 {
		// The bootstrap peer is the scheduler: it gets the backup list.
		scheds, err := p2p.ParseAddrInfos(boot)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Schedulers = scheds
	}
	en, err := edge.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Node: en}
	t.Cleanup(n.kill)
	return n
}

// kill stops the node abruptly: no withdrawal, streams reset.
func (n *node) kill() {
	if n.dead.Swap(true) {
		return
	}
	// The connections first, so that runs in flight end with a reset
	// stream and no answer, as when the process dies; the withdrawal then
	// finds no one to tell.
	_ = n.Host().Network().Close()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_ = n.Close(done)
}

// waitRouting waits until every node's DHT knows enough peers for trader
// lookups to agree.
func waitRouting(t testing.TB, ns ...*node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range ns {
		for n.Host().DHT.RoutingTable().Size() < min(len(ns)-1, 4) {
			if time.Now().After(deadline) {
				t.Fatalf("routing table of %s has %d peers", n.Host().ID(), n.Host().DHT.RoutingTable().Size())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// addModule adds a test module to a node's IPFS store and returns its CID.
func addModule(t testing.TB, n *node, wasm []byte) string {
	t.Helper()
	c, err := n.IPFS().Add(context.Background(), bytes.NewReader(wasm), 0)
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
	return wasmtest.SourceBytes(t, wasmtest.WAT, src)
}

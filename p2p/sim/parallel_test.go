package sim

import (
	"context"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/p2p/ring"
)

// startRing brings up a small mem ring with the given workers and runs its
// first refresh.
func startRing(t *testing.T, workers int) *runner {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Nodes, cfg.Workers, cfg.Seed = 60, workers, 5
	cfg.Log = nil
	r := newRunner(cfg, newMemBackend(cfg))
	ctx := context.Background()
	if err := r.startNodes(ctx); err != nil {
		t.Fatal(err)
	}
	r.tickAll(ctx)
	return r
}

// ringState is what a refresh leaves behind: per node, the offers it holds
// as a trader and its supply.
type ringState struct {
	held        []int
	total, used []int
}

func stateOf(r *runner) ringState {
	var s ringState
	for _, n := range r.nodes {
		t, u := n.Capacity()
		s.held = append(s.held, n.HeldOffers())
		s.total, s.used = append(s.total, t), append(s.used, u)
	}
	return s
}

// TestParallelRefreshMatchesSequential checks that a refresh spread over
// workers leaves the same ring as one worker does.
func TestParallelRefreshMatchesSequential(t *testing.T) {
	seq, par := startRing(t, 1), startRing(t, 4)
	a, b := stateOf(seq), stateOf(par)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("parallel refresh differs:\nsequential %+v\nparallel   %+v", a, b)
	}
	held := 0
	for _, h := range a.held {
		held += h
	}
	if held != 2*len(seq.nodes) {
		t.Fatalf("traders hold %d offers, want one per vnode (%d)", held, 2*len(seq.nodes))
	}
}

// TestReproducibleOnAnyMachine runs the same seed on one core, on two,
// on two busy with spinning goroutines, and with one refresh worker and
// four: the reports are identical (the heap figure, a measurement of this
// process, aside). Churn and a steady state near a full ring make the
// schedulers race for the same offers.
func TestReproducibleOnAnyMachine(t *testing.T) {
	run := func(procs, workers, hogs int) Report {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range hogs {
			wg.Go(func() {
				for x := 0; ; x++ {
					select {
					case <-stop:
						return
					default:
					}
					for range 1 << 16 {
						x ^= x << 1
					}
				}
			})
		}
		defer func() { close(stop); wg.Wait() }()
		cfg := DefaultConfig()
		cfg.Nodes, cfg.Measure, cfg.Workers, cfg.Churn = 60, 100, workers, 0.05
		cfg.Levels = []float64{0.5, 0.9}
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, pts := range [][]Point{rep.Steady, rep.Ramp} {
			for i := range pts {
				pts[i].MemoryPerNode = 0
			}
		}
		return rep
	}
	want := run(1, 1, 0)
	if want.Steady[1].DeployMsgs <= 1 {
		t.Errorf("%.2f claims per scheduling at 0.9: the schedulers never raced", want.Steady[1].DeployMsgs)
	}
	for _, c := range []struct{ procs, workers, hogs int }{{2, 0, 0}, {2, 4, 0}, {2, 0, 4}, {1, 4, 2}} {
		if got := run(c.procs, c.workers, c.hogs); !reflect.DeepEqual(got, want) {
			t.Errorf("GOMAXPROCS %d, %d workers, %d busy goroutines: the report differs:\n%+v\nwant\n%+v", c.procs, c.workers, c.hogs, got, want)
		}
	}
}

// TestParallelArrivalsInvariants drives arrivals and departures on two
// workers (run it with -race) and checks what must hold whatever the
// interleaving: no offer leased past its capacity, every lease counted
// once, the runner's books equal to the suppliers'.
func TestParallelArrivalsInvariants(t *testing.T) {
	r := startRing(t, 2)
	ctx := context.Background()
	for _, level := range []float64{0.6, 0.9} {
		for r.utilisation() < level {
			if _, err := r.arrive(ctx, r.fillBatch(level), false, level); err != nil {
				t.Fatal(err)
			}
		}
		for range 5 {
			if _, err := r.arrive(ctx, 40, true, level); err != nil {
				t.Fatal(err)
			}
		}
	}
	leases := map[string]bool{}
	bySupplier := map[peer.ID]int{}
	n := 0
	for _, ps := range r.placements {
		for _, p := range ps {
			if leases[p.p.LeaseID] {
				t.Fatalf("lease %s granted twice", p.p.LeaseID)
			}
			leases[p.p.LeaseID] = true
			bySupplier[p.p.Supplier()] += p.p.MemoryMB
			n++
		}
	}
	if n == 0 {
		t.Fatal("nothing placed")
	}
	sum := 0
	for _, node := range r.nodes {
		total, used := node.Capacity()
		if used > total {
			t.Fatalf("%s leases %d MB of %d", node.ID(), used, total)
		}
		for _, f := range node.Free() {
			if f < 0 {
				t.Fatalf("%s has an offer overdrawn: %v", node.ID(), node.Free())
			}
		}
		if used != bySupplier[node.ID()] {
			t.Fatalf("%s leases %d MB, the runner placed %d MB there", node.ID(), used, bySupplier[node.ID()])
		}
		sum += used
	}
	if int64(sum) != r.used.Load() {
		t.Fatalf("suppliers lease %d MB, the runner counts %d", sum, r.used.Load())
	}
	// Every offer with memory left is held by exactly one trader: claims
	// re-publishing the same offer concurrently must not leave an older
	// copy behind at a trader the offer moved away from.
	offered, held := 0, 0
	for _, node := range r.nodes {
		for _, f := range node.Free() {
			if f >= node.Regions().Spec(0).MinMB {
				offered++
			}
		}
		held += node.HeldOffers()
	}
	if held != offered {
		t.Fatalf("traders hold %d offers, suppliers have %d with memory left", held, offered)
	}
	if u := r.utilisation(); u < 0.85 {
		t.Fatalf("utilisation %.3f after filling to 0.9", u)
	}
}

// TestMemNetCountsMessages checks the traffic counters against exchanges
// of known size: one call is a message each way carrying the request and
// the status byte plus the reply; a lookup books exactly the messages it
// reports.
func TestMemNetCountsMessages(t *testing.T) {
	mem := NewMemNet(NewClock(time.Unix(0, 0)), time.Millisecond)
	var eps []*Endpoint
	for i := range 30 {
		eps = append(eps, mem.Join(testID(t, uint64(i))))
	}
	reply := []byte("pong!")
	eps[1].Handle(ring.ProtoFind, 100, func(context.Context, peer.ID, []byte) ([]byte, error) { return reply, nil })
	ctx := context.Background()
	req := []byte("ping")
	for range 3 {
		if _, err := eps[0].Call(ctx, peer.AddrInfo{ID: eps[1].Self()}, ring.ProtoFind, req); err != nil {
			t.Fatal(err)
		}
	}
	a, b := eps[0], eps[1]
	if a.MsgsOut.Load() != 3 || a.MsgsIn.Load() != 3 || b.MsgsIn.Load() != 3 || b.MsgsOut.Load() != 3 {
		t.Fatalf("messages: caller out %d in %d, callee in %d out %d; want 3 each", a.MsgsOut.Load(), a.MsgsIn.Load(), b.MsgsIn.Load(), b.MsgsOut.Load())
	}
	if a.BytesOut.Load() != 3*4 || b.BytesIn.Load() != 3*4 || b.BytesOut.Load() != 3*6 || a.BytesIn.Load() != 3*6 {
		t.Fatalf("bytes: caller out %d in %d, callee in %d out %d; want 12, 18, 12, 18", a.BytesOut.Load(), a.BytesIn.Load(), b.BytesIn.Load(), b.BytesOut.Load())
	}
	// A request over the handler's limit is refused, and still costs the
	// two messages.
	if _, err := eps[0].Call(ctx, peer.AddrInfo{ID: eps[1].Self()}, ring.ProtoFind, make([]byte, 101)); err == nil {
		t.Fatal("oversized request served")
	}
	if a.MsgsOut.Load() != 4 || a.MsgsIn.Load() != 4 {
		t.Fatalf("refused call: caller out %d in %d, want 4 each", a.MsgsOut.Load(), a.MsgsIn.Load())
	}

	before := map[*Endpoint][2]int64{}
	for _, ep := range eps {
		before[ep] = [2]int64{ep.MsgsOut.Load(), ep.MsgsIn.Load()}
	}
	var k ring.Key
	k[0], k[1] = 0xa5, 0x5a
	peers := PeerSet{}
	_, msgs, err := eps[7].Trader(WithPeerSet(ctx, peers), k)
	if err != nil || msgs == 0 {
		t.Fatalf("lookup: %d messages, %v", msgs, err)
	}
	var out, in int64
	for _, ep := range eps {
		out += ep.MsgsOut.Load() - before[ep][0]
		in += ep.MsgsIn.Load() - before[ep][1]
	}
	// Each FIND_NODE query is a request and a reply.
	if out != 2*int64(msgs) || in != 2*int64(msgs) {
		t.Fatalf("lookup of %d queries booked %d messages out, %d in; want %d", msgs, out, in, 2*msgs)
	}
	if got := eps[7].MsgsOut.Load() - before[eps[7]][0]; got != int64(msgs) {
		t.Fatalf("the looking-up node sent %d queries, reported %d", got, msgs)
	}
	// A lookup asks each peer once: as many distinct peers as queries.
	if _, self := peers[eps[7].Self()]; len(peers) != msgs || self {
		t.Fatalf("lookup of %d queries reached %d distinct peers (itself among them: %v)", msgs, len(peers), self)
	}
}

func testID(t *testing.T, seed uint64) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(randReader{rand.New(rand.NewPCG(seed, 1))})
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

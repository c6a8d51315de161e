package sim

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/p2p/ring"
)

// BenchmarkMemNetLookup measures one trader lookup on a 10,000-node MemNet.
func BenchmarkMemNetLookup(b *testing.B) {
	mem := NewMemNet(NewClock(time.Unix(0, 0)), time.Millisecond)
	rnd := rand.New(rand.NewPCG(3, 3))
	var eps []*Endpoint
	for range 10000 {
		k, _, err := crypto.GenerateEd25519Key(randReader{rnd})
		if err != nil {
			b.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(k)
		eps = append(eps, mem.Join(id))
	}
	ctx := context.Background()
	var msgs int
	b.ResetTimer()
	for b.Loop() {
		var k ring.Key
		for i := range k {
			k[i] = byte(rnd.Uint32())
		}
		_, n, err := eps[rnd.IntN(len(eps))].Trader(ctx, k)
		if err != nil {
			b.Fatal(err)
		}
		msgs += n
	}
	b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
}

// BenchmarkRun1k is a whole run on a 1,000-node ring filled to half its
// memory and measured there: what the simulated world costs per run and
// per node (`faasedge sim -nodes 100000` is the same at scale), with the
// ring's figures beside it.
func BenchmarkRun1k(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Nodes, cfg.NodeMemory, cfg.Rate = 1000, MustDist("1024:1"), 10000
	cfg.Levels, cfg.Measure = []float64{0.5}, 1000
	var rep Report
	for b.Loop() {
		var err error
		if rep, err = Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
	p := rep.Steady[0]
	b.ReportMetric(p.MemoryPerNode, "heap-B/node")
	b.ReportMetric(p.FeasibleSuccessRate(), "feasible-success")
	b.ReportMetric(p.DiscoveryMsgs+p.DeployMsgs, "msgs/scheduling")
	b.ReportMetric(p.DistinctPeers, "peers/scheduling")
}

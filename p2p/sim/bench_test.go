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

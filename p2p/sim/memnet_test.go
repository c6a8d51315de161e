package sim

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ring"
)

// TestMemNetAgreesWithKadDHT builds the same peers twice, as real libp2p
// hosts with the Kademlia DHT and on a MemNet, and checks that both pick
// the same trader for the same keys, with lookups of similar cost.
func TestMemNetAgreesWithKadDHT(t *testing.T) {
	const nodes, keys = 20, 30
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mem := NewMemNet(NewClock(time.Unix(0, 0)), time.Millisecond)
	var real []*ring.HostTransport
	var eps []*Endpoint
	var boot []string
	for i := range nodes {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := p2p.NewHost(ctx, p2p.Config{Key: key, Bootstrap: boot})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if i == 0 {
			boot = h.FullAddrs()
		}
		real = append(real, ring.NewHostTransport(h, nil))
		eps = append(eps, mem.Join(h.ID()))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var realMsgs, memMsgs, agree int
	for range keys {
		var k ring.Key
		for i := range k {
			k[i] = byte(rnd.Uint32())
		}
		from := rnd.IntN(nodes)
		exact := mem.ExactTrader(k)
		got, n, err := eps[from].Trader(ctx, k)
		if err != nil || got != exact {
			t.Fatalf("memnet lookup from %d found %s, exact %s: %v", from, got, exact, err)
		}
		memMsgs += n
		rt, rn, err := real[from].Trader(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		realMsgs += rn
		if rt == exact {
			agree++
		}
	}
	t.Logf("kad-dht agreed on %d/%d traders; messages per lookup: kad-dht %.1f, memnet %.1f", agree, keys, float64(realMsgs)/keys, float64(memMsgs)/keys)
	// Right after start-up a few real routing tables are still filling.
	if agree < keys*9/10 {
		t.Fatalf("kad-dht and the exact trader agree on only %d of %d keys", agree, keys)
	}
}

func TestMemNetDeadPeers(t *testing.T) {
	mem := NewMemNet(NewClock(time.Unix(0, 0)), time.Millisecond)
	var ids []peer.ID
	for range 50 {
		k, _, _ := crypto.GenerateEd25519Key(nil)
		id, _ := peer.IDFromPrivateKey(k)
		ids = append(ids, id)
		mem.Join(id)
	}
	ctx := context.Background()
	var k ring.Key
	k[0] = 0x42
	trader := mem.ExactTrader(k)
	mem.Leave(trader)
	next := mem.ExactTrader(k)
	if next == trader {
		t.Fatal("a departed peer is still the trader")
	}
	got, _, err := mem.eps[ids[0]].Trader(ctx, k)
	if ids[0] == trader {
		got, _, err = mem.eps[ids[1]].Trader(ctx, k)
	}
	if err != nil || got != next {
		t.Fatalf("lookup after departure found %s, want the next closest %s: %v", got, next, err)
	}
	// A message to the departed peer fails like a dial to a dead host.
	if _, err := mem.eps[next].Call(ctx, peer.AddrInfo{ID: trader}, ring.ProtoFind, []byte("{}")); err == nil {
		t.Fatal("call to a departed peer succeeded")
	}
}

// TestMemNetFindsExactTrader checks lookups on a ring large enough for
// deep derived routing tables: every lookup ends at the true closest peer.
func TestMemNetFindsExactTrader(t *testing.T) {
	mem := NewMemNet(NewClock(time.Unix(0, 0)), time.Millisecond)
	var eps []*Endpoint
	for i := range 2000 {
		eps = append(eps, mem.Join(testID(t, uint64(1000+i))))
	}
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(4, 4))
	msgs := 0
	for range 300 {
		var k ring.Key
		for i := range k {
			k[i] = byte(rnd.Uint32())
		}
		got, n, err := eps[rnd.IntN(len(eps))].Trader(ctx, k)
		if err != nil || got != mem.ExactTrader(k) {
			t.Fatalf("lookup found %s, exact %s: %v", got, mem.ExactTrader(k), err)
		}
		msgs += n
	}
	// kad-dht needs tens of queries per lookup at this size (K 20, α 10).
	if per := float64(msgs) / 300; per < 10 || per > 60 {
		t.Fatalf("%.1f queries per lookup", per)
	}
}

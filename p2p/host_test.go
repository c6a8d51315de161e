package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestHostsFormRingAndKeepIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	a, err := NewHost(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	idA := a.ID()
	b, err := NewHost(ctx, Config{Bootstrap: a.FullAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Network().Connectedness(idA); got.String() != "Connected" {
		t.Fatalf("b not connected to a: %v", got)
	}
	// Both DHTs must hold each other, or no key lookup can work.
	deadline := time.Now().Add(10 * time.Second)
	for b.DHT.RoutingTable().Find(idA) == "" || a.DHT.RoutingTable().Find(b.ID()) == "" {
		if time.Now().After(deadline) {
			t.Fatal("routing tables did not fill")
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.Close()
	a2, err := NewHost(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if a2.ID() != idA {
		t.Fatalf("identity not kept: %s != %s", a2.ID(), idA)
	}
}

func TestAllowListRefusesUnknownPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stranger, err := NewHost(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	friend, err := NewHost(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer friend.Close()
	guarded, err := NewHost(ctx, Config{AllowPeers: []peer.ID{friend.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	defer guarded.Close()

	if err := guarded.Connect(ctx, peer.AddrInfo{ID: stranger.ID(), Addrs: stranger.Addrs()}); err == nil {
		t.Fatal("guarded host dialled a peer outside its allow-list")
	}
	// An inbound connection completes the handshake on the dialer's side
	// before the guarded host refuses it, so check that it does not stay.
	_ = stranger.Connect(ctx, peer.AddrInfo{ID: guarded.ID(), Addrs: guarded.Addrs()})
	deadline := time.Now().Add(5 * time.Second)
	for len(guarded.Network().ConnsToPeer(stranger.ID())) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("guarded host kept a connection from a peer outside its allow-list")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := friend.Connect(ctx, peer.AddrInfo{ID: guarded.ID(), Addrs: guarded.Addrs()}); err != nil {
		t.Fatalf("allowed peer refused: %v", err)
	}
}

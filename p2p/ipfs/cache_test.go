package ipfs

import (
	"bytes"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"

	"github.com/faasedge/faasedge/p2p"
)

// holds reports whether n has every block of the DAG under root, without
// asking the network.
func holds(t *testing.T, n *Node, root cid.Cid) bool {
	t.Helper()
	dag := merkledag.NewDAGService(blockservice.New(n.store.Blockstore, nil))
	return merkledag.Walk(testCtx(t), merkledag.GetLinksDirect(dag), root, func(cid.Cid) bool { return true }) == nil
}

func TestCacheBoundPinsAndRefetch(t *testing.T) {
	ctx := testCtx(t)
	src := newNode(t, p2p.Config{})
	inputs := map[string][]byte{}
	cids := map[string]cid.Cid{}
	for _, name := range []string{"pinned", "other", "third"} {
		inputs[name] = patternBytes(name, 1<<20)
		c, err := src.Add(ctx, bytes.NewReader(inputs[name]), 1)
		if err != nil {
			t.Fatal(err)
		}
		cids[name] = c
	}
	const bound = 1536 << 10 // room for one 1 MiB file and half of another
	dir := t.TempDir()
	h, err := p2p.NewHost(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	open := func() *Node {
		n, err := New(ctx, h, WithDataDir(dir), WithCacheSize(bound), WithPeers(src.Host().FullAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	n := open()
	fetch := func(name string) {
		t.Helper()
		mustFetch(t, n, cids[name].String(), inputs[name])
		if s := n.store.Size(); s > bound {
			t.Fatalf("after fetching %s the cache holds %d bytes, bound %d", name, s, bound)
		}
	}

	if err := n.Pin(ctx, cids["pinned"]); err != nil {
		t.Fatal(err)
	}
	fetch("other")
	if !holds(t, n, cids["pinned"]) {
		t.Fatal("pinned DAG lost blocks to eviction")
	}
	if holds(t, n, cids["other"]) {
		t.Fatal("nothing of the unpinned DAG was evicted")
	}
	// Evicted blocks come back from the peer.
	fetch("other")

	// Pins and the size accounting survive a restart.
	size := n.store.Size()
	n.Close()
	n = open()
	if got := n.store.Size(); got != size {
		t.Fatalf("restarted cache counts %d bytes, held %d", got, size)
	}
	pins, err := n.Pins(ctx)
	if err != nil || len(pins) != 1 || !pins[0].Equals(cids["pinned"]) {
		t.Fatalf("pins after restart = %v (err %v)", pins, err)
	}

	// Unpinned, the oldest DAG is the first to go.
	if err := n.Unpin(ctx, cids["pinned"]); err != nil {
		t.Fatal(err)
	}
	fetch("third")
	if holds(t, n, cids["pinned"]) {
		t.Fatal("unpinned DAG was kept past the bound")
	}
	if err := n.Unpin(ctx, cids["pinned"]); err == nil {
		t.Fatal("unpinning a CID that is not pinned succeeded")
	}
	if pins, _ := n.Pins(ctx); len(pins) != 0 {
		t.Fatalf("pins = %v, want none", pins)
	}
}

// TestAddLargerThanCache: an added file exists nowhere else, so none of
// its blocks may be evicted, even while it is imported into a small cache.
func TestAddLargerThanCache(t *testing.T) {
	n := newNode(t, p2p.Config{}, WithCacheSize(300<<10))
	want := patternBytes("large", 1<<20)
	c, err := n.Add(testCtx(t), bytes.NewReader(want), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !holds(t, n, c) {
		t.Fatal("blocks of the added file were evicted")
	}
	mustFetch(t, n, c.String(), want)
}

// TestPinLargerThanCache: a pinned DAG is whole on disk even when it is
// larger than the cache bound.
func TestPinLargerThanCache(t *testing.T) {
	src := newNode(t, p2p.Config{})
	want := patternBytes("pin-large", 1<<20)
	c, err := src.Add(testCtx(t), bytes.NewReader(want), 1)
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, p2p.Config{}, WithCacheSize(300<<10), WithPeers(src.Host().FullAddrs()...))
	if err := n.Pin(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	if !holds(t, n, c) {
		t.Fatal("blocks of the pinned DAG were evicted")
	}
}
